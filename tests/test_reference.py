"""The papers' own networks (``paper/...``): registry, download, sha256 refusal, offline message,
conversion, and parity with the published figures.

The public source is played by a loopback HTTP server that serves the byte-identical copies in
../shared/reference/ (no network needed); the user cache is a temporary folder.
"""

import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from denoise_tf import datasets, evaluate, inference, metrics, pretrained, reference, zoo
from denoise_tf.models import dncnn, ffdnet
from helpers import run_on_backend
from test_datasets import _Handler

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
FOLDERS = {"cszn/DnCNN": REFERENCE / "dncnn-official", "cszn/FFDNet": REFERENCE / "ffdnet-official"}
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference networks absent: {REFERENCE}")

NAMES = ["paper/cdncnn-b", "paper/dncnn-b", "paper/dncnn-s15", "paper/dncnn-s25", "paper/dncnn-s50", "paper/ffdnet-color", "paper/ffdnet-gray"]

#: Mean PSNR at sigma 25 on a 97 x 95 crop (rows and columns from 100) of the first 3 images of
#: the network's set: regression values of the converted networks (odd sizes, so FFDNet pads).
CROP_PSNR = {
    "paper/dncnn-s25": 27.237,
    "paper/dncnn-b": 27.157,
    "paper/cdncnn-b": 29.692,
    "paper/ffdnet-gray": 27.061,
    "paper/ffdnet-color": 29.584,
}


def local_file(name: str) -> Path:
    info = reference.entry(name)
    return FOLDERS[info["source"]["repo"]] / info["file"]


def cache_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def start_server(files: dict):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.truncate, httpd.requests = files, set(), []
    httpd.stall, httpd.release = set(), threading.Event()
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/mirror"


