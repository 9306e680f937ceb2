"""Neural inference: compiled call, batching, tiling + blending, multi-pass, self-ensemble, FFDNet level,
colour images through gray models, non-finite input."""

from __future__ import annotations

import gc
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from denoise_tf import classical, inference  # noqa: E402
from denoise_tf.metrics import psnr  # noqa: E402
from denoise_tf.models import build  # noqa: E402
from denoise_tf.transforms import augment, deaugment  # noqa: E402
from helpers import randomize, run_on_backend  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


_MODELS: dict = {}


def model(name="dncnn", channels=1, seed=0, **options):
    """Small models, built once per session (each build + trace costs time)."""
    key = (name, channels, seed, tuple(sorted(options.items())))
    if key not in _MODELS:
        defaults = {"dncnn": {"depth": 3, "filters": 8}, "ffdnet": {"depth": 3, "filters": 8}}[name]
        _MODELS[key] = randomize(build(name, channels=channels, **{**defaults, **options}), seed)
    return _MODELS[key]


def image(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def raw(m, x, sigma=None):
    """Reference: the eager model call on a batch, clipped."""
    inputs = x if sigma is None else [x, np.full((len(x), 1), sigma / 255.0, np.float32)]
    return np.clip(np.asarray(m(inputs, training=False)), 0, 1)


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "colour"])
def test_single_and_batch_match_the_model(channels):
    m = model(channels=channels)
    batch = image((3, 21, 30, channels))
    out = inference.denoise(m, batch, batch_size=2)
    assert out.shape == batch.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out, raw(m, batch), atol=1e-5)
    one = inference.denoise(m, batch[1])
    assert one.shape == batch.shape[1:]
    np.testing.assert_allclose(one, out[1], atol=1e-5)


def test_compiled_call_matches_predict_on_batch_and_is_cached():
    m = model()
    x = image((2, 19, 23, 1), seed=1)
    compiled = inference.denoise(m, x)
    by_predict = inference.denoise(m, x, runner="predict_on_batch")
    np.testing.assert_allclose(compiled, by_predict, atol=1e-5)
    assert inference.compiled_call(m) is inference.compiled_call(m)
    with pytest.raises(ValueError, match="runner"):
        inference.denoise(m, x, runner="eager")


def test_compiled_cache_sees_new_weights_and_dies_with_the_model():
    m = randomize(build("dncnn", depth=3, filters=4), seed=1)
    x = image((1, 16, 16, 1))
    before = inference.denoise(m, x)
    randomize(m, seed=2)
    np.testing.assert_allclose(inference.denoise(m, x), raw(m, x), atol=1e-5)
    assert not np.allclose(before, raw(m, x))
    key = id(m)
    assert key in inference._COMPILED
    del m
    gc.collect()
    assert key not in inference._COMPILED


def test_tiled_is_exact_when_the_overlap_covers_the_receptive_field():
    # depth 3: receptive radius 3 <= overlap // 4, so the blend only uses pixels a tile computes exactly
    m = model(channels=3)
    x = image((1, 75, 90, 3), seed=2)
    full = inference.denoise(m, x)
    tiled = inference.denoise(m, x, tile=32, overlap=16, batch_size=3)
    assert inference.tile_count(75, 90, 32, 16) > 6
    np.testing.assert_allclose(tiled, full, atol=2e-6)
    rect = inference.denoise(m, x, tile=(24, 40), overlap=12)
    np.testing.assert_allclose(rect, full, atol=2e-6)


def test_tiled_dncnn17_close_to_untiled():
    """DnCNN-S layout (depth 17, receptive radius 17) with random BN statistics, tile 64, overlap 32."""
    m = model(depth=17, filters=16, seed=3)
    x = image((97, 130, 1), seed=3) * 0.5 + 0.25
    full = inference.denoise(m, x)
    tiled = inference.denoise(m, x, tile=64, overlap=32)
    assert psnr(full, tiled) > 45
    assert np.abs(tiled - full).max() < 0.02
    interior = np.abs(tiled - full)[17:-17, 17:-17]
    assert interior.mean() < 1e-3


def test_image_smaller_than_tile_runs_whole():
    m = model()
    x = image((20, 30, 1), seed=4)
    np.testing.assert_array_equal(inference.denoise(m, x, tile=64), inference.denoise(m, x))
    assert inference.tile_count(20, 30, 64) == 1


