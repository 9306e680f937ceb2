"""Tests for denoise_tf.noise: kinds, specs, the TensorFlow path, NoiseLayer, estimate_sigma."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from denoise_tf import noise

ROOT = Path(__file__).resolve().parents[1]

#: One spec per kind, with some randomness in every one (jpeg draws its quality).
SPECS = {
    "gaussian": "gaussian:sigma=25",
    "poisson": "poisson:peak=30",
    "salt_and_pepper": "salt_and_pepper:amount=0.1",
    "speckle": "speckle:sigma=25",
    "iso": "iso:iso=1600",
    "scribbles": "scribbles",
    "jpeg": "jpeg:quality=5-95",
    "mixed": "mixed",
}
SHAPES = [(24, 32, 1), (24, 32, 3), (3, 24, 32, 1), (3, 24, 32, 3)]


def images(shape, seed=0, low=0.2, high=0.8):
    """Smooth random images in [low, high]: a gradient plus a little texture."""
    rng = np.random.default_rng(seed)
    out = rng.uniform(low, high, size=shape).astype(np.float32)
    return (0.5 * out + 0.5 * out.mean()).astype(np.float32)


def subprocess_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    env.update(extra)
    return env


def block_tensorflow(tmp_path) -> str:
    """A folder whose ``tensorflow`` package raises ImportError, to put first on PYTHONPATH."""
    fake = tmp_path / "blocked" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("tensorflow is blocked in this test")\n')
    return str(fake.parent)


def test_every_kind_is_registered():
    assert set(SPECS) == set(noise.available())


# ---------------------------------------------------------------------------------------------
# Import without TensorFlow


def test_import_and_numpy_path_without_tensorflow(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import denoise_tf.noise as noise
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules), "eager import"
        x = np.full((2, 16, 16, 3), 0.5, np.float32)
        for kind in noise.available():
            out = noise.apply(x, kind, seed=0)
            assert out.shape == x.shape and out.dtype == np.float32
        assert noise.estimate_sigma(noise.apply(x, "gaussian:sigma=20", seed=1)).shape == (2,)
        try:
            import tensorflow
        except ImportError:
            print("NO-TF-OK")
        """
    )
    env = subprocess_env(PYTHONPATH=os.pathsep.join([block_tensorflow(tmp_path), str(ROOT)]))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "NO-TF-OK" in result.stdout