def stop_server(httpd) -> None:
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A loopback server of every reference file, set as the mirror; the user cache in ``tmp_path``."""
    httpd, url = start_server({local_file(n).name: local_file(n).read_bytes() for n in NAMES})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(reference.ENV_URL, url)
    yield httpd
    stop_server(httpd)


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    """One cache of the five networks the parity checks use, fetched once from a loopback server."""
    httpd, url = start_server({local_file(n).name: local_file(n).read_bytes() for n in CROP_PSNR})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        patch.setenv(reference.ENV_URL, url)
        yield
    stop_server(httpd)


# --------------------------------------------------------------------------- registry


def test_registry_entries_are_complete_and_match_the_published_files():
    assert reference.available() == NAMES
    assert not set(NAMES) & set(pretrained.available())
    for name in NAMES:
        info = reference.entry(name)
        source = info["source"]
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]) and source["path"].endswith(info["file"])
        assert reference.url(name) == f"https://raw.githubusercontent.com/{source['repo']}/{source['commit']}/{source['path']}"
        assert "research use" in info["licence"] and info["citation"] and info["published"]
        assert info["model"] in ("dncnn", "ffdnet") and info["model_options"]["batch_norm"] is False
        path = local_file(name)
        assert info["size"] == path.stat().st_size
        assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        readme = (path.parent / "README.md").read_text()
        assert f"{info['sha256']}  {info['file']}" in readme and source["commit"] in readme
    assert reference.published("paper/ffdnet-gray", "bsd68", 25) == 29.19
    assert reference.published("paper/dncnn-s25", "bsd68", 50) is None
    with pytest.raises(ValueError, match="no reference network"):
        reference.entry("paper/nope")


def test_zoo_knows_the_names_without_loading_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert all(zoo.model_kind(n) == "reference" for n in NAMES)
    assert zoo.model_is_color("paper/cdncnn-b") and not zoo.model_is_color("paper/ffdnet-gray")
    assert zoo.training_noise("paper/dncnn-s25") == "gaussian:sigma=25"
    with pytest.raises(ValueError, match="the papers' networks are"):
        zoo.model_kind("paper/dncnn-s30")
    assert cache_files(tmp_path) == []


def test_reference_networks_never_start_training():
    from denoise_tf.warmstart import source_model

    with pytest.raises(ValueError, match="paper's own network"):
        source_model("paper/dncnn-b")


# --------------------------------------------------------------------------- download and cache


def test_first_use_downloads_converts_and_caches(server):
    name = "paper/dncnn-s25"
    assert not reference.is_cached(name)
    model = zoo.load_model(name)
    assert len(server.requests) == 1 and server.requests[0].endswith("/sigma=25.mat")
    assert reference.is_cached(name)
    weights = reference.weights_path(name)
    assert weights.is_file() and weights.name.endswith(".weights.h5")
    assert (weights.parent / (weights.name + ".sha256")).is_file()
    assert reference.source_path(name).read_bytes() == local_file(name).read_bytes()
    x = np.random.default_rng(0).random((1, 23, 29, 1), dtype=np.float32)
    direct = dncnn.load_matconvnet(local_file(name))
    np.testing.assert_allclose(model.predict_on_batch(x), direct.predict_on_batch(x), atol=1e-6)
    zoo.load_model(name)  # from the converted weights: no second request
    assert len(server.requests) == 1


def test_a_tampered_download_is_refused_and_nothing_is_kept(server, tmp_path):
    data = bytearray(server.files["FFDNet_gray.mat"])
    data[len(data) // 2] ^= 0xFF
    server.files["FFDNet_gray.mat"] = bytes(data)
    with pytest.raises(reference.ReferenceChecksumError, match="nothing was kept"):
        reference.load("paper/ffdnet-gray")
    assert cache_files(tmp_path / "cache") == []
    with pytest.raises(ValueError):  # the CLI shows it as one error: line
        zoo.make_denoiser("paper/ffdnet-gray", sigma=25)


def test_a_damaged_cache_is_fetched_again(server):
    name = "paper/dncnn-s15"
    reference.load(name)
    reference.source_path(name).write_bytes(b"damaged")
    reference.weights_path(name).write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="does not match its sha256"):
        reference.load(name)
    assert len(server.requests) == 2 and reference.is_cached(name)
    assert reference.source_path(name).read_bytes() == local_file(name).read_bytes()


def test_offline_says_what_to_download_and_where_to_put_it(tmp_path, monkeypatch, capsys):
    from denoise_tf import __main__ as cli

    httpd, url = start_server({})
    stop_server(httpd)  # nothing listens there any more
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(reference.ENV_URL, url)
    name = "paper/dncnn-b"
    with pytest.raises(reference.ReferenceUnavailable) as caught:
        reference.load(name)
    message = str(caught.value)
    info = reference.entry(name)
    for part in (reference.pinned_url(name), info["sha256"], str(reference.source_path(name))):
        assert part in message
    assert cache_files(tmp_path) == []
    with pytest.raises(SystemExit) as exited:
        cli.main(["evaluate", "--model", name, "--dataset", "samples", "--sigma", "25", "--limit", "1", "--json"])
    assert exited.value.code == cli.EXIT_REFUSED
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: could not download paper/dncnn-b") and "put it at" in err[-1]
    # a file put there by hand is used without the network
    reference.source_path(name).parent.mkdir(parents=True)
    reference.source_path(name).write_bytes(local_file(name).read_bytes())
    assert reference.is_cached(name)
    assert reference.load(name).count_params() > 0


# --------------------------------------------------------------------------- FFDNet converter


def test_ffdnet_sub_image_order_is_matlab_column_major():
    """MatConvNet's SubP as MATLAB reshapes (column-major): channel 4c + 2j + i holds pixels (2y + i, 2x + j) of colour c."""
    from denoise_tf.models.layers import PixelUnshuffle

    for channels in (1, 3):
        image = np.random.default_rng(channels).random((4, 6, channels), dtype=np.float32)
        # reshape(permute(reshape(x, [2, H/2, 2, W/2, C]), [2 4 1 3 5]), [H/2, W/2, 4C])
        split = np.reshape(image, (2, 2, 2, 3, channels), order="F").transpose(1, 3, 0, 2, 4)
        matlab = np.reshape(split, (2, 3, 4 * channels), order="F")
        assert np.array_equal(matlab[..., 4 * (channels - 1) + 2 + 1], image[1::2, 1::2, channels - 1])
        ours = np.asarray(PixelUnshuffle(2)(image[None]))[0]
        np.testing.assert_array_equal(ours, matlab[..., ffdnet.matconvnet_order(channels)])


def test_ffdnet_converter_rejects_other_networks():
    with pytest.raises(ValueError, match="FFDNet MatConvNet"):
        ffdnet.load_matconvnet(local_file("paper/dncnn-s25"))