def test_ffdnet_needs_sigma_and_uses_it():
    m = model("ffdnet")
    x = image((2, 33, 41, 1), seed=5)
    with pytest.raises(ValueError, match="pass sigma"):
        inference.denoise(m, x)
    out = inference.denoise(m, x, sigma=25)
    np.testing.assert_allclose(out, raw(m, x, 25), atol=1e-5)
    assert not np.allclose(out, inference.denoise(m, x, sigma=50), atol=1e-4)
    per_image = inference.denoise(m, x, sigma=[10, 50])
    np.testing.assert_allclose(per_image[1], inference.denoise(m, x[1], sigma=50), atol=1e-5)
    with pytest.raises(ValueError, match="one per image"):
        inference.denoise(m, x, sigma=[10, 20, 30])


def test_ffdnet_tiles_on_the_even_grid():
    m = model("ffdnet", channels=3, depth=4)
    x = image((67, 81, 3), seed=6)
    full = inference.denoise(m, x, sigma=30)
    tiled = inference.denoise(m, x, sigma=30, tile=40, overlap=20)
    assert psnr(full, tiled) > 60
    starts = [s for s, _ in inference._positions(81, 40, 20, 2)]
    assert all(s % 2 == 0 for s in starts) and inference._positions(81, 40, 20, 2)[-1][1] == 81


