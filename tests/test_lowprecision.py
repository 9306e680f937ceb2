"""The bfloat16 inference path (denoise_tf.lowprecision): where it is chosen, where never, how close it is."""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import randomize  # noqa: E402

from denoise_tf import evaluate, export, hardware, lowprecision, pretrained, zoo  # noqa: E402
from denoise_tf.inference import compiled_call  # noqa: E402
from denoise_tf.models import build  # noqa: E402

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the bf16 path runs on TensorFlow")


def tiny(name: str = "dncnn", seed: int = 0, **options):
    defaults = {"dncnn": {"depth": 4, "filters": 8}, "ffdnet": {"depth": 4, "filters": 8}, "dncnn_opponent": {"depth": 4, "filters": 8}}
    return randomize(build(name, **{**defaults[name], **options}), seed)


def image(shape, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + 0.2 * rng.standard_normal(shape), 0, 1).astype(np.float32)


@pytest.fixture
def bf16_cpu(monkeypatch):
    """This CPU counts as one with bfloat16 instructions (the probe is patched)."""
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: True)
    monkeypatch.delenv(zoo.ENV_BACKEND, raising=False)


@pytest.fixture
def plain_cpu(monkeypatch):
    """This CPU counts as one without bfloat16 instructions."""
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: False)
    monkeypatch.delenv(zoo.ENV_BACKEND, raising=False)


@pytest.fixture
def keras_float32(monkeypatch):
    """The float32 path of ``auto`` is Keras (no TFLite export is made: fast, and exact)."""
    monkeypatch.setattr(export, "tflite_unavailable", lambda: "not in these tests")


# --------------------------------------------------------------------------------------------
# The copy


def test_the_inner_layers_compute_in_bf16_and_the_ends_in_float32():
    model = tiny("dncnn")  # noisy, conv1, conv2, bn2, relu2, conv3, bn3, relu3, conv4, denoised
    assert lowprecision.FLOAT32_CONVS == 2
    assert lowprecision.inner_layers(model) == ["conv2", "bn2", "relu2"]
    assert lowprecision.inner_layers(model, 1) == ["conv2", "bn2", "relu2", "conv3", "bn3", "relu3"]
    assert lowprecision.inner_layers(model, float32_first=False) == ["conv1", "conv2", "bn2", "relu2"]
    copy = lowprecision.bf16_model(model)
    policies = {layer.name: layer.dtype_policy.name for layer in copy.layers}
    assert not any(name.startswith("bn") for name in policies)  # BatchNorm folded into the convolutions
    assert policies["conv2"] == policies["relu2"] == "mixed_bfloat16"
    assert {policies[n] for n in ("noisy", "conv1", "conv3", "relu3", "conv4", "denoised")} == {"float32"}
    assert lowprecision.bf16_model(model) is copy  # made once per model
    assert lowprecision.bf16_model(model, 1) is not copy
    ffdnet = lowprecision.inner_layers(tiny("ffdnet", depth=5))
    assert "conv2" in ffdnet and not {"unshuffle", "level_map", "conv1", "conv4", "conv5", "denoised"} & set(ffdnet)


def test_outputs_are_within_the_bound_of_bf16_rounding():
    """Deterministic inputs and weights; the bound comes from bfloat16's 8 significant bits.

    Each of the ``k`` bfloat16 convolutions rounds its input and its weights to bfloat16
    (relative error up to ``EPSILON / 2`` each) and its output again (one more): to first order
    ``3 * EPSILON / 2`` of relative error per layer, ``k`` layers in a row, on a noise estimate
    of size ``|noise|``; the input, the first and the last two convolutions and the subtraction
    stay float32.
    The bound is twice that, ``k * 3 * EPSILON * max|noise|`` (a dot product's rounding error is
    relative to the sum of its terms' sizes, which cancellation can put above the sum). The
    difference must also be far above float32 rounding (``2**-16``): bfloat16 ran.
    """
    for name, sigma in (("dncnn", None), ("ffdnet", 25.0)):
        model = tiny(name, seed=3, depth=6)
        x = image((2, 40, 44, 1), seed=4)
        inputs = (x, np.full((2, 1), sigma / 255, np.float32)) if sigma else (x,)
        reference = compiled_call(model)(*inputs)
        fast = lowprecision.LowPrecisionModel(model, name="tiny")
        out = fast.numpy_call(*inputs)
        assert out.dtype == np.float32 and out.shape == reference.shape
        convs = sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) - 1 - lowprecision.FLOAT32_CONVS
        noise = np.abs(reference - x).max() if name == "dncnn" else np.abs(reference).max()
        bound = convs * 3 * lowprecision.EPSILON * noise
        difference = float(np.abs(out - reference).max())
        assert 2.0**-16 < difference <= bound, (name, difference, bound)
        np.testing.assert_array_equal(fast.numpy_call(*inputs), out)  # deterministic


