"""Model registry and model families: shapes, dtypes, receptive fields, saving, TF <-> JAX weights."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from denoise_tf.models import available, build, receptive_field  # noqa: E402
from helpers import randomize  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# Keras' TF backend calls np.array(x) on tensors: NumPy 2 warns about the copy keyword.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

#: Small options for every registered model (fast tests); ``channels`` set per case.
SMALL = {
    "simple_cnn": {},
    "sequential_cnn": {"widths": [8, 8]},
    "dilated_residual": {"blocks": 2, "filters": 8},
    "unet": {"levels": 2, "filters": 4, "batch_norm": True},
    "dncnn": {"depth": 5, "filters": 8},
    "dncnn_opponent": {"depth": 5, "filters": 8},
    "ffdnet": {"depth": 4, "filters": 8},
}
CASES = [(name, channels) for name in sorted(SMALL) for channels in (1, 3)]


def case_id(case):
    return f"{case[0]}-{'gray' if case[1] == 1 else 'color'}"


def make_inputs(name: str, shape, seed: int = 0):
    rng = np.random.default_rng(seed)
    noisy = rng.random(shape, dtype=np.float32)
    if name == "ffdnet":
        return [noisy, np.full((shape[0], 1), 25 / 255, np.float32)]
    return noisy


def small(name: str, channels: int):
    return build(name, channels=channels, **SMALL[name])


def predict(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs, training=False))


# --- registry ---------------------------------------------------------------------------------


def test_all_families_registered():
    names = set(available())
    assert {"simple_cnn", "sequential_cnn", "dilated_residual", "unet", "dncnn", "ffdnet"} <= names
    assert set(SMALL) == names, "add new models to SMALL so every model is tested"
    assert all(available().values()), "every builder needs a one-line docstring"


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model"):
        build("no_such_model")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_unknown_option(name):
    with pytest.raises(ValueError, match="unknown option"):
        build(name, no_such_option=1)


@pytest.mark.parametrize(
    "name, options",
    [
        ("simple_cnn", {"channels": 2}),
        ("simple_cnn", {"widths": []}),
        ("sequential_cnn", {"kernel_size": 4}),
        ("dilated_residual", {"kernel_size": 7}),
        ("dilated_residual", {"blocks": 3, "dilations": [1, 1, 1]}),
        ("dilated_residual", {"activation": "gelu"}),
        ("unet", {"levels": 0}),
        ("unet", {"channels": 4}),
        ("dncnn_opponent", {"channels": 2}),
        ("dncnn_opponent", {"depth": 2}),
    ],
)
def test_bad_option_values(name, options):
    with pytest.raises(ValueError):
        build(name, **options)


# --- shapes, dtypes, sizes --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("size", [(33, 47), (32, 32), (9, 13)])
def test_output_shape_and_dtype(case, size):
    name, channels = case
    model = small(name, channels)
    inputs = make_inputs(name, (2, *size, channels))
    out = model(inputs, training=False)
    assert tuple(out.shape) == (2, *size, channels)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.isfinite(keras.ops.convert_to_numpy(out)).all()


def test_default_models_defaults_and_param_counts():
    expected = {
        # name: (input channels, parameters)
        "simple_cnn": (1, 2737),  # 80 + 1168 + 1160 + 292 + 37
        "sequential_cnn": (3, 77379),  # 1792 + 36928 + 36928 + 1731
        "dilated_residual": (3, 374723),
        "unet": (1, 465953),
        "dncnn": (1, 558017),
        "dncnn_opponent": (3, 669377),  # the gray DnCNN-B's parameters
        "ffdnet": (1, 487812),
    }
    for name, (channels, params) in expected.items():
        model = build(name)
        assert model.inputs[0].shape[-1] == channels, name
        assert model.count_params() == params, (name, model.count_params())


def test_simple_cnn_matches_write_up():
    model = build("simple_cnn")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 16, 8, 4, 1]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" for c in convs)
    assert [c.activation.__name__ for c in convs] == ["relu"] * 4 + ["linear"]


def test_sequential_cnn_is_sequential_with_sigmoid():
    model = build("sequential_cnn")
    assert isinstance(model, keras.Sequential)
    assert model.layers[-1].activation.__name__ == "sigmoid"
    out = predict(model, make_inputs("sequential_cnn", (1, 17, 19, 3)))
    assert out.min() > 0 and out.max() < 1


def test_dilated_residual_write_up_schedule():
    model = build("dilated_residual")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 2 + 2 * 5
    assert [convs[0].dilation_rate[0]] + [c.dilation_rate[0] for c in convs[1:-1:2]] + [convs[-1].dilation_rate[0]] == [
        1, 1, 1, 2, 1, 1, 1,
    ]
    assert all(c.filters == 64 for c in convs[:-1])
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    leaky = build("dilated_residual", activation="leaky_relu", blocks=1)
    assert any(isinstance(layer, keras.layers.LeakyReLU) for layer in leaky.layers)


# --- receptive fields -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, options, expected",
    [
        ("simple_cnn", {}, 1 + 5 * 2),  # five 3x3 convs
        ("sequential_cnn", {}, 1 + 4 * 2),
        ("dncnn", {"depth": 17}, 1 + 17 * 2),
        ("dncnn", {"depth": 20}, 41),
        ("ffdnet", {}, 2 * (1 + 15 * 2)),  # 15 convs at half resolution
        ("ffdnet", {"channels": 3}, 2 * (1 + 12 * 2)),
        # in conv + out conv (d=1) + 2 convs per block with d = 1, 1, 2, 1, 1
        ("dilated_residual", {}, 1 + 2 * (1 + 1 + 2 * (1 + 1 + 2 + 1 + 1))),
        ("dilated_residual", {"kernel_size": 5}, 1 + 4 * (1 + 1 + 2 * 6)),
        # 2 convs at 1 (+4), pool (+1), 2 convs at 2 (+8), pool (+2), 2 convs at 4 (+16),
        # up, 2 convs at 2 (+8), up, 2 convs at 1 (+4), 1x1 conv
        ("unet", {"levels": 2}, 1 + 4 + 1 + 8 + 2 + 16 + 8 + 4),
        ("unet", {"levels": 3}, 96),
    ],
)
def test_receptive_field(name, options, expected):
    assert receptive_field(build(name, **options)) == expected


@pytest.mark.parametrize(
    "name, options",
    [
        ("simple_cnn", {}),
        ("dncnn", {"depth": 6, "filters": 8}),
        ("dilated_residual", {"blocks": 3, "filters": 8, "channels": 1}),
    ],
)
def test_receptive_field_matches_impulse_response(name, options):
    """Changing one input pixel changes exactly a receptive-field-wide square of outputs."""
    model = build(name, **options)
    randomize(model, seed=1)
    rf = receptive_field(model)
    size = rf + 20
    base = make_inputs(name, (1, size, size, 1), seed=2)
    bumped = base.copy()
    bumped[0, size // 2, size // 2, 0] += 0.5
    changed = np.abs(predict(model, bumped) - predict(model, base))[0, :, :, 0] > 0
    rows, cols = np.nonzero(changed)
    assert rows.max() - rows.min() + 1 == rf
    assert cols.max() - cols.min() + 1 == rf


# --- saving and loading -----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_save_load_keras_and_weights(case, tmp_path):
    name, channels = case
    model = small(name, channels)
    randomize(model)
    inputs = make_inputs(name, (2, 21, 15, channels), seed=3)
    expected = predict(model, inputs)

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(predict(loaded, inputs), expected, rtol=0, atol=1e-6)

    model.save_weights(tmp_path / "model.weights.h5")
    fresh = small(name, channels)
    fresh.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_allclose(predict(fresh, inputs), expected, rtol=0, atol=1e-6)


OTHER_BACKEND_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import numpy as np
    import keras

    from keras.src.backend import random as backend_random

    from denoise_tf.models import build

    # Fresh weights are overwritten by load_weights: draw them with NumPy, because compiling
    # JAX's threefry sampler for every weight shape takes seconds each on a busy CPU.
    _rng = np.random.default_rng(0)

    def _draw(shape, *args, dtype=None, **kwargs):
        return _rng.uniform(-0.05, 0.05, shape).astype(dtype or "float32")

    backend_random.uniform = backend_random.normal = backend_random.truncated_normal = _draw

    folder = Path(sys.argv[1])
    cases = json.loads((folder / "cases.json").read_text())
    worst = {}
    for key, (name, channels, options) in cases.items():
        model = build(name, channels=channels, **options)
        model.load_weights(folder / f"{key}.weights.h5")
        noisy = np.load(folder / f"{key}.in.npy")
        inputs = [noisy, np.load(folder / f"{key}.level.npy")] if name == "ffdnet" else noisy
        out = np.asarray(model.predict(inputs, batch_size=len(noisy), verbose=0))
        expected = np.load(folder / f"{key}.out.npy")
        assert out.shape == expected.shape and out.dtype == np.float32, (key, out.shape, out.dtype)
        worst[key] = float(np.abs(out - expected).max())
    print(json.dumps({"backend": keras.backend.backend(), "max_abs_diff": worst}))
    """
)


