"""The web demo's handler functions (no browser, no server): inputs, noise, denoisers, scores."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from denoise_tf import __main__ as cli
from denoise_tf import classical, datasets, inference, metrics, noise, pretrained, web


@pytest.fixture()
def gray():
    return web.load_sample("camera.png")[:48, :64]


def test_menus_are_listed_from_the_registries():
    assert web.denoiser_names() == list(pretrained.available()) + sorted(classical.available())
    labels = dict((name, label) for label, name in web.denoiser_choices())
    assert all(labels[n].endswith("(neural)") for n in pretrained.available())
    assert web.noise_choices() == [web.NO_NOISE] + list(noise.available())
    assert "camera.png" in web.sample_names()


def test_strength_knob_and_noise_spec():
    assert web.strength_param("gaussian")["name"] == "sigma"
    assert (web.strength_param("gaussian")["low"], web.strength_param("gaussian")["high"]) == (0.0, 255.0)
    assert web.strength_param("poisson")["high"] == 300.0  # 10x the default, not 1e5
    assert web.strength_param("mixed") is None and web.strength_param(web.NO_NOISE) is None
    assert web.noise_spec("gaussian", 30) == "gaussian:sigma=30"
    assert web.noise_spec("salt_and_pepper", 0.1) == "salt_and_pepper:amount=0.1"
    assert web.noise_spec("gaussian", 999) == "gaussian:sigma=255"  # clamped to the allowed range
    assert web.noise_spec(web.NO_NOISE, 3) is None and web.noise_spec("mixed", None) == "mixed"
    for kind in noise.available():  # every spec the page can make parses
        p = web.strength_param(kind)
        noise.parse(web.noise_spec(kind, p["default"] if p else None))
    with pytest.raises(web.InputError, match="unknown noise kind"):
        web.strength_param("blur")


def test_sigma_knob_only_for_models_that_use_it():
    if "ffdnet-gray" in pretrained.available():
        assert web.denoiser_info("ffdnet-gray").level_input
    if "dncnn-b" in pretrained.available():
        assert not web.denoiser_info("dncnn-b").uses_sigma
    assert web.denoiser_info("bm3d").uses_sigma and not web.denoiser_info("median").uses_sigma


def test_pixel_limit_from_env_and_argument(monkeypatch):
    monkeypatch.delenv(web.ENV_MAX_PIXELS, raising=False)
    assert web.max_pixels() == web.DEFAULT_MAX_PIXELS
    monkeypatch.setenv(web.ENV_MAX_PIXELS, "50e6")
    assert web.max_pixels() == 50_000_000
    assert web.max_pixels(1000) == 1000
    monkeypatch.setenv(web.ENV_MAX_PIXELS, "lots")
    with pytest.raises(ValueError, match=web.ENV_MAX_PIXELS):
        web.max_pixels()


def test_bad_uploads_give_clear_messages(tmp_path, gray):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = datasets.save_image(tmp_path / "good.png", gray)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(web.InputError, match="notes.txt: not a readable image"):
        web.load_image(text)
    with pytest.raises(web.InputError, match="empty"):
        web.load_image(empty)
    with pytest.raises(web.InputError, match="truncated.png: not a readable image"):
        web.load_image(truncated)
    with pytest.raises(web.InputError, match=f"64x48 = 0.0 megapixels is over the limit.*{web.ENV_MAX_PIXELS}"):
        web.load_image(good, limit=1000)
    image, info, notes = web.load_image(good)
    assert image.shape == (48, 64, 1) and notes == [] and info["bits"] == 8


def test_16_bit_and_rgba_png_are_converted_with_a_note(tmp_path):
    codes = (np.arange(32 * 40, dtype=np.uint16).reshape(32, 40) * 50).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), codes)
    image, info, notes = web.load_image(tmp_path / "deep.png")
    assert info["bits"] == 16 and "16-bit" in notes[0]
    np.testing.assert_allclose(image[..., 0], codes / 65535.0, atol=1e-6)
    rgba = np.zeros((32, 40, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, 128  # BGRA: red, half transparent
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    image, _, notes = web.load_image(tmp_path / "alpha.png")
    assert image.shape == (32, 40, 3) and any("alpha" in n for n in notes)
    assert abs(float(image[0, 0, 0]) - 200 / 255) < 1e-6
    out = web.handle(str(tmp_path / "deep.png"), None, None, "none", None, 0, "median", True, 25, folder=tmp_path)
    assert out["ok"], out["status"]
    assert cv2.imread(out["download"], cv2.IMREAD_UNCHANGED).dtype == np.uint16  # 16 bits in, 16 bits out


def test_handle_reports_errors_and_keeps_working(tmp_path, gray):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = web.handle(str(bad), "camera.png", None, "gaussian", 25, 0, "median", True, 25, folder=tmp_path)
    assert not out["ok"] and out["status"].startswith("Error: bad.jpg")
    out = web.handle(None, None, None, "gaussian", 25, 0, "median", True, 25, folder=tmp_path)
    assert not out["ok"] and "no image" in out["status"]
    good = datasets.save_image(tmp_path / "good.png", gray)
    out = web.handle(str(good), None, None, "gaussian", 25, 0, "median", True, 25, folder=tmp_path)
    assert out["ok"] and out["download"].endswith("good_median.png")
    assert datasets.read_image(out["download"]).shape == gray.shape


def test_scores_equal_the_library(gray):
    result = web.process(gray, "median", "gaussian", 25, seed=3)
    noisy = noise.apply(gray, "gaussian:sigma=25", seed=[3])
    np.testing.assert_array_equal(result.noisy, noisy)
    expected = metrics.psnr(gray, classical.get("median").denoise(noisy))
    assert result.scores["psnr"] == pytest.approx(expected, abs=1e-12)
    assert result.scores["noisy_psnr"] == pytest.approx(metrics.psnr(gray, np.clip(noisy, 0, 1)))
    assert f"| denoised (median) | {expected:.2f} |" in web.metrics_markdown(result)
    plain = web.process(noisy, "median")  # no noise, no reference: no scores
    assert plain.scores == {} and "No clean reference" in web.metrics_markdown(plain)
    with_ref = web.process(noisy, "median", reference=gray)
    assert with_ref.scores["psnr"] == pytest.approx(expected, abs=1e-12)


def test_channel_mismatches_are_handled_with_a_note(gray):
    colour = web.load_sample("astronaut.png")[:40, :40]
    assert web.match_channels(colour, 1, "m")[1].startswith("colour image, gray model")
    assert web.match_channels(gray, 3, "m")[1].startswith("gray image, colour model")
    assert web.match_channels(gray, 1, "m")[1] is None
    if "dncnn-s25" not in pretrained.available():
        pytest.skip("no shipped dncnn-s25")
    result = web.process(colour, "dncnn-s25", "gaussian", 25)
    assert result.denoised.shape == colour.shape and "channel by channel" in result.notes[0]
    model = pretrained.load("dncnn-s25")
    red = inference.denoise(model, result.noisy[..., :1])
    np.testing.assert_allclose(result.denoised[..., :1], red, atol=1e-5)


def test_large_images_run_tiled(monkeypatch, gray):
    if "dncnn-s25" not in pretrained.available():
        pytest.skip("no shipped dncnn-s25")
    monkeypatch.setattr(web, "TILE", 32)
    result = web.process(gray, "dncnn-s25", "gaussian", 25)
    assert result.tiled and result.denoised.shape == gray.shape
    assert "tiled 32x32" in web.metrics_markdown(result)
    untiled = inference.denoise(pretrained.load("dncnn-s25"), result.noisy)
    assert metrics.psnr(untiled, result.denoised) > 35  # tiles blend into nearly the same image


def test_gradio_is_imported_lazily():
    code = "import sys, denoise_tf, denoise_tf.web, denoise_tf.__main__; sys.exit('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_build_app_and_cli_flags(monkeypatch):
    gr = pytest.importorskip("gradio")
    app = web.build_app(default_model="median")
    assert isinstance(app, gr.Blocks)
    seen = {}
    monkeypatch.setattr(web, "launch", lambda **kw: seen.update(kw))
    assert cli.main(["demo", "--web", "--port", "7999"]) == 0
    assert seen == {"port": 7999, "share": False}


def test_tflite_fast_path_matches_keras_and_is_cached(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rng = np.random.default_rng(0)
    noisy = np.clip(0.5 + rng.normal(0, 25 / 255, (48, 40, 1)), 0, 1).astype(np.float32)
    web._model.cache_clear()
    monkeypatch.delenv(web.ENV_FAST, raising=False)
    keras_out = web.run_denoiser("dncnn-s25", noisy)
    monkeypatch.setenv(web.ENV_FAST, "tflite")
    fast = web.load_model("dncnn-s25")
    assert type(fast).__name__ == "ExportedModel"
    np.testing.assert_allclose(web.run_denoiser("dncnn-s25", noisy), keras_out, atol=1e-4)
    files = list((tmp_path / "denoise_tf" / "exports").glob("*.tflite"))
    assert [f.name[:10] for f in files] == ["dncnn-s25-"]  # one cached export, no partial file left
    monkeypatch.setenv(web.ENV_FAST, "onnx")
    with pytest.raises(ValueError, match="DENOISE_TF_WEB_FAST must be 'tflite'"):
        web.load_model("dncnn-s25")
    web._model.cache_clear()