# --------------------------------------------------------------------------------------------
# Where it is chosen


def test_auto_takes_it_only_where_the_cpu_has_bf16_and_the_caller_allows(monkeypatch, keras_float32):
    model = tiny("dncnn")
    monkeypatch.setattr(lowprecision, "adopted", lambda name, path=None: name == "tiny")
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: True)
    assert zoo.neural_denoiser(model, "tiny", backend="auto", lower_precision=True).backend == "bf16"
    assert zoo.neural_denoiser(model, "tiny", backend="auto").backend == "keras"  # evaluation, the demo...
    assert zoo.neural_denoiser(model, "other", backend="auto", lower_precision=True).backend == "keras"  # not adopted
    assert zoo.neural_denoiser(model, "tiny", backend="keras", lower_precision=True).backend == "keras"
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: False)
    assert zoo.neural_denoiser(model, "tiny", backend="auto", lower_precision=True).backend == "keras"  # nothing changes


def test_make_denoiser_allows_it_for_shipped_weights_only(monkeypatch, bf16_cpu, keras_float32, tmp_path):
    monkeypatch.setattr(lowprecision, "adopted", lambda name, path=None: True)
    path = tmp_path / "tiny.keras"
    tiny("dncnn").save(path)
    assert zoo.make_denoiser(str(path), lower_precision=True).backend == "keras"  # a .keras file: never measured
    if "dncnn-s25" in pretrained.available():
        assert zoo.make_denoiser("dncnn-s25", lower_precision=True).backend == "bf16"
        assert zoo.make_denoiser("dncnn-s25").backend == "keras"


def test_the_registry_decides_per_weights_sha256(tmp_path):
    names = [n for n in ("dncnn-s25", "ffdnet-gray") if n in pretrained.available()]
    if len(names) < 2:
        pytest.skip("needs two shipped weights")
    good, other = names
    registry = tmp_path / "lowprecision.json"
    entries = {
        good: {"weights_sha256": pretrained.entry(good)["sha256"], "psnr_cost_db": 0.004, "speedup": 6.0},
        other: {"weights_sha256": "0" * 64, "psnr_cost_db": 0.001, "speedup": 9.0},  # other weights
    }
    registry.write_text(json.dumps({"models": entries}))
    assert lowprecision.adopted(good, registry) and not lowprecision.adopted(other, registry)
    assert lowprecision.measurement(other, registry) is None
    assert not lowprecision.adopted("simple-cnn-s25", registry)  # not measured
    assert lowprecision.verdict({"psnr_cost_db": 0.02, "speedup": 6.0})[0] is False  # must be under 0.02 dB
    assert lowprecision.verdict({"psnr_cost_db": -0.01, "speedup": 0.9})[0] is False  # must be faster
    assert lowprecision.verdict({"psnr_cost_db": 0.019, "speedup": 1.1})[0] is True
    assert not lowprecision.adopted(good, tmp_path / "missing.json")


def test_the_shipped_registry_names_shipped_weights():
    for name, entry in lowprecision.registry().get("models", {}).items():
        assert name in pretrained.available(), name
        assert len(entry["weights_sha256"]) == 64 and "command" in entry
        assert {"psnr_cost_db", "speedup", "seconds_float32", "seconds_bf16", "psnr"} <= set(entry)


# --------------------------------------------------------------------------------------------
# Where it is never chosen, and where it cannot run