def test_converted_ffdnet_runs_on_odd_sizes_and_follows_sigma(fetched):
    model = reference.load("paper/ffdnet-gray")
    clean = np.full((31, 27, 1), 0.5, np.float32)
    noisy = evaluate.noisy_input(clean, "gaussian:sigma=25", [0, 0])
    low, high = (inference.denoise(model, noisy, sigma=s) for s in (5, 50))
    assert low.shape == clean.shape
    assert metrics.psnr(clean, high) > metrics.psnr(clean, low) > metrics.psnr(clean, np.clip(noisy, 0, 1))


OTHER_BACKEND = """
import json, sys
import numpy as np
import keras
from denoise_tf import inference, reference
folder = sys.argv[1]
report = {"backend": keras.backend.backend()}
for name in ("paper/ffdnet-color", "paper/cdncnn-b"):
    out = inference.denoise(reference.load(name), np.load(folder + "/x.npy"), sigma=25)
    report[name] = float(np.abs(out - np.load(folder + f"/{name[6:]}.npy")).max())
print(json.dumps(report))
"""


@pytest.mark.slow
def test_the_converted_weights_run_on_the_other_backend(fetched, tmp_path):
    """The cached .weights.h5 load on JAX (TensorFlow) and give the same outputs (~30 s)."""
    import keras

    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    pytest.importorskip(other)
    x = np.random.default_rng(3).random((1, 33, 30, 3), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    for name in ("paper/ffdnet-color", "paper/cdncnn-b"):
        np.save(tmp_path / f"{name[6:]}.npy", inference.denoise(reference.load(name), x, sigma=25))
    report = run_on_backend(other, OTHER_BACKEND, tmp_path)
    assert report["paper/ffdnet-color"] < 1e-5 and report["paper/cdncnn-b"] < 1e-5


# --------------------------------------------------------------------------- parity


@pytest.mark.parametrize("name", sorted(CROP_PSNR))
def test_quick_parity_on_small_crops(name, fetched, shared_data):
    dataset = reference.entry(name)["published"][0]["dataset"]
    model = zoo.load_model(name)
    images, _ = datasets.load(dataset, data_root=shared_data, limit=3)
    scores = []
    for k, clean in enumerate(images):
        clean = clean[100:197, 100:195]
        noisy = evaluate.noisy_input(clean, "gaussian:sigma=25", [0, k])
        scores.append(metrics.psnr(clean, np.clip(inference.denoise(model, noisy, sigma=25), 0, 1)))
    assert np.mean(scores) == pytest.approx(CROP_PSNR[name], abs=0.01)


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("name", sorted(CROP_PSNR))
def test_published_figure_at_sigma_25(name, fetched, shared_data):
    """The whole set (BSD68 gray, CBSD68 colour) through the evaluation protocol: within 0.05 dB of the paper."""
    dataset = reference.entry(name)["published"][0]["dataset"]
    rows = evaluate.evaluate(name, dataset, sigmas=[25], data_root=shared_data)
    assert len(rows) == 68
    mean = float(np.mean([row["psnr"] for row in rows]))
    print(f"{name} {dataset} sigma 25: {mean:.3f} dB (published {reference.published(name, dataset, 25)})")
    assert mean == pytest.approx(reference.published(name, dataset, 25), abs=0.05), json.dumps({name: mean})


# --------------------------------------------------------------------------- web page


def test_the_web_page_lists_them_with_their_download_until_cached(server):
    from denoise_tf import web

    labels = {name: label for label, name in web.denoiser_choices()}
    assert labels["paper/ffdnet-gray"] == "paper/ffdnet-gray (the paper's network, downloads 2.0 MB on first use)"
    info = web.denoiser_info("paper/ffdnet-gray")
    assert info.neural and info.level_input and info.channels == 1
    assert web.denoiser_info("paper/cdncnn-b").channels == 3 and not web.denoiser_info("paper/cdncnn-b").uses_sigma
    clean = np.full((24, 20, 1), 0.5, np.float32)
    noisy = evaluate.noisy_input(clean, "gaussian:sigma=25", [0, 0])
    restored = web.run_denoiser("paper/ffdnet-gray", noisy, sigma=25)
    assert metrics.psnr(clean, np.clip(restored, 0, 1)) > metrics.psnr(clean, np.clip(noisy, 0, 1)) + 5
    labels = {name: label for label, name in web.denoiser_choices()}
    assert labels["paper/ffdnet-gray"] == "paper/ffdnet-gray (the paper's network)"