def test_weights_give_same_outputs_on_the_other_backend(tmp_path):
    """``.weights.h5`` saved on this backend loads on the other (TF <-> JAX) with the same outputs."""
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    if importlib.util.find_spec(other) is None:
        pytest.skip(f"{other} is not installed")
    cases = {}
    for name, channels in CASES:
        key = f"{name}_{channels}"
        cases[key] = (name, channels, SMALL[name])
        model = small(name, channels)
        randomize(model, seed=len(cases))
        inputs = make_inputs(name, (2, 33, 47, channels), seed=len(cases))
        model.save_weights(tmp_path / f"{key}.weights.h5")
        noisy = inputs[0] if name == "ffdnet" else inputs
        np.save(tmp_path / f"{key}.in.npy", noisy)
        if name == "ffdnet":
            np.save(tmp_path / f"{key}.level.npy", inputs[1])
        np.save(tmp_path / f"{key}.out.npy", predict(model, inputs))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "check.py").write_text(OTHER_BACKEND_SCRIPT)

    env = {**os.environ, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(tmp_path / "check.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == other
    assert set(report["max_abs_diff"]) == set(cases)
    for key, diff in report["max_abs_diff"].items():
        assert diff < 1e-5, (key, diff)


def test_dilated_residual_starts_at_the_identity():
    rng = np.random.default_rng(0)
    x = rng.random((2, 24, 24, 3), dtype=np.float32)
    model = build("dilated_residual", blocks=2, filters=8)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), x, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(x, training=True)), x, atol=1e-6)
    random_start = build("dilated_residual", blocks=2, filters=8, output_init="glorot_uniform")
    assert np.sqrt(np.mean((np.asarray(random_start(x, training=True)) - x) ** 2)) > 0.01


