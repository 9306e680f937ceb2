"""BatchNorm folding, TFLite / SavedModel / ONNX export and running exports through denoise()."""

import os
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("export needs the TensorFlow backend", allow_module_level=True)
pytest.importorskip("tensorflow")

from denoise_tf import export as ex  # noqa: E402
from denoise_tf.inference import NeuralDenoiser, tile_geometry, denoise  # noqa: E402
from denoise_tf.models import build  # noqa: E402


def _randomize_bn(model, seed=0):
    """Non-trivial BN statistics, so that folding has something to fold."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.1, n), rng.uniform(0.5, 2.0, n)]
            )
    return model


def _inputs(model, x, sigma=25.0):
    return [x, np.full((len(x), 1), sigma / 255, np.float32)] if len(model.inputs) == 2 else x


def _smooth(h=48, w=56, channels=1):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = 0.5 + 0.25 * np.sin(x / 7.0) * np.cos(y / 9.0) + 0.15 * (x / w - 0.5)
    return np.repeat(image[..., None], channels, axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def dncnn():
    return _randomize_bn(build("dncnn", depth=5, filters=16), seed=1)


@pytest.fixture(scope="module")
def dncnn_tflite(dncnn, tmp_path_factory):
    path = ex.export(dncnn, tmp_path_factory.mktemp("export") / "dncnn.tflite")
    return ex.load_exported(path)


@pytest.fixture(scope="module")
def ffdnet():
    return _randomize_bn(build("ffdnet", depth=5, filters=16), seed=2)


# --------------------------------------------------------------------------------------------
# BatchNorm folding


@pytest.mark.parametrize(
    "name, options",
    [
        ("dncnn", {"depth": 5, "filters": 16}),
        ("dncnn", {"depth": 5, "filters": 16, "channels": 3}),
        ("ffdnet", {"depth": 5, "filters": 16}),
        ("dilated_residual", {"blocks": 2, "filters": 8, "batch_norm": True}),
    ],
)
def test_fold_batchnorm_matches(name, options):
    model = _randomize_bn(build(name, **options))
    folded = ex.fold_batchnorm(model)
    assert not ex.has_batchnorm(folded) and ex.has_batchnorm(model)
    assert folded.name == model.name and folded.count_params() < model.count_params()
    x = np.random.default_rng(0).random((2, 24, 30, model.inputs[0].shape[-1]), dtype=np.float32)
    expected = np.asarray(model(_inputs(model, x), training=False))
    np.testing.assert_allclose(np.asarray(folded(_inputs(model, x), training=False)), expected, atol=1e-5)


def test_fold_batchnorm_rejects_bn_after_activation():
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn_after_relu")(x)
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(x))
    _randomize_bn(model)
    with pytest.raises(ValueError, match="bn_after_relu"):
        ex.fold_batchnorm(model)
    kept = ex.fold_batchnorm(model, strict=False)
    x = np.random.default_rng(0).random((1, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(kept(x)), np.asarray(model(x)), atol=1e-6)


def test_fold_batchnorm_sequential():
    model = keras.Sequential(
        [keras.Input((None, None, 1)), keras.layers.Conv2D(4, 3, padding="same", use_bias=False),
         keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.Conv2D(1, 3, padding="same")]
    )
    _randomize_bn(model)
    folded = ex.fold_batchnorm(model)
    x = np.random.default_rng(0).random((1, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(folded(x)), np.asarray(model(x)), atol=1e-5)
    assert not ex.has_batchnorm(folded)


# --------------------------------------------------------------------------------------------
# TFLite float


def test_tflite_float_matches_keras(dncnn, dncnn_tflite):
    x = np.random.default_rng(3).random((2, 33, 47, 1), dtype=np.float32)
    np.testing.assert_allclose(dncnn_tflite(x), np.asarray(dncnn(x, training=False)), atol=1e-4)
    meta = dncnn_tflite.metadata
    assert meta["format"] == "tflite" and meta["quantize"] is None and meta["batchnorm_folded"]
    assert dncnn_tflite.name == dncnn.name and dncnn_tflite.geometry == tile_geometry(dncnn) == (1, 5)


def test_a_fresh_interpreter_runs_without_the_delegate_info_line(dncnn, tmp_path, capfd):
    """TFLite's C++ "Created TensorFlow Lite XNNPACK delegate" line stays out of stderr (notebooks
    show it as output); the process's own stderr still works afterwards."""
    path = ex.export(dncnn, tmp_path / "quiet.tflite")
    capfd.readouterr()
    ex.load_exported(path)(np.zeros((1, 16, 16, 1), np.float32))
    os.write(2, b"stderr after the first run\n")
    err = capfd.readouterr().err
    assert "XNNPACK" not in err and "stderr after the first run" in err