# ---------------------------------------------------------------------------------------------
# Determinism, shapes, dtypes


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_same_seed_same_noise_different_seed_different(kind):
    x = images((4, 32, 32, 3))
    a = noise.apply(x, SPECS[kind], seed=11)
    b = noise.apply(x, SPECS[kind], seed=11)
    c = noise.apply(x, SPECS[kind], seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_gaussian_stream_is_unchanged():
    # Training runs depend on this exact stream: sigmas drawn first, then one normal field.
    x = images((3, 8, 8, 3))
    noisy, level = noise.apply(x, "gaussian:sigma=0-55", seed=[4, 2], return_level=True)
    rng = np.random.default_rng([4, 2])
    sigmas = rng.uniform(0, 55, size=3).astype(np.float32) / 255.0
    expected = x + rng.standard_normal(x.shape, dtype=np.float32) * sigmas[:, None, None, None]
    np.testing.assert_array_equal(noisy, expected)
    np.testing.assert_array_equal(level, sigmas)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kind", sorted(SPECS))
def test_shapes_dtypes_levels(kind, shape):
    x = images(shape)
    noisy, level = noise.apply(x, SPECS[kind], seed=0, return_level=True)
    assert noisy.shape == x.shape and noisy.dtype == np.float32
    assert np.shape(level) == (() if len(shape) == 3 else (shape[0],))
    assert np.all(np.isfinite(noisy)) and np.all(np.asarray(level) >= 0)
    if kind != "gaussian":  # every other kind clips
        assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    # float64 input is accepted and gives the same float32 result
    np.testing.assert_allclose(noise.apply(x.astype(np.float64), SPECS[kind], seed=0), noisy, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Statistics


@pytest.mark.parametrize("sigma", [5, 25, 50])
def test_gaussian_std_matches_sigma(sigma):
    x = images((4, 64, 64, 1))
    noisy, level = noise.apply(x, f"gaussian:sigma={sigma}", seed=sigma, return_level=True)
    residual = noisy - x
    assert abs(residual.std() - sigma / 255) < 0.02 * sigma / 255
    assert abs(residual.mean()) < 0.05 * sigma / 255
    np.testing.assert_allclose(level, sigma / 255, rtol=1e-6)


def test_gaussian_unclipped_by_default_and_clip_option():
    x = np.full((1, 32, 32, 1), 0.02, np.float32)
    assert noise.apply(x, "gaussian:sigma=50", seed=0).min() < 0
    assert noise.apply(x, "gaussian:sigma=50,clip=true", seed=0).min() == 0.0
    shared = noise.apply(np.zeros((16, 16, 3), np.float32), "gaussian:per_channel=false", seed=0)
    np.testing.assert_array_equal(shared[..., 0], shared[..., 2])


def test_blind_gaussian_draws_within_range():
    x = images((64, 32, 32, 1))
    noisy, level = noise.apply(x, "gaussian:sigma=10-40", seed=3, return_level=True)
    assert level.min() >= 10 / 255 and level.max() <= 40 / 255
    assert level.std() > 5 / 255  # really drawn, not fixed
    per_image = (noisy - x).std(axis=(1, 2, 3))
    np.testing.assert_allclose(per_image, level, rtol=0.1)


@pytest.mark.parametrize("amount", [0.01, 0.1, 0.5])
def test_salt_and_pepper_fraction_matches_amount(amount):
    x = images((4, 64, 64, 3))
    noisy = noise.apply(x, f"salt_and_pepper:amount={amount},salt_ratio=0.3", seed=1)
    changed = np.any(noisy != x, axis=-1)
    assert abs(changed.mean() - amount) < 0.1 * amount + 0.002
    salt = np.all(noisy == 1.0, axis=-1) & changed
    assert abs(salt.mean() / changed.mean() - 0.3) < 0.06


@pytest.mark.parametrize("spec", ["speckle:sigma=30", "poisson:peak=20", "poisson:peak=5-50"])
def test_speckle_and_poisson_preserve_mean(spec):
    x = images((4, 64, 64, 3), low=0.3, high=0.7)
    noisy, level = noise.apply(x, spec, seed=2, return_level=True)
    assert abs(noisy.mean() - x.mean()) < 0.005
    assert (noisy - x).std() > 0.02
    if spec.startswith("speckle"):  # std of x * n is x * sigma
        expected = np.sqrt(np.mean(x**2)) * 30 / 255
        assert abs((noisy - x).std() - expected) < 0.05 * expected
    else:  # the level is the std at the mean signal
        np.testing.assert_allclose((noisy - x).std(axis=(1, 2, 3)), level, rtol=0.1)


def test_iso_luminance_variance_is_signal_dependent():
    dark = np.full((2, 64, 64, 1), 0.1, np.float32)
    bright = np.full((2, 64, 64, 1), 0.8, np.float32)
    spec = "iso:a=0.002,b=0,chroma=0"
    std_dark = (noise.apply(dark, spec, seed=0) - dark).std()
    std_bright = (noise.apply(bright, spec, seed=0) - bright).std()
    assert abs(std_bright / std_dark - np.sqrt(8.0)) < 0.15
    assert abs(std_dark - np.sqrt(0.002 * 0.1)) < 0.05 * np.sqrt(0.002 * 0.1)


def test_iso_strength_grows_with_iso_and_level_matches():
    x = images((2, 64, 64, 3), low=0.3, high=0.7)
    stds = []
    for value in (100, 800, 6400):
        noisy, level = noise.apply(x, f"iso:iso={value}", seed=1, return_level=True)
        stds.append((noisy - x).std())
        np.testing.assert_allclose((noisy - x).std(axis=(1, 2, 3)), level, rtol=0.1)
    assert stds[0] < stds[1] < stds[2]


def test_iso_chroma_noise_is_low_frequency_and_colour_only():
    x = np.full((2, 64, 64, 3), 0.5, np.float32)
    residual = noise.apply(x, "iso:a=0,b=0,chroma=20,blur=3", seed=0) - x
    np.testing.assert_allclose(residual.mean(axis=-1), 0.0, atol=1e-5)  # brightness unchanged
    assert abs(residual.std() - 20 / 255) < 0.25 * 20 / 255
    lag1 = np.corrcoef(residual[:, :, :-1, 0].ravel(), residual[:, :, 1:, 0].ravel())[0, 1]
    assert lag1 > 0.8  # blotches, not white noise
    white = noise.apply(x, "iso:a=0,b=0,chroma=20,blur=0", seed=0) - x
    assert abs(np.corrcoef(white[:, :, :-1, 0].ravel(), white[:, :, 1:, 0].ravel())[0, 1]) < 0.1
    gray = np.full((64, 64, 1), 0.5, np.float32)
    np.testing.assert_array_equal(noise.apply(gray, "iso:a=0,b=0,chroma=20", seed=0), gray)


def test_iso_range_is_log_uniform_and_overrides_apply():
    x = np.full((400, 8, 8, 1), 0.5, np.float32)
    _, level = noise.apply(x, "iso:iso=100-6400,chroma=0", seed=0, return_level=True)
    # level^2 = a * 0.5 + b with a = A100 * g, b = B100 * g^2: solve for the gain g = iso / 100
    a2, a1, a0 = noise.ISO_B100, noise.ISO_A100 * 0.5, -level.astype(np.float64) ** 2
    iso = 100 * (-a1 + np.sqrt(a1**2 - 4 * a2 * a0)) / (2 * a2)
    assert iso.min() >= 99 and iso.max() <= 6401
    assert 600 < np.median(iso) < 1100  # log-uniform: median at the geometric mean, 800
    _, level = noise.apply(x[:2], "iso:a=0.001,b=0.0001,chroma=0", seed=0, return_level=True)
    np.testing.assert_allclose(level, np.sqrt(0.001 * 0.5 + 0.0001), rtol=1e-5)


def test_scribbles_draw_black_lines_only():
    x = images((4, 64, 64, 3))
    noisy, level = noise.apply(x, "scribbles", seed=5, return_level=True)
    changed = np.any(noisy != x, axis=-1)
    assert np.all(noisy[changed] == 0.0)
    assert np.all((level > 0) & (level < 0.5))
    covered = np.all(noisy == 0.0, axis=-1)
    np.testing.assert_allclose(covered.mean(axis=(1, 2)), level, atol=1e-6)
    np.testing.assert_array_equal(noise.apply(x, "scribbles:lines=0", seed=5), x)
    white = noise.apply(x, "scribbles:lines=6,thickness=5,value=1", seed=5)
    assert np.mean(np.all(white == 1.0, axis=-1)) > 0.02


def test_jpeg_quality_orders_error_and_outputs_8bit():
    x = images((2, 64, 64, 3))
    errors = [noise.apply(x, f"jpeg:quality={q}", seed=0, return_level=True)[1].mean() for q in (5, 50, 100)]
    assert errors[0] > errors[1] > errors[2]
    noisy = noise.apply(x[0, ..., :1], "jpeg:quality=20", seed=0)
    np.testing.assert_allclose(noisy * 255, np.rint(noisy * 255), atol=1e-4)


def test_mixed_draws_one_to_three_kinds():
    plan = noise.mixed_plan("mixed:kinds=gaussian,salt_and_pepper,speckle", 200, seed=0)
    counts = [len(p) for p in plan]
    assert set(counts) == {1, 2, 3}
    order = ("gaussian", "salt_and_pepper", "speckle")
    for chosen in plan:
        assert len(set(chosen)) == len(chosen)
        assert chosen == sorted(chosen, key=order.index)  # applied in the order of kinds
    assert all(len(p) == 2 for p in noise.mixed_plan("mixed:count=2", 20, seed=1))


def test_mixed_plan_is_what_apply_applies():
    x = images((6, 32, 32, 3))
    spec = "mixed:kinds=salt_and_pepper,scribbles"
    plan = noise.mixed_plan(spec, len(x), seed=9)
    noisy, level = noise.apply(x, spec, seed=9, return_level=True)
    for image, out, chosen in zip(x, noisy, plan):
        changed = np.any(out != image, axis=-1)
        if chosen == ["scribbles"]:
            assert np.all(out[changed] == 0.0)
        values = np.unique(out[changed])
        assert set(values.tolist()) <= {0.0, 1.0}
    np.testing.assert_allclose(level, np.sqrt(((noisy - x) ** 2).mean(axis=(1, 2, 3))), rtol=1e-5)
    only = noise.apply(x, "mixed:kinds=gaussian", seed=9)
    assert only.min() >= 0 and only.max() <= 1  # mixed clips, even Gaussian


def test_mixed_with_every_kind_chains_valid_images():
    # Gaussian (unclipped) before Poisson must not hand it negative intensities.
    x = images((12, 24, 24, 3), low=0.0, high=0.2)
    spec = "mixed:kinds=gaussian,poisson,salt_and_pepper,speckle,iso,scribbles,jpeg,count=1-7"
    noisy = noise.apply(x, spec, seed=0)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert max(len(p) for p in noise.mixed_plan(spec, 12, seed=0)) > 3


# ---------------------------------------------------------------------------------------------
# Specs


@pytest.mark.parametrize(
    "text",
    [
        "gaussian",
        "gaussian:sigma=15",
        "gaussian:sigma=0-55,per_channel=false,clip=true",
        "poisson:peak=2.5-100",
        "salt_and_pepper:amount=0.05,salt_ratio=0.25",
        "speckle:sigma=12.5",
        "iso:iso=3200",
        "iso:iso=100-6400,a=0.001,b=1e-05,chroma=4,blur=0",
        "scribbles:lines=4,length=0.5,thickness=2-7,value=1",
        "jpeg:quality=10-90",
        "mixed:kinds=gaussian,salt_and_pepper,speckle",
        "mixed:kinds=jpeg,count=1",
        "mixed:kinds=iso,jpeg,count=1-2",
    ],
)
def test_spec_round_trip(text):
    spec = noise.parse(text)
    assert noise.parse(str(spec)) == spec
    assert noise.parse(spec) == spec
    assert noise.parse({"kind": spec.kind, **spec.params}) == spec


def test_spec_values():
    assert noise.parse("gaussian:sigma=0-55").params["sigma"] == (0.0, 55.0)
    assert noise.parse("mixed:kinds=gaussian,speckle").params["kinds"] == ("gaussian", "speckle")
    assert noise.parse("mixed:kinds=speckle").params["kinds"] == ("speckle",)
    assert noise.parse({"kind": "mixed", "kinds": "jpeg"}).params["kinds"] == ("jpeg",)
    assert noise.parse("iso").params["a"] is None
    assert noise.parse("iso:a=auto").params["a"] is None
    assert noise.parse("scribbles:lines=3-6").params["lines"] == (3, 6)


def test_available_lists_params_and_ranges():
    kinds = noise.available()
    assert kinds["gaussian"]["sigma"]["low"] == 0 and kinds["gaussian"]["sigma"]["high"] == 255
    assert kinds["salt_and_pepper"]["amount"]["high"] == 1
    assert kinds["jpeg"]["quality"]["low"] == 1 and kinds["jpeg"]["quality"]["high"] == 100
    assert "gaussian" in kinds["mixed"]["kinds"]["choices"] and "mixed" not in kinds["mixed"]["kinds"]["choices"]
    for params in kinds.values():
        for p in params.values():
            assert {"default", "low", "high", "doc", "type", "choices"} <= set(p)
            assert p["doc"]
    text = noise.describe()
    assert all(kind in text for kind in kinds)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: noise.parse("gaussian:sigma=-5"), ValueError, r"'sigma'.*\[0.0, 255.0\]"),
        (lambda: noise.parse({"kind": "gaussian", "sigma": -1}), ValueError, r"'sigma'.*range"),
        (lambda: noise.parse("gaussian:sigma=300"), ValueError, r"'sigma'.*\[0.0, 255.0\]"),
        (lambda: noise.parse("gaussian:sigma=40-10"), ValueError, r"'sigma'.*low <= high"),
        (lambda: noise.parse("salt_and_pepper:amount=1.5"), ValueError, r"'amount'.*\[0.0, 1.0\]"),
        (lambda: noise.parse("salt_and_pepper:amount=-0.1"), ValueError, r"'amount'"),
        (lambda: noise.parse("jpeg:quality=0"), ValueError, r"'quality'.*\[1, 100\]"),
        (lambda: noise.parse("iso:iso=50"), ValueError, r"'iso'.*\[100.0, 6400.0\]"),
        (lambda: noise.parse("blur"), ValueError, r"unknown noise kind 'blur'.*gaussian"),
        (lambda: noise.parse("gaussian:sgima=5"), ValueError, r"unknown parameter 'sgima'.*sigma"),
        (lambda: noise.parse("gaussian:sigma=abc"), ValueError, r"'sigma'.*number"),
        (lambda: noise.parse("gaussian:clip=maybe"), ValueError, r"'clip'.*true/false"),
        (lambda: noise.parse("mixed:kinds=gaussian,mixed"), ValueError, r"'kinds'.*allowed values"),
        (lambda: noise.parse("mixed:kinds="), ValueError, r"'kinds'.*at least one"),
        (lambda: noise.parse("mixed:count=9"), ValueError, r"'count'"),
        (lambda: noise.parse(42), TypeError, r"noise spec must be"),
        (lambda: noise.apply(np.zeros((8, 8)), "gaussian"), ValueError, r"images must be \(H, W, C\)"),
        (lambda: noise.apply(np.zeros((1, 1, 8, 8, 1)), "gaussian"), ValueError, r"images must be"),
        (lambda: noise.apply(np.zeros((8, 8, 2), np.float32), "gaussian"), ValueError, r"1 or 3 channels"),
        (lambda: noise.apply(np.zeros((8, 8, 3), np.uint8), "gaussian"), TypeError, r"float32 in \[0, 1\].*uint8"),
        (lambda: noise.apply(np.zeros((8, 8, 3), np.int32), "gaussian"), TypeError, r"float32"),
        (lambda: noise.estimate_sigma(np.zeros((8, 8, 3), np.uint8)), TypeError, r"uint8"),
        (lambda: noise.estimate_sigma(np.zeros((8, 8), np.float32)), ValueError, r"images must be"),
        (lambda: noise.mixed_plan("gaussian", 3), ValueError, r"'mixed' spec"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# estimate_sigma


@pytest.fixture(scope="module")
def camera():
    data = pytest.importorskip("skimage.data")
    return data.camera().astype(np.float32)[..., None] / 255.0


@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_estimate_sigma_matches_skimage(camera, sigma):
    restoration = pytest.importorskip("skimage.restoration")
    pytest.importorskip("pywt")
    noisy = noise.apply(camera, f"gaussian:sigma={sigma}", seed=sigma)
    ours = noise.estimate_sigma(noisy)
    theirs = 255 * restoration.estimate_sigma(noisy[..., 0])
    assert abs(ours - theirs) < 0.02 * theirs
    assert abs(ours - sigma) < 0.1 * sigma + 1.5  # and it is a good estimate


def test_estimate_sigma_colour_and_batch():
    data = pytest.importorskip("skimage.data")
    restoration = pytest.importorskip("skimage.restoration")
    pytest.importorskip("pywt")
    astronaut = data.astronaut()[::2, ::2].astype(np.float32) / 255.0
    noisy = noise.apply(np.stack([astronaut, astronaut]), "gaussian:sigma=20", seed=0)
    ours = noise.estimate_sigma(noisy)
    assert ours.shape == (2,)
    theirs = 255 * restoration.estimate_sigma(noisy[0], channel_axis=-1, average_sigmas=True)
    assert abs(ours[0] - theirs) < 0.02 * theirs
    assert isinstance(noise.estimate_sigma(noisy[1]), float)


def test_estimate_sigma_is_skimages_to_the_bit():
    """Same transform, same order of sums: saturated flats give the same exact zeros as PyWavelets."""
    restoration = pytest.importorskip("skimage.restoration")
    pytest.importorskip("pywt")
    rng = np.random.default_rng(5)
    for shape in [(1, 9, 1), (2, 2, 1), (3, 7, 3), (31, 40, 1), (64, 33, 3)]:
        clean = np.clip(rng.random(shape) * 3 - 1, 0, 1).astype(np.float32)  # large exact 0 and 1 areas
        for spec in ["gaussian:sigma=0", "gaussian:sigma=15,clip=true", "salt_and_pepper:amount=0.05"]:
            noisy = noise.apply(clean, spec, seed=1)
            theirs = 255 * restoration.estimate_sigma(noisy.astype(np.float64), channel_axis=-1, average_sigmas=True)
            assert noise.estimate_sigma(noisy) == float(theirs), (shape, spec)


# ---------------------------------------------------------------------------------------------
# TensorFlow path


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.mark.parametrize(
    "spec",
    [
        "gaussian:sigma=25",
        "gaussian:sigma=10-40,per_channel=false",
        "poisson:peak=20",
        "salt_and_pepper:amount=0.2",
        "speckle:sigma=30",
        "salt_and_pepper:amount=0.05-0.25,salt_ratio=0.7",
        "iso:iso=3200",
        "iso:iso=400-6400,blur=1",
    ],
)
def test_tf_and_numpy_paths_agree_in_statistics(tf, spec):
    x = images((16, 48, 48, 3), low=0.3, high=0.7)
    a, level_a = noise.apply(x, spec, seed=1, return_level=True)
    b, level_b = noise.tf_apply(x, spec, seed=[1, 2], return_level=True)
    b, level_b = b.numpy(), level_b.numpy()
    assert b.shape == x.shape and b.dtype == np.float32 and level_b.shape == (16,)
    assert not np.array_equal(a, b)
    ra, rb = a - x, b - x
    assert abs(ra.mean() - rb.mean()) < 0.004
    assert abs(ra.std() - rb.std()) < 0.1 * ra.std()
    assert abs(level_a.mean() - level_b.mean()) < 0.15 * level_a.mean()


def test_tf_apply_is_deterministic_and_graph_safe(tf):
    x = images((2, 16, 16, 1))
    for spec in ("gaussian:sigma=0-55", "jpeg:quality=10-90"):
        a = noise.tf_apply(x, spec, seed=[3, 4]).numpy()

        @tf.function(autograph=False)
        def graph(t):
            return noise.tf_apply(t, spec, seed=tf.constant([3, 4]))

        b = graph(tf.constant(x)).numpy()
        c = noise.tf_apply(x, spec, seed=[3, 5]).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    single = noise.tf_apply(x[0], "gaussian", seed=7, return_level=True)
    assert single[0].shape == (16, 16, 1) and single[1].shape == ()


@pytest.mark.parametrize("spec", ["gaussian:sigma=0-55", "salt_and_pepper:amount=0.1", "jpeg:quality=10-90"])
def test_tf_noisy_pairs_deterministic_under_parallel_map(tf, spec):
    clean = np.random.default_rng(0).random((24, 16, 16, 1), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(clean)

    def collect(**kwargs):
        out = {}
        for (noisy, level), image in noise.tf_noisy_pairs(dataset, spec, seed=5, with_level=True, **kwargs):
            index = int(np.argmax([np.array_equal(image.numpy(), c) for c in clean]))
            out[index] = (noisy.numpy(), float(level.numpy()))
        return out

    parallel = collect(num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    serial = collect(num_parallel_calls=1)
    assert sorted(parallel) == list(range(len(clean)))
    for i in range(len(clean)):
        np.testing.assert_array_equal(parallel[i][0], serial[i][0])
        assert parallel[i][1] == serial[i][1]
        expected = noise.tf_apply(clean[i], spec, noise.tf_element_seed(5, i)).numpy()
        np.testing.assert_array_equal(parallel[i][0], expected)
    assert not np.array_equal(parallel[0][0] - clean[0], parallel[1][0] - clean[1])


def test_tf_noisy_pairs_batches(tf):
    clean = images((8, 16, 16, 3))
    dataset = tf.data.Dataset.from_tensor_slices(clean).batch(4)
    (noisy, level), image = next(iter(noise.tf_noisy_pairs(dataset, "gaussian:sigma=5-50", seed=1, with_level=True)))
    assert noisy.shape == (4, 16, 16, 3) and level.shape == (4, 1) and image.shape == (4, 16, 16, 3)


def test_tf_apply_bad_input(tf):
    x = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(TypeError, match="uint8"):
        noise.tf_apply(tf.zeros((8, 8, 3), tf.uint8), "gaussian", seed=0)
    with pytest.raises(ValueError, match="images must be"):
        noise.tf_apply(tf.zeros((8, 8)), "gaussian", seed=0)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        noise.tf_apply(tf.zeros((8, 8, 4)), "gaussian", seed=0)
    with pytest.raises(ValueError, match="seed must be"):
        noise.tf_apply(x, "gaussian", seed=[1, 2, 3])
    with pytest.raises(ValueError, match="'sigma'"):
        noise.tf_apply(x, "gaussian:sigma=-3", seed=0)


# ---------------------------------------------------------------------------------------------
# NoiseLayer, on the TensorFlow backend (in process when it is the backend) and on JAX (subprocess)

LAYER_CHECK = textwrap.dedent(
    """
    import numpy as np
    import keras
    from denoise_tf import noise

    NoiseLayer = noise.NoiseLayer
    to_np = keras.ops.convert_to_numpy
    x = np.full((4, 32, 32, 3), 0.5, np.float32)

    layer = NoiseLayer("gaussian:sigma=25", seed=3)
    np.testing.assert_array_equal(to_np(layer(x, training=False)), x)
    np.testing.assert_array_equal(to_np(layer(x)), x)  # inference by default
    y1, y2 = to_np(layer(x, training=True)), to_np(layer(x, training=True))
    assert abs((y1 - x).std() - 25 / 255) < 0.05 * 25 / 255, (y1 - x).std()
    assert not np.array_equal(y1, y2)  # fresh noise every call
    np.testing.assert_array_equal(to_np(NoiseLayer("gaussian:sigma=25", seed=3)(x, training=True)), y1)

    flat = np.full((16, 32, 32, 1), 0.5, np.float32)
    blind = to_np(NoiseLayer("gaussian:sigma=10-40,per_channel=false", seed=0)(flat, training=True))
    stds = (blind - 0.5).std(axis=(1, 2, 3))
    assert stds.min() > 9 / 255 and stds.max() < 42 / 255 and stds.std() > 3 / 255, stds

    sp = to_np(NoiseLayer("salt_and_pepper:amount=0.2", seed=0)(x, training=True))
    assert abs(np.mean(np.any(sp != x, axis=-1)) - 0.2) < 0.03

    xx = np.random.default_rng(0).random((8, 16, 16, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((None, None, 1)), NoiseLayer("gaussian:sigma=0-55", seed=1)])
    np.testing.assert_array_equal(model.predict(xx, verbose=0), xx)
    if keras.backend.backend() == "tensorflow":  # graph mode with a dynamic batch size
        layers = [NoiseLayer("gaussian:sigma=0-55", seed=1), keras.layers.Conv2D(1, 3, padding="same")]
        model = keras.Sequential([keras.Input((None, None, 1)), *layers])
        model.compile("adam", "mse")
        model.fit(xx, xx, batch_size=4, epochs=1, verbose=0)

    config = layer.get_config()
    assert config["spec"] == "gaussian:sigma=25,per_channel=true,clip=false" and config["seed"] == 3
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, NoiseLayer) and clone.spec == layer.spec and clone.seed == 3
    try:
        NoiseLayer("poisson")
    except NotImplementedError as error:
        assert "gaussian" in str(error)
    else:
        raise AssertionError("poisson should not be supported")
    print("LAYER-OK", keras.backend.backend())
    """
)


def test_noise_layer_tensorflow_backend():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() == "tensorflow":
        exec(LAYER_CHECK, {})
        return
    result = subprocess.run(
        [sys.executable, "-c", LAYER_CHECK],
        env=subprocess_env(KERAS_BACKEND="tensorflow"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LAYER-OK tensorflow" in result.stdout


def test_noise_layer_jax_backend_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    env = subprocess_env(
        KERAS_BACKEND="jax",
        PYTHONPATH=os.pathsep.join([block_tensorflow(tmp_path), str(ROOT)]),
        XLA_FLAGS="--xla_backend_optimization_level=0",  # halves the eager compile time of this test
    )
    result = subprocess.run([sys.executable, "-c", LAYER_CHECK], env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LAYER-OK jax" in result.stdout