def test_evaluate_never_takes_it(monkeypatch, bf16_cpu, keras_float32, tmp_path):
    """Under auto, with the CPU and the weights adopted, evaluation rows equal the Keras rows."""
    from denoise_tf import datasets

    if "dncnn-s25" not in pretrained.available():
        pytest.skip("dncnn-s25 weights not shipped")
    monkeypatch.setattr(lowprecision, "adopted", lambda name, path=None: True)
    datasets.save_image(tmp_path / "set" / "a.png", image((40, 48, 1), seed=1))
    auto = evaluate.evaluate("dncnn-s25", str(tmp_path / "set"), sigmas=[25])
    monkeypatch.setenv(zoo.ENV_BACKEND, "keras")
    exact = evaluate.evaluate("dncnn-s25", str(tmp_path / "set"), sigmas=[25])
    assert abs(auto[0]["psnr"] - exact[0]["psnr"]) < 1e-4
    monkeypatch.setenv(zoo.ENV_BACKEND, "bf16")
    with pytest.raises(ValueError, match="evaluation runs float32 only"):
        evaluate.evaluate("dncnn-s25", str(tmp_path / "set"), sigmas=[25])
    evaluate.evaluate("median", str(tmp_path / "set"), sigmas=[25])  # classical methods: no inference path


def test_forcing_it_without_bf16_instructions_is_refused(plain_cpu, tmp_path, capsys):
    from denoise_tf import __main__ as cli, datasets

    model = tiny("dncnn")
    with pytest.raises(ValueError, match="no bfloat16 instructions"):
        zoo.neural_denoiser(model, "tiny", backend="bf16")
    path = tmp_path / "tiny.keras"
    model.save(path)
    source = datasets.save_image(tmp_path / "in.png", image((24, 28, 1), seed=2))
    with pytest.raises(SystemExit) as stop:
        cli.main(["denoise", str(source), str(tmp_path / "out.png"), "--model", str(path), "--backend", "bf16"])
    assert stop.value.code == cli.EXIT_REFUSED
    assert "error: backend='bf16' cannot run here: this CPU has no bfloat16 instructions" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--model", str(path), "--dataset", str(tmp_path), "--backend", "bf16"])  # not a choice


def test_the_command_line_says_bf16(bf16_cpu, tmp_path, capsys):
    from denoise_tf import __main__ as cli, datasets

    assert (cli.BACKENDS, cli.EXACT_BACKENDS) == (export.BACKENDS, export.EXACT_BACKENDS)
    assert "bf16" not in cli.EXACT_BACKENDS

    path = tmp_path / "tiny.keras"
    tiny("dncnn").save(path)
    source = datasets.save_image(tmp_path / "in.png", image((24, 28, 1), seed=2))
    assert cli.main(["denoise", str(source), str(tmp_path / "out.png"), "--model", str(path), "--backend", "bf16"]) == 0
    assert "note: tiny runs on bf16 (Keras mixed_bfloat16" in capsys.readouterr().out
    assert (tmp_path / "out.png").is_file()


def test_a_colour_model_on_bf16_runs_gray_images_on_its_luminance_in_bf16(bf16_cpu):
    model = tiny("dncnn_opponent", depth=5)
    fast = zoo.neural_denoiser(model, "colour", backend="bf16")
    exact = zoo.neural_denoiser(model, "colour", backend="keras")
    gray, rgb = image((32, 36, 1), seed=7), image((32, 36, 3), seed=8)
    assert fast.backend == "bf16" and fast.gray_denoiser().backend == "bf16"
    for x in (gray, rgb):
        difference = np.abs(fast.denoise(x) - exact.denoise(x)).max()
        assert 2.0**-16 < difference < 2 * 3 * lowprecision.EPSILON, difference  # 2 bfloat16 convs, |noise| < 1


def test_the_web_page_takes_it_for_adopted_shipped_weights(monkeypatch, bf16_cpu, keras_float32):
    from denoise_tf import web

    if "dncnn-s25" not in pretrained.available():
        pytest.skip("dncnn-s25 weights not shipped")
    monkeypatch.setattr(lowprecision, "adopted", lambda name, path=None: name == "dncnn-s25")
    web._export.cache_clear()
    try:
        assert web.backend_label("dncnn-s25") == "bf16"
        out = web.run_denoiser("dncnn-s25", image((40, 40, 1), seed=9))
        assert out.shape == (40, 40, 1)
        monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: False)
        web._export.cache_clear()
        assert web.backend_label("dncnn-s25") == "keras"
    finally:
        web._export.cache_clear()