def test_tflite_through_denoise(dncnn, dncnn_tflite):
    rng = np.random.default_rng(4)
    for image, options in [
        (rng.random((40, 40, 1), dtype=np.float32), {}),
        (rng.random((2, 45, 51, 1), dtype=np.float32), {}),  # odd size, a batch
        (rng.random((64, 75, 1), dtype=np.float32), {"tile": 32, "overlap": 16, "batch_size": 3}),
        (rng.random((37, 41, 1), dtype=np.float32), {"passes": 2, "self_ensemble": True}),
    ]:
        expected = denoise(dncnn, image, **options)
        got = denoise(dncnn_tflite, image, **options)
        assert got.shape == image.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, expected, atol=1e-4)
    image = rng.random((64, 64, 1), dtype=np.float32)
    tiled = NeuralDenoiser(dncnn_tflite, tile=40, overlap=20, runner="predict_on_batch")
    assert tiled.name == dncnn.name
    np.testing.assert_allclose(tiled(image), denoise(dncnn, image), atol=1e-4)  # overlap >= 4 radius: exact
    colour = rng.random((16, 16, 3), dtype=np.float32)  # a gray model on a colour image: same path
    np.testing.assert_allclose(denoise(dncnn_tflite, colour), denoise(dncnn, colour), atol=1e-4)


def test_ffdnet_two_inputs(ffdnet, tmp_path):
    exported = ex.load_exported(ex.export(ffdnet, tmp_path / "ffdnet.tflite"))
    assert [i.shape for i in exported.inputs] == [(None, None, None, 1), (None, 1)]
    assert exported.geometry == tile_geometry(ffdnet)
    rng = np.random.default_rng(5)
    x = rng.random((2, 31, 40, 1), dtype=np.float32)
    np.testing.assert_allclose(exported(_inputs(ffdnet, x)), np.asarray(ffdnet(_inputs(ffdnet, x))), atol=1e-4)
    image = rng.random((61, 70, 1), dtype=np.float32)
    for options in ({}, {"tile": 32, "overlap": 8}):
        np.testing.assert_allclose(
            denoise(exported, image, sigma=[30], **options), denoise(ffdnet, image, sigma=30, **options), atol=1e-4
        )
    with pytest.raises(ValueError, match="sigma"):
        denoise(exported, image)


# --------------------------------------------------------------------------------------------
# Quantized exports


def test_int8_and_float16(dncnn, dncnn_tflite, tmp_path):
    calibration = [_smooth(64, 64), _smooth(40, 72)]
    int8 = ex.load_exported(ex.export(dncnn, tmp_path / "int8.tflite", quantize="int8", calibration=calibration,
                                      calibration_patches=16))
    assert int8.quantize == "int8" and int8.metadata["calibration"]["patches"] == 16
    assert int8.metadata["calibration"]["agreement_db"] >= ex.INT8_MIN_AGREEMENT_DB
    assert (tmp_path / "int8.tflite").stat().st_size < 0.5 * dncnn_tflite.path.stat().st_size
    loss = ex.quantization_loss(dncnn, int8, [_smooth()], sigma=25)
    assert set(loss) >= {"psnr_keras", "psnr_exported", "difference", "psnr_between"}
    print(f"int8 PSNR loss on a smooth image: {loss}")
    assert abs(loss["difference"]) < 0.5 and loss["psnr_between"] > 35  # measured: 0.01 dB, 53 dB
    fp16 = ex.load_exported(ex.export(dncnn, tmp_path / "fp16.tflite", quantize="float16"))
    assert abs(ex.quantization_loss(dncnn, fp16, [_smooth()], sigma=25)["difference"]) < 0.01
    float_loss = ex.quantization_loss(dncnn, dncnn_tflite, _smooth()[None], sigma=25)
    assert abs(float_loss["difference"]) < 1e-3 and float_loss["images"] == 1


