"""The web demo: handler functions (no browser), its temporary files, its upload limit and its cached exports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from denoise_tf import __main__ as cli
from denoise_tf import classical, datasets, inference, metrics, noise, pretrained, reference, web, zoo


@pytest.fixture()
def gray():
    return web.load_sample("camera.png")[:48, :64]


def test_menus_are_listed_from_the_registries():
    assert web.denoiser_names() == list(pretrained.available()) + reference.available() + sorted(classical.available())
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
    assert web.match_channels(colour, 1, "m")[1] == "colour image, gray model m: denoised along the opponent colour path"
    assert web.match_channels(gray, 3, "m")[1].startswith("gray image, colour model")
    assert web.match_channels(gray, 1, "m")[1] is None
    if "dncnn-s25" not in pretrained.available():
        pytest.skip("no shipped dncnn-s25")
    result = web.process(colour, "dncnn-s25", "gaussian", 25)
    assert result.denoised.shape == colour.shape
    assert "dncnn-s25: denoised along the opponent, per-channel luma colour path" in result.notes[0]
    # the page's denoiser is the package's: the same colour path and inference path as the denoise command
    expected = zoo.make_denoiser("dncnn-s25", lower_precision=True).denoise(result.noisy)
    np.testing.assert_allclose(result.denoised, np.clip(expected, 0, 1), atol=1e-5)


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
    from denoise_tf import zoo

    monkeypatch.delenv(zoo.ENV_BACKEND, raising=False)  # restored after the test
    assert cli.main(["demo", "--web", "--backend", "keras"]) == 0
    assert os.environ[zoo.ENV_BACKEND] == "keras"
    assert cli.main(["demo", "--web", "--fast"]) == 0
    assert os.environ[zoo.ENV_BACKEND] == "tflite"


def test_the_page_runs_the_fast_path_where_it_is_exact(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow")
    from denoise_tf import hardware, zoo

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # a CPU without bfloat16 instructions (with them, adopted weights take the bf16 path: tests/test_lowprecision.py)
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: False)
    rng = np.random.default_rng(0)
    noisy = np.clip(0.5 + rng.normal(0, 25 / 255, (48, 40, 1)), 0, 1).astype(np.float32)
    web._export.cache_clear()
    try:
        monkeypatch.setenv(zoo.ENV_BACKEND, "keras")
        assert web.exported_model("dncnn-s25") is None and web.backend_label("dncnn-s25") == "keras"
        keras_out = web.run_denoiser("dncnn-s25", noisy)
        monkeypatch.delenv(zoo.ENV_BACKEND)  # auto
        fast = web.exported_model("dncnn-s25")
        assert type(fast).__name__ == "ExportedModel" and web.backend_label("dncnn-s25") == "tflite"
        assert web.exported_model("dncnn-s25") is fast  # made once per process
        np.testing.assert_allclose(web.run_denoiser("dncnn-s25", noisy), keras_out, atol=1e-4)
        files = list((tmp_path / "denoise_tf" / "exports").glob("*.tflite"))
        assert [f.name[:10] for f in files] == ["dncnn-s25-"]  # one cached export, no partial file left
        result = web.process(noisy, "dncnn-s25")
        assert result.backend == "tflite" and "tflite" in web.metrics_markdown(result)
        monkeypatch.setenv(zoo.ENV_BACKEND, "onnx")
        with pytest.raises(ValueError, match="DENOISE_TF_BACKEND must be one of"):
            web.exported_model("dncnn-s25")
    finally:
        web._export.cache_clear()


def test_requests_record_their_stages_and_write_each_view_once(tmp_path):
    gray = np.clip(web.load_sample("camera.png")[:64, :64], 0, 1)
    from denoise_tf import datasets

    path = datasets.save_image(tmp_path / "in.png", gray)
    out = web.handle(str(path), None, None, "none", None, 0, "median", True, 25, folder=tmp_path)
    r = out["result"]
    assert {"decode", "prepare", "denoise", "png result"} <= set(r.stages) and all(v >= 0 for v in r.stages.values())
    views = web.display_files(r, tmp_path / "views", download=out["download"], bits=out["bits"])
    assert views[0] == views[1]  # no noise, no reference: the original is the noisy input
    assert views[2] == out["download"]  # the 8-bit download is the denoised view
    assert set(r.stages) >= {"png noisy"} and "png original" not in r.stages and "png denoised" not in r.stages
    noisy = web.handle(str(path), None, None, "gaussian", 25, 0, "median", True, 25, folder=tmp_path)
    views = web.display_files(noisy["result"], tmp_path / "views2", download=noisy["download"], bits=noisy["bits"])
    assert len(set(views)) == 3 and views[2] == noisy["download"] and {"noise", "metrics"} <= set(noisy["result"].stages)
    np.testing.assert_array_equal(datasets.read_image(views[0]), datasets.read_image(path))  # the clean original


# --------------------------------------------------------------------------------------------
# One reader with the pixel limit from the header; upload limit; temporary files; cached exports


@pytest.mark.parametrize("kind", ["hdr", "jpeg", "tiff", "webp-vp8x"])
def test_an_image_over_the_limit_is_refused_before_decoding(tmp_path, monkeypatch, kind):
    from test_images import BOMBS, hdr_claiming

    data = hdr_claiming(8000, 8000) if kind == "hdr" else BOMBS[kind]
    path = tmp_path / "holiday.png"  # named .png whatever it holds
    path.write_bytes(data)
    monkeypatch.setattr(cv2, "imdecode", lambda *a, **k: pytest.fail("decoded before the pixel limit was checked"))
    monkeypatch.delenv(web.ENV_MAX_PIXELS, raising=False)
    claimed = "8000x8000 = 64.0" if kind == "hdr" else "20000x30000 = 600.0"
    with pytest.raises(web.InputError, match=rf"holiday.png: {claimed} megapixels is over the limit of 16 megapixels"):
        web.load_image(path)
    out = web.handle(str(path), None, None, "none", None, 0, "median", True, 25, folder=tmp_path)
    assert not out["ok"] and "over the limit" in out["status"] and out["refused"] == [str(path)]
    assert path.exists()  # handle() never deletes a file; only the page removes refused uploads


def test_upload_size_limit(tmp_path, monkeypatch, gray):
    good = datasets.save_image(tmp_path / "good.png", gray)
    size = good.stat().st_size
    with pytest.raises(web.InputError, match=r"good.png: .* MiB is over the upload limit"):
        web.load_image(good, max_bytes=size - 1)
    assert web.load_image(good, max_bytes=size)[0].shape == gray.shape
    monkeypatch.setenv(web.ENV_MAX_FILE_SIZE, "2kb")
    assert web.max_file_size() == 2048 and web.max_file_size("1mb") == 2**20 and web.max_file_size(500) == 500
    monkeypatch.delenv(web.ENV_MAX_FILE_SIZE)
    assert web.max_file_size() == web.DEFAULT_MAX_FILE_SIZE
    with pytest.raises(ValueError, match="max_file_size must be"):
        web.max_file_size("big")


def _run_function(app):
    return next(f.fn for f in app.fns.values() if f.api_name == "denoise")


def test_request_files_are_removed_when_the_request_ends(tmp_path, gray):
    pytest.importorskip("gradio")
    from gradio.utils import get_upload_folder

    web.cleanup()
    try:
        app = web.build_app(default_model="median")
        folder = web.app_folder()
        uploads = Path(get_upload_folder())
        assert uploads == folder / "gradio"  # Gradio's files live in the app folder
        upload = datasets.save_image(uploads / "upload1" / "photo.png", gray)
        run = _run_function(app)
        outputs = run(str(upload), None, None, "gaussian", 25, 0, "median", True, 25)
        original, noisy, denoised, pair, _, status, download = outputs
        assert "OK" in status
        served = [original, noisy, denoised, *pair, download["value"]]
        assert all(Path(p).is_file() and Path(p).is_relative_to(uploads) for p in served)  # Gradio's copies
        assert [p.name for p in folder.iterdir() if p.name.startswith("request_")] == []  # the request's own are gone
        assert datasets.read_image(download["value"]).shape == gray.shape
        bad = uploads / "upload2" / "broken.png"
        bad.parent.mkdir()
        bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
        with pytest.warns(UserWarning, match="broken.png: not a readable image"):  # gr.Warning outside a server
            outputs = run(str(bad), None, None, "none", None, 0, "median", True, 25)
        assert "not a readable image" in outputs[5] and not bad.exists()  # a refused upload is removed at once
        mine = tmp_path / "mine.png"  # a refused file outside Gradio's folder is never removed
        mine.write_bytes(b"\x89PNG\r\n\x1a\n broken too")
        with pytest.warns(UserWarning, match="mine.png: not a readable image"):
            outputs = run(str(mine), None, None, "none", None, 0, "median", True, 25)
        assert mine.exists() and "not a readable image" in outputs[5]
        with pytest.warns(UserWarning, match="broken.png: file not found"):  # the removed upload, sent again
            outputs = run(str(upload), None, str(bad), "none", None, 0, "median", True, 25)
        assert upload.exists() and "file not found (upload it again)" in outputs[5]
    finally:
        web.cleanup()
    assert not folder.exists() and "GRADIO_TEMP_DIR" not in os.environ


def test_the_server_limits_uploads_and_removes_its_files_when_it_stops(monkeypatch):
    pytest.importorskip("gradio")
    import requests

    web.cleanup()
    built = []
    real_build = web.build_app
    monkeypatch.setattr(web, "build_app", lambda **kw: built.append(real_build(default_model="median", **kw)) or built[-1])
    monkeypatch.setattr(web, "warmup", lambda *a, **k: 0.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = threading.Thread(target=web.launch, kwargs={"port": port, "max_file_size": 4000, "quiet": True}, daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url, timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.05)
    folder = web.app_folder()
    try:
        refused = requests.post(f"{url}/gradio_api/upload", files={"files": ("big.png", b"\x00" * 5000)}, timeout=30)
        assert refused.status_code == 413
        accepted = requests.post(f"{url}/gradio_api/upload", files={"files": ("small.png", b"\x00" * 3000)}, timeout=30)
        assert accepted.status_code == 200
        stored = [Path(p) for p in accepted.json()]
        assert all(p.is_file() and p.is_relative_to(folder) for p in stored)
        names = [p.name for p in folder.rglob("*") if p.is_file()]
        assert "big.png" not in names and "small.png" in names  # the refused upload was not kept
    finally:
        built[0].close(verbose=False)  # what Ctrl+C does: the blocking launch() returns
        server.join(timeout=30)
    assert not server.is_alive()
    assert not folder.exists()  # uploads and results are gone once the server stopped


def test_the_app_folder_is_removed_at_exit(tmp_path):
    code = "from denoise_tf import web; f = web.app_folder(); (f / 'x.png').write_bytes(b'1'); print(f)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    assert folder.name.startswith("denoise_tf_web_") and not folder.exists()