def test_dncnn_opponent_is_the_gray_dncnn_on_each_opponent_channel():
    """Gray DnCNN weights load unchanged; the output is the gray net run on Y, C1, C2, mapped back to RGB."""
    from denoise_tf import colour
    from denoise_tf.warmstart import copy_weights

    gray = randomize(build("dncnn", depth=5, filters=8, channels=1), seed=4)
    model = build("dncnn_opponent", depth=5, filters=8)
    assert copy_weights(model, gray) == {"copied": 8, "inflated": 0, "skipped_source": 0}
    rng = np.random.default_rng(5)
    image = rng.random((2, 19, 23, 3), dtype=np.float32)
    channels = colour.forward(image)
    expected = colour.inverse(np.concatenate([predict(gray, channels[..., i : i + 1]) for i in range(3)], axis=-1))
    np.testing.assert_allclose(predict(model, image), expected, atol=2e-6)
    # frozen statistics: BatchNorm runs as at inference while training, and holds no trainable weights
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(image, training=True)), expected, atol=2e-6)
    assert not any(layer.trainable_weights for layer in model.layers if "bn" in layer.name)
    # the gray build holds the same weights and is the gray DnCNN
    gray_build = build("dncnn_opponent", depth=5, filters=8, channels=1)
    gray_build.set_weights(model.get_weights())
    np.testing.assert_allclose(predict(gray_build, channels[..., :1]), predict(gray, channels[..., :1]), atol=1e-6)


def test_opponent_luminance_is_the_shared_gray_dncnn_on_the_same_weights():
    """A gray image repeated to RGB is its own opponent luminance: one pass of the shared net gives it."""
    from denoise_tf.models.dncnn import opponent_luminance

    model = randomize(build("dncnn_opponent", depth=5, filters=8), seed=6)
    luminance = opponent_luminance(model)
    assert luminance.inputs[0].shape[-1] == 1 and luminance.outputs[0].shape[-1] == 1
    assert {id(w) for w in luminance.weights} == {id(w) for w in model.weights}  # the same variables
    assert receptive_field(luminance) == receptive_field(model)
    gray = np.random.default_rng(7).random((2, 19, 23, 1), dtype=np.float32)
    inner = keras.Model(model.input, model.get_layer("denoised_gray").output)  # (3 * N, H, W, 1), channel-major
    np.testing.assert_allclose(predict(luminance, gray), predict(inner, np.repeat(gray, 3, axis=-1))[:2], atol=1e-6)
    randomize(model, seed=8)  # weights loaded into the colour model later are seen
    np.testing.assert_allclose(predict(luminance, gray), predict(inner, np.repeat(gray, 3, axis=-1))[:2], atol=1e-6)
    assert opponent_luminance(build("dncnn", depth=5, filters=8, channels=3)) is None
    assert opponent_luminance(build("dncnn_opponent", depth=5, filters=8, channels=1)) is None


def test_opponent_chroma_stride_denoises_the_chroma_phases_with_the_same_weights():
    from denoise_tf import colour
    from denoise_tf.models.dncnn import opponent_luminance

    plain = build("dncnn_opponent", depth=4, filters=8)
    shuffled = build("dncnn_opponent", depth=4, filters=8, chroma_stride=3)
    shuffled.set_weights(plain.get_weights())
    gray = opponent_luminance(shuffled)
    x = np.random.default_rng(0).random((1, 11, 13, 3)).astype(np.float32)
    run = lambda a: np.asarray(gray(a[None, ..., None]))[0, ..., 0]  # noqa: E731
    opponent = colour.forward(x[0])
    padded = np.pad(opponent[..., 1:], ((0, 1), (0, 2), (0, 0)), mode="symmetric")  # 12 x 15
    chroma = np.empty_like(padded)
    for i in range(3):
        for j in range(3):
            for c in range(2):
                chroma[i::3, j::3, c] = run(padded[i::3, j::3, c])
    expected = colour.inverse(np.concatenate([run(opponent[..., 0])[..., None], chroma[:11, :13]], axis=-1))
    np.testing.assert_allclose(np.asarray(shuffled(x))[0], expected, atol=1e-5)
    # the luminance path is the plain model's
    np.testing.assert_allclose(np.asarray(gray(opponent[None, ..., :1])), np.asarray(opponent_luminance(plain)(opponent[None, ..., :1])), atol=1e-6)