def test_blend_weights_partition_unity():
    for length, tile, overlap, align in [(150, 64, 32, 1), (201, 40, 20, 2), (77, 32, 0, 1), (100, 40, 16, 1)]:
        positions = inference._positions(length, tile, overlap, align)
        total = np.zeros(length)
        for (start, end), weights in zip(positions, inference._axis_weights(positions, margin=overlap // 4)):
            total[start:end] += weights
        np.testing.assert_allclose(total, 1.0, atol=1e-12)
    ramp = inference._ramp(64, 32, 32, margin=8)
    assert ramp[:8].max() == 0 and ramp[24:40].min() == 1 and np.all(np.diff(ramp[:24]) >= 0)
    np.testing.assert_allclose(ramp, ramp[::-1])


def test_multi_pass_and_self_ensemble():
    m = model()
    x = image((1, 24, 28, 1), seed=7)
    once = inference.denoise(m, x)
    np.testing.assert_allclose(inference.denoise(m, x, passes=2), inference.denoise(m, once), atol=1e-5)
    ensemble = inference.denoise(m, x, self_ensemble=True)
    outputs = [np.asarray(m(np.ascontiguousarray(augment(x, k)), training=False)) for k in range(8)]
    manual = np.mean([deaugment(out, k) for k, out in enumerate(outputs)], axis=0)  # average, then clip
    np.testing.assert_allclose(ensemble, np.clip(manual, 0, 1), atol=1e-5)
    tiled = inference.denoise(m, x, self_ensemble=True, tile=24, overlap=12)  # margin 3 = radius: exact
    np.testing.assert_allclose(tiled, ensemble, atol=1e-5)


def test_progress_bar(capsys):
    m = model()
    inference.denoise(m, image((40, 40, 1)), tile=16, overlap=4, progress=True)
    err = capsys.readouterr().err
    assert "denoise" in err and "tile" in err
    inference.denoise(m, image((40, 40, 1)), tile=16, overlap=4)
    assert capsys.readouterr().err == ""


def test_bad_inputs():
    m = model()
    with pytest.raises(ValueError, match=r"model expects 1 channel \(gray\), got 2"):
        inference.denoise(m, image((16, 16, 2)))
    with pytest.raises(ValueError, match=r"model expects 3 channels \(colour\), got 4"):
        inference.denoise(model(channels=3), image((16, 16, 4)))
    with pytest.raises(ValueError, match=r"color_mode must be one of \['opponent'.*got 'lab'"):
        inference.denoise(m, image((16, 16, 3)), color_mode="lab")
    with pytest.raises(ValueError, match="shape"):
        inference.denoise(m, image((16, 16)))
    with pytest.raises(TypeError, match="float32"):
        inference.denoise(m, np.zeros((16, 16, 1), np.uint8))
    with pytest.raises(ValueError, match="overlap"):
        inference.denoise(m, image((16, 16, 1)), tile=16, overlap=9)
    with pytest.raises(ValueError, match="tile"):
        inference.denoise(m, image((16, 16, 1)), tile=0)
    with pytest.raises(ValueError, match="passes"):
        inference.denoise(m, image((16, 16, 1)), passes=0)
    with pytest.raises(ValueError, match="batch_size"):
        inference.denoise(m, image((16, 16, 1)), batch_size=0)


# --------------------------------------------------------------------------------------------
# Non-finite input


@pytest.mark.parametrize("value", [np.nan, -np.inf, np.inf], ids=["nan", "-inf", "+inf"])
def test_non_finite_input_is_refused_with_a_count(value):
    m = model()
    x = image((16, 16, 1), seed=20)
    x[3, 4, 0] = value
    with pytest.raises(ValueError, match=r"image has 1 non-finite pixel of 256 \((NaN|\+inf|-inf)\): expected finite float32 values in \[0, 1\]"):
        inference.denoise(m, x)
    batch = image((2, 8, 8, 3), seed=21)
    batch[0, 1, 1, :] = value  # one pixel, all three channels
    batch[1, 5, 2, 1] = value
    with pytest.raises(ValueError, match=r"image has 2 non-finite pixels of 128"):
        inference.denoise(m, batch)
    with pytest.raises(ValueError, match="non-finite"):
        inference.NeuralDenoiser(model("ffdnet"), sigma=25).denoise(x)


# --------------------------------------------------------------------------------------------
# Colour images through gray models


def manual_colour(m, x, mode, sigma=None):
    """Reference: the eager model on each gray channel (at its own level), back to RGB, clipped.

    ``opponent`` / ``rgb``: the transform's three channels; ``opponent-rgb-luma``: the luminance
    of R, G, B denoised one by one with the two denoised opponent chroma channels.
    """
    from denoise_tf import colour

    def run(gray, level):
        inputs = gray[None] if level is None else [gray[None], np.full((1, 1), level / 255.0, np.float32)]
        return np.asarray(m(inputs, training=False))[0, ..., 0]

    if mode == "opponent-rgb-luma":
        rgb_out = np.stack([run(x[..., c : c + 1], sigma) for c in range(3)], axis=-1)
        chroma = colour.forward(x, "opponent")
        outs = [rgb_out.mean(axis=-1)] + [run(chroma[..., c : c + 1], sigma) for c in (1, 2)]
        return np.clip(colour.inverse(np.stack(outs, axis=-1), "opponent"), 0, 1)
    channels = colour.forward(x, mode)
    factors = colour.noise_factors(mode)
    outs = [run(channels[..., c : c + 1], None if sigma is None else sigma * factors[c]) for c in range(3)]
    return np.clip(colour.inverse(np.stack(outs, axis=-1), mode), 0, 1)


@pytest.mark.parametrize("mode", ["opponent", "rgb", "opponent-rgb-luma"])
def test_gray_model_denoises_colour_in_the_chosen_space(mode):
    m = model()
    x = image((3, 20, 26, 3), seed=22)
    out = inference.denoise(m, x, color_mode=mode, batch_size=4)
    assert out.shape == x.shape and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    for k in range(3):
        np.testing.assert_allclose(out[k], manual_colour(m, x[k], mode), atol=2e-5)
    np.testing.assert_allclose(inference.denoise(m, x[1], color_mode=mode), out[1], atol=1e-6)


def test_colour_default_is_opponent_and_rgb_is_the_plain_per_channel_path():
    from denoise_tf import colour

    m = model()
    x = image((20, 26, 3), seed=23)
    assert colour.DEFAULT == "opponent" and inference.resolve_color_mode(None) == "opponent"
    np.testing.assert_array_equal(inference.denoise(m, x), inference.denoise(m, x, color_mode="opponent"))
    per_channel = inference.denoise(m, np.ascontiguousarray(np.moveaxis(x, -1, 0)[..., None]))  # R, G, B as 3 gray images
    np.testing.assert_allclose(inference.denoise(m, x, color_mode="rgb"), np.moveaxis(per_channel[..., 0], 0, -1), atol=1e-6)
    assert not np.allclose(inference.denoise(m, x), inference.denoise(m, x, color_mode="rgb"), atol=1e-3)
    assert inference.colour_path(m, 3) == "opponent" and inference.colour_path(m, 3, "rgb") == "rgb"
    assert inference.colour_path(m, 1) is None and inference.colour_path(model(channels=3), 3) is None


def test_level_taking_gray_model_gets_each_channels_own_level():
    m = model("ffdnet")
    x = image((2, 18, 22, 3), seed=24)
    out = inference.denoise(m, x, sigma=[30, 12])
    np.testing.assert_allclose(out[0], manual_colour(m, x[0], "opponent", sigma=30), atol=2e-5)
    np.testing.assert_allclose(out[1], manual_colour(m, x[1], "opponent", sigma=12), atol=2e-5)
    hybrid = inference.denoise(m, x[0], sigma=30, color_mode="opponent-rgb-luma")  # five channels, all at sigma
    np.testing.assert_allclose(hybrid, manual_colour(m, x[0], "opponent-rgb-luma", sigma=30), atol=2e-5)
    # the luminance level is sigma / sqrt(3): the per-channel path (sigma everywhere) gives another result
    wrong = manual_colour(m, x[0], "rgb", sigma=30)
    assert not np.allclose(out[0], wrong, atol=1e-3)


def test_colour_path_tiles_passes_and_self_ensemble():
    m = model()
    x = image((1, 40, 52, 3), seed=25)
    full = inference.denoise(m, x)
    np.testing.assert_allclose(inference.denoise(m, x, tile=24, overlap=12), full, atol=2e-6)  # margin 3 = radius
    np.testing.assert_allclose(inference.denoise(m, x, passes=2), inference.denoise(m, full), atol=1e-5)
    ensemble = inference.denoise(m, x, self_ensemble=True)
    from denoise_tf import colour

    t = colour.forward(x, "opponent")
    gray = np.moveaxis(t, -1, 1).reshape(3, 40, 52, 1)
    manual = np.mean([deaugment(np.asarray(m(np.ascontiguousarray(augment(gray, k)), training=False)), k) for k in range(8)], axis=0)
    expected = np.clip(colour.inverse(np.moveaxis(manual.reshape(1, 3, 40, 52), 1, -1), "opponent"), 0, 1)
    np.testing.assert_allclose(ensemble, expected, atol=2e-5)


def test_colour_model_takes_a_gray_image():
    m = model(channels=3)
    x = image((18, 20, 1), seed=26)
    out = inference.denoise(m, x)
    assert out.shape == x.shape
    rgb_out = np.asarray(m(np.repeat(x, 3, axis=-1)[None], training=False))[0]  # converted to gray, then clipped
    expected = np.clip(rgb_out @ np.array([0.299, 0.587, 0.114], np.float32), 0, 1)
    np.testing.assert_allclose(out[..., 0], expected, atol=1e-5)


def test_neural_denoiser_shares_the_classical_interface():
    m = model()
    x = image((20, 20, 1), seed=8)
    neural = inference.NeuralDenoiser(m, tile=16, overlap=4)
    assert neural.name == m.name and "NeuralDenoiser" in repr(neural)
    np.testing.assert_array_equal(neural.denoise(x), inference.denoise(m, x, tile=16, overlap=4))
    for denoiser in (neural, classical.get("median")):
        out = denoiser.denoise(x)
        assert out.shape == x.shape and out.dtype == np.float32 and isinstance(denoiser.name, str)
    with pytest.raises(ValueError, match="unknown option"):
        inference.NeuralDenoiser(m, tiles=16)
    with pytest.raises(ValueError, match="color_mode must be one of"):
        inference.NeuralDenoiser(m, color_mode="hsv")
    colour_in = image((20, 20, 3), seed=8)
    per_channel = inference.NeuralDenoiser(m, color_mode="rgb")
    np.testing.assert_array_equal(per_channel.denoise(colour_in), inference.denoise(m, colour_in, color_mode="rgb"))
    np.testing.assert_array_equal(neural.denoise(colour_in), inference.denoise(m, colour_in, tile=16, overlap=4))
    with pytest.raises(ValueError, match="pass sigma"):
        inference.NeuralDenoiser(model("ffdnet"))
    assert inference.NeuralDenoiser(model("ffdnet"), sigma=15, name="ffdnet-15").name == "ffdnet-15"


@pytest.mark.slow
def test_large_image_bounded_memory():
    """A 3000x4000 photo in 512 tiles: NumPy peak stays a few image sizes (~10 s)."""
    import tracemalloc

    m = model()
    x = image((3000, 4000, 1), seed=9)
    tracemalloc.start()
    out = inference.denoise(m, x, tile=512, overlap=32, batch_size=4)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.shape == x.shape
    assert peak < 6 * x.nbytes, peak / x.nbytes
    # a crop across tile seams equals the untiled model on that crop plus context
    context = inference.denoise(m, x[984:1316, 1984:2316])[16:-16, 16:-16]
    np.testing.assert_allclose(out[1000:1300, 2000:2300], context, atol=2e-6)


@pytest.mark.slow
def test_shipped_dncnn_s25_tiles_above_45_db():
    """Trained DnCNN-S (sigma 25) if the shipped weights exist: tiled vs untiled > 45 dB."""
    weights = REPO / "denoise_tf" / "weights" / "dncnn-s25.weights.h5"
    if not weights.exists():
        pytest.skip(f"{weights} not present")
    from skimage import data

    m = build("dncnn", depth=17, channels=1)
    m.load_weights(weights)
    clean = (data.camera()[:192, :192, None] / 255.0).astype(np.float32)
    noisy = (clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape)).astype(np.float32)
    full = inference.denoise(m, noisy)
    tiled = inference.denoise(m, noisy, tile=96, overlap=32)
    assert psnr(full, tiled) > 45
    assert psnr(clean, full) > psnr(clean, np.clip(noisy, 0, 1)) + 8


OTHER_BACKEND = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from denoise_tf import inference
    from denoise_tf.models import build
    folder = sys.argv[1]
    report = {"backend": keras.backend.backend()}
    for name, options in [("dncnn", {"depth": 3, "filters": 8}), ("ffdnet", {"depth": 3, "filters": 8})]:
        m = build(name, channels=1, **options)
        m.load_weights(folder + f"/{name}.weights.h5")
        x = np.load(folder + "/x.npy")
        sigma = 25 if name == "ffdnet" else None
        full, tiled = np.load(folder + f"/{name}.full.npy"), np.load(folder + f"/{name}.tiled.npy")
        outputs = {
            "compiled": (inference.denoise(m, x, sigma=sigma), full),
            "predict_on_batch": (inference.denoise(m, x, sigma=sigma, runner="predict_on_batch"), full),
            "tiled": (inference.denoise(m, x, sigma=sigma, tile=32, overlap=16, batch_size=4), tiled),
        }
        report[name] = {key: float(np.abs(a - b).max()) for key, (a, b) in outputs.items()}
    print(json.dumps(report))
    """
)


@pytest.mark.slow
def test_inference_on_the_other_backend(tmp_path):
    """Compiled call, predict_on_batch and tiling on the other backend (~30 s: JAX compiles per shape)."""
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    pytest.importorskip(other)
    x = image((2, 45, 52, 1), seed=10)
    np.save(tmp_path / "x.npy", x)
    for name in ("dncnn", "ffdnet"):
        m = model(name)
        m.save_weights(tmp_path / f"{name}.weights.h5")
        sigma = 25 if name == "ffdnet" else None
        np.save(tmp_path / f"{name}.full.npy", inference.denoise(m, x, sigma=sigma))
        np.save(tmp_path / f"{name}.tiled.npy", inference.denoise(m, x, sigma=sigma, tile=32, overlap=16, batch_size=4))
    report = run_on_backend(other, OTHER_BACKEND, tmp_path)
    for name in ("dncnn", "ffdnet"):
        for runner, diff in report[name].items():
            assert diff < 1e-5, (name, runner, diff)


# --------------------------------------------------------------------------------------------
# The inference path: TFLite export or Keras, chosen by backend


def _needs_tflite():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TFLite path needs the TensorFlow backend")
    pytest.importorskip("tensorflow")


@pytest.mark.parametrize("name, sigma", [("dncnn", None), ("ffdnet", 25.0)])
def test_tflite_backend_equals_keras_within_1e4(name, sigma, tmp_path, monkeypatch):
    """Whole, tiled, colour path, passes and self-ensemble: the export gives the Keras outputs."""
    _needs_tflite()
    from denoise_tf import zoo

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    m = model(name, depth=4, filters=16)
    gray, rgb = image((2, 40, 44, 1), seed=5), image((37, 50, 3), seed=6)
    for options in ({}, {"tile": 32, "overlap": 16}, {"passes": 2, "self_ensemble": True}):
        fast = zoo.neural_denoiser(m, "small", sigma=sigma, backend="tflite", **options)
        slow = zoo.neural_denoiser(m, "small", sigma=sigma, backend="keras", **options)
        assert (fast.backend, slow.backend) == ("tflite", "keras")
        for x in (gray, rgb):
            np.testing.assert_allclose(fast.denoise(x), slow.denoise(x), atol=1e-4)
    assert len(list((tmp_path / "denoise_tf" / "exports").glob("*.tflite"))) == 1  # one export per weights


def test_the_default_backend_comes_from_the_environment(monkeypatch, tmp_path):
    from denoise_tf import zoo

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(zoo.ENV_BACKEND, raising=False)
    assert zoo.default_backend() == "auto"
    m = model("dncnn")
    assert zoo.neural_denoiser(m, "tiny").backend == "keras"  # a small model: its export would not pay
    monkeypatch.setenv(zoo.ENV_BACKEND, "keras")
    assert zoo.default_backend() == "keras"
    monkeypatch.setenv(zoo.ENV_BACKEND, "fast")
    with pytest.raises(ValueError, match="DENOISE_TF_BACKEND must be one of"):
        zoo.default_backend()
    with pytest.raises(ValueError, match="backend must be one of"):
        zoo.neural_denoiser(m, "tiny", backend="xla")


@pytest.mark.slow
def test_evaluate_rows_agree_between_the_paths(tmp_path, monkeypatch):
    """Shipped DnCNN-S on three crops: the TFLite rows equal the Keras rows (PSNR within 1e-4 dB)."""
    _needs_tflite()
    from denoise_tf import datasets, evaluate, pretrained, zoo

    if "dncnn-s25" not in pretrained.available():
        pytest.skip("dncnn-s25 weights not shipped")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images, names = datasets.load("samples", color=False, limit=3)
    for clean, image_name in zip(images, names):
        datasets.save_image(tmp_path / "set" / f"{image_name}.png", clean[:96, :112])
    rows = {}
    for backend in ("keras", "tflite"):
        monkeypatch.setenv(zoo.ENV_BACKEND, backend)
        rows[backend] = evaluate.evaluate("dncnn-s25", str(tmp_path / "set"), sigmas=[25])
    assert len(rows["keras"]) == 3
    for a, b in zip(rows["keras"], rows["tflite"]):
        assert (a["model"], a["image"]) == (b["model"], b["image"])  # the path leaves the row names alone
        assert abs(a["psnr"] - b["psnr"]) < 1e-4 and abs(a["ssim"] - b["ssim"]) < 1e-5, (a, b)
        assert f"{a['psnr']:.2f}" == f"{b['psnr']:.2f}"


FALLBACK = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from denoise_tf import export, zoo
    from denoise_tf.models import build
    model = build("dncnn", depth=4, filters=64, channels=1)
    assert model.count_params() >= export.FAST_MIN_PARAMS
    denoiser = zoo.neural_denoiser(model, "big", backend="auto")
    out = denoiser.denoise(np.full((24, 24, 1), 0.5, np.float32))
    try:
        zoo.neural_denoiser(model, "big", backend="tflite")
        refused = ""
    except ValueError as error:
        refused = str(error)
    print(json.dumps({"backend": keras.backend.backend(), "path": denoiser.backend, "shape": list(out.shape), "refused": refused}))
    """
)


