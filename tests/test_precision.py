"""Mixed bfloat16 training: which layers compute in bfloat16, float32 weights, the CPU fallback."""

import keras
import numpy as np
import pytest

from denoise_tf import hardware, models
from denoise_tf.config import TrainConfig
from denoise_tf.train import build_model, train

from test_train import tiny_config

#: Each family with small options, and the names of the layers that must stay float32.
FAMILIES = {
    "dncnn": ({"depth": 4, "filters": 8}, ["conv4", "denoised"]),
    "ffdnet": ({"depth": 4, "filters": 8}, ["conv4", "denoised"]),
    "simple_cnn": ({}, None),
    "sequential_cnn": ({"widths": [8], "channels": 1}, None),
    "dilated_residual": ({"blocks": 1, "filters": 8, "channels": 1}, ["conv_out", "denoised"]),
    "unet": ({"levels": 1, "filters": 8}, ["conv_out", "denoised"]),
}


@pytest.fixture
def bf16_cpu(monkeypatch):
    """Pretend the CPU has bfloat16 instructions, so the mixed policy is used on any machine."""
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: True)


def test_config_checks_the_precision():
    assert TrainConfig().precision == "float32"
    with pytest.raises(ValueError, match="precision"):
        TrainConfig.from_dict({"precision": "float16"})


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_mixed_model_computes_in_bf16_and_outputs_float32(family, bf16_cpu):
    options, float32_layers = FAMILIES[family]
    config = TrainConfig(model=family, model_options=options, precision="mixed_bfloat16")
    model = build_model(config)
    assert keras.config.dtype_policy().name == "float32", "the global policy is restored"
    assert all(w.dtype == "float32" for w in model.weights), "weights stay float32"
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers}
    assert "mixed_bfloat16" in policies.values()
    last = model.layers[-1]
    assert last.dtype_policy.name == "float32"
    for name in float32_layers or []:
        assert policies[name] == "float32", name
    inputs = [np.random.default_rng(0).random((1, 16, 16, 1), dtype=np.float32)]
    if len(model.inputs) == 2:
        inputs.append(np.full((1, 1), 25 / 255, np.float32))
    out = model(inputs if len(inputs) > 1 else inputs[0])
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_bn_statistics_are_float32(bf16_cpu):
    model = build_model(TrainConfig(model="dncnn", model_options={"depth": 4, "filters": 8}, precision="mixed_bfloat16"))
    bn = model.get_layer("bn2")
    assert bn.moving_mean.dtype == "float32" and bn.moving_variance.dtype == "float32"


def test_float32_default_builds_the_same_model_as_before():
    model = build_model(TrainConfig(model="dncnn", model_options={"depth": 4, "filters": 8}))
    reference = models.build("dncnn", depth=4, filters=8)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert [w.shape for w in model.weights] == [w.shape for w in reference.weights]


def test_mixed_training_writes_float32_weights_that_load_anywhere(image_folder, tmp_path, bf16_cpu):
    history, run_dir = train(tiny_config(image_folder, tmp_path, precision="mixed_bfloat16"), verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    plain = models.build("dncnn", depth=3, filters=8)
    plain.load_weights(str(run_dir / "best.weights.h5"))
    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}


def test_precision_may_change_on_resume(image_folder, tmp_path, bf16_cpu):
    train(tiny_config(image_folder, tmp_path, epochs=1), verbose=0)
    history, _ = train(tiny_config(image_folder, tmp_path, epochs=2, precision="mixed_bfloat16"), resume=True, verbose=0)
    assert len(history.history["loss"]) == 1


def test_cpu_without_bf16_says_so_and_keeps_float32(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: False)
    config = TrainConfig(model="dncnn", model_options={"depth": 4, "filters": 8}, precision="mixed_bfloat16")
    with pytest.warns(UserWarning, match="no bfloat16 instructions"):
        model = build_model(config)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