def test_int8_export_that_disagrees_with_the_float_model_is_refused_and_writes_nothing(dncnn, tmp_path, monkeypatch):
    calibration = [_smooth(64, 64)]
    agreement = ex.load_exported(ex.export(dncnn, tmp_path / "ok.tflite", quantize="int8", calibration=calibration,
                                           calibration_patches=8)).metadata["calibration"]["agreement_db"]
    # The same file measured against a floor above its agreement: refused, and the file there is kept.
    monkeypatch.setattr(ex, "INT8_MIN_AGREEMENT_DB", agreement + 1.0)
    target = tmp_path / "kept.tflite"
    target.write_bytes(b"the user's file")
    with pytest.raises(ValueError, match=r"agrees with the float model to only [0-9.]+ dB.*quantize='dynamic'.*Nothing was written"):
        ex.export(dncnn, target, quantize="int8", calibration=calibration, calibration_patches=8, overwrite=True)
    assert target.read_bytes() == b"the user's file"
    assert not list(tmp_path.glob("*.tmp"))


# --------------------------------------------------------------------------------------------
# Other formats


def test_saved_model_roundtrip(ffdnet, tmp_path):
    exported = ex.load_exported(ex.export(ffdnet, tmp_path / "ffdnet_sm", format="saved_model"))
    assert exported.format == "saved_model" and exported.geometry == tile_geometry(ffdnet)
    image = np.random.default_rng(6).random((33, 36, 1), dtype=np.float32)
    np.testing.assert_allclose(denoise(exported, image, sigma=15), denoise(ffdnet, image, sigma=15), atol=1e-5)