@pytest.mark.slow
def test_auto_falls_back_to_keras_on_the_jax_backend(tmp_path):
    pytest.importorskip("jax")
    report = run_on_backend("jax", FALLBACK, tmp_path)
    assert report["path"] == "keras" and report["shape"] == [24, 24, 1]
    assert "needs the TensorFlow backend of Keras" in report["refused"]


def test_the_command_line_says_which_path_ran(tmp_path, monkeypatch, capsys):
    import json

    from denoise_tf import __main__ as cli, datasets, zoo

    _needs_tflite()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(zoo.ENV_BACKEND, raising=False)
    path = tmp_path / "tiny.keras"
    model("dncnn").save(path)
    source = datasets.save_image(tmp_path / "in.png", image((24, 28, 1), seed=2))
    for backend, path_name in (("keras", "keras (tf.function)"), ("tflite", "tflite (XNNPACK float32")):
        assert cli.main(["denoise", str(source), str(tmp_path / f"{backend}.png"), "--model", str(path), "--backend", backend]) == 0
        assert f"note: tiny runs on {path_name}" in capsys.readouterr().out
    assert zoo.ENV_BACKEND not in os.environ  # the option holds for that command only
    assert cli.main(["evaluate", "--model", str(path), "--dataset", str(tmp_path), "--sigma", "25", "--json", "--backend", "keras"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"][0]["model"] == str(path)  # stdout stays JSON; the path goes to stderr
    assert "note: tiny runs on keras (tf.function)" in captured.err
    monkeypatch.setenv(zoo.ENV_BACKEND, "xla")
    with pytest.raises(SystemExit, match="error: DENOISE_TF_BACKEND must be one of"):
        cli.main(["denoise", str(source), str(tmp_path / "x.png"), "--model", str(path)])