def test_onnx_roundtrip(dncnn, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    exported = ex.load_exported(ex.export(dncnn, tmp_path / "dncnn.onnx", format="onnx"))
    image = np.random.default_rng(7).random((33, 36, 1), dtype=np.float32)
    expected = denoise(dncnn, image, tile=24, overlap=8)
    np.testing.assert_allclose(denoise(exported, image, tile=24, overlap=8), expected, atol=1e-4)


# --------------------------------------------------------------------------------------------
# Bad inputs


def test_bad_arguments(dncnn, tmp_path):
    with pytest.raises(ValueError, match=r"unknown export format 'tfjs'.*tflite"):
        ex.export(dncnn, tmp_path / "m", format="tfjs")
    with pytest.raises(ValueError, match=r"unknown quantize 'int4'.*int8"):
        ex.export(dncnn, tmp_path / "m.tflite", quantize="int4")
    with pytest.raises(ValueError, match="format='tflite' only"):
        ex.export(dncnn, tmp_path / "m", format="saved_model", quantize="float16")
    with pytest.raises(ValueError, match="calibration"):
        ex.export(dncnn, tmp_path / "m.tflite", quantize="int8")
    with pytest.raises(ValueError, match=r"\(H, W, 1\)"):
        ex.export(dncnn, tmp_path / "m.tflite", quantize="int8", calibration=[np.zeros((32, 32, 3), np.float32)])
    with pytest.raises(FileNotFoundError, match="no exported model"):
        ex.load_exported(tmp_path / "missing.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="TFL3"):
        ex.load_exported(tmp_path / "junk.tflite")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="saved_model.pb"):
        ex.load_exported(tmp_path / "folder")
    assert not (tmp_path / "m.tflite").exists()


def test_never_overwrites(dncnn, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ex.export(dncnn, path)
    assert path.read_bytes() == b"precious"
    ex.export(dncnn, path, overwrite=True)
    assert path.read_bytes()[4:8] == b"TFL3"
    (tmp_path / "notes").mkdir()
    with pytest.raises(FileExistsError, match="not a SavedModel"):
        ex.export(dncnn, tmp_path / "notes", format="saved_model", overwrite=True)


def test_fold_batchnorm_nested_model_is_reported():
    inner_in = keras.Input((None, None, 4))
    inner = keras.Model(inner_in, keras.layers.BatchNormalization(name="inner_bn")(inner_in), name="inner")
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, inner(keras.layers.Conv2D(4, 3, padding="same")(inputs)))
    with pytest.raises(ValueError, match="inner_bn"):
        ex.fold_batchnorm(model)
    x = np.random.default_rng(0).random((1, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(ex.fold_batchnorm(model, strict=False)(x)), np.asarray(model(x)), atol=1e-6)


# --------------------------------------------------------------------------------------------
# The fast path: cached exports per weights, chosen by backend


def test_weights_digest_follows_the_weights(dncnn):
    twin = build("dncnn", depth=5, filters=16)
    twin.set_weights(dncnn.get_weights())
    assert ex.weights_digest(twin) == ex.weights_digest(dncnn)
    weights = twin.get_weights()
    weights[0] = weights[0] + 1e-3
    twin.set_weights(weights)
    assert ex.weights_digest(twin) != ex.weights_digest(dncnn)


def test_cached_export_matches_keras_and_is_made_once(dncnn, tmp_path, monkeypatch):
    fast = ex.cached_export(dncnn, name="small", folder=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[0].startswith("small-") and names[1] == names[0] + ".sha256"  # no partial file
    noisy = np.clip(_smooth(40, 52) + np.random.default_rng(3).normal(0, 0.1, (40, 52, 1)), 0, 1).astype(np.float32)
    np.testing.assert_allclose(denoise(dncnn, noisy, runner=fast.numpy_call), denoise(dncnn, noisy), atol=1e-4)
    assert ex.export_difference(dncnn, fast) <= ex.EXACT_ATOL
    monkeypatch.setattr(ex, "export", lambda *a, **k: pytest.fail("exported again"))
    assert ex.cached_export(dncnn, name="small", folder=tmp_path).path == fast.path  # from the cache


def test_a_changed_cached_export_is_exported_again(monkeypatch, tmp_path, dncnn):
    made, loaded = [], []

    def fake_export(model, path, overwrite=False, **kwargs):
        made.append(path)
        Path(path).write_bytes(b"the real export")

    monkeypatch.setattr(ex, "export", fake_export)
    monkeypatch.setattr(ex, "load_exported", lambda path, name=None, num_threads=2: loaded.append(Path(path).read_bytes()) or "model")
    monkeypatch.setattr(ex, "export_difference", lambda model, exported: 0.0)
    assert ex.cached_export(dncnn, name="m", folder=tmp_path) == "model"
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[1] == files[0] + ".sha256"  # the export and its hash, no partial file
    cached = tmp_path / files[0]
    ex.cached_export(dncnn, name="m", folder=tmp_path)
    assert len(made) == 1  # intact: used from the cache
    cached.write_bytes(b"something else")  # changed behind the package's back
    with pytest.warns(UserWarning, match="does not match its sha256"):
        ex.cached_export(dncnn, name="m", folder=tmp_path)
    assert len(made) == 2 and cached.read_bytes() == b"the real export"
    assert b"something else" not in loaded  # the changed file was never loaded
    (tmp_path / (files[0] + ".sha256")).unlink()  # no hash: not trusted either
    with pytest.warns(UserWarning, match="missing"):
        ex.cached_export(dncnn, name="m", folder=tmp_path)
    assert len(made) == 3 and (tmp_path / (files[0] + ".sha256")).is_file()


def test_fast_model_auto_takes_the_export_only_where_it_is_exact_and_available(dncnn, tmp_path, monkeypatch):
    assert dncnn.count_params() < ex.FAST_MIN_PARAMS
    assert ex.fast_model(dncnn, "auto", folder=tmp_path) is None  # small: Keras, nothing exported
    assert ex.fast_model(dncnn, "keras", folder=tmp_path) is None and not list(tmp_path.iterdir())
    forced = ex.fast_model(dncnn, "tflite", name="d", folder=tmp_path)
    assert forced.format == "tflite"
    monkeypatch.setattr(ex, "FAST_MIN_PARAMS", 0)
    assert ex.fast_model(dncnn, "auto", name="d", folder=tmp_path).path == forced.path
    assert ex.fast_model(forced, "auto") is None  # an export runs as it is
    with pytest.raises(ValueError, match="backend must be one of"):
        ex.fast_model(dncnn, "xla")
    # not exact: auto keeps Keras without a word and caches nothing; tflite refuses
    other = _randomize_bn(build("dncnn", depth=5, filters=16), seed=7)
    monkeypatch.setattr(ex, "export_difference", lambda model, exported: 0.5)
    empty = tmp_path / "inexact"
    assert ex.fast_model(other, "auto", folder=empty) is None
    assert not list(empty.glob("*.tflite"))
    with pytest.raises(ValueError, match="differs from the Keras model by 0.5"):
        ex.fast_model(other, "tflite", folder=empty)
    # unavailable (another Keras backend, no TensorFlow): auto falls back, tflite says why
    monkeypatch.setattr(ex, "tflite_unavailable", lambda: "the TFLite path needs TensorFlow")
    assert ex.fast_model(dncnn, "auto", name="d", folder=tmp_path) is None
    with pytest.raises(ValueError, match="cannot run here: the TFLite path needs TensorFlow"):
        ex.fast_model(dncnn, "tflite", folder=tmp_path)
