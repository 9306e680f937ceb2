"""Tests of denoise_tf.datasets: reading, named sets, samples, download, pairs and splits."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from denoise_tf import datasets as ds

REPO = Path(__file__).resolve().parents[1]


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an (H, W) or (H, W, C) uint8/uint16 array (RGB order) as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    assert cv2.imwrite(str(path), image)
    return path


def rand_u8(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


# --------------------------------------------------------------------------- read_image


def test_read_image_gray_and_color(tmp_path):
    gray = rand_u8((8, 10))
    image = ds.read_image(write_png(tmp_path / "g.png", gray))
    assert image.shape == (8, 10, 1) and image.dtype == np.float32
    np.testing.assert_allclose(image[..., 0], gray / 255.0, atol=1e-7)
    rgb = ds.read_image(tmp_path / "g.png", color=True)
    assert rgb.shape == (8, 10, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_read_image_rgb_order_and_to_gray(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    path = write_png(tmp_path / "red.png", rgb)
    image = ds.read_image(path)
    np.testing.assert_allclose(image[0, 0], [1.0, 0.0, 0.0])
    gray = ds.read_image(path, color=False)
    assert gray.shape == (4, 4, 1)
    np.testing.assert_allclose(gray[0, 0, 0], 0.299, atol=1e-6)


def test_read_image_16bit_scaled(tmp_path):
    data = np.array([[0, 65535], [32768, 1000]], np.uint16)
    image = ds.read_image(write_png(tmp_path / "deep.png", data))
    assert image.dtype == np.float32
    np.testing.assert_allclose(image[..., 0], data / 65535.0, atol=1e-6)


def test_read_image_rgba_drops_alpha(tmp_path):
    rgba = rand_u8((5, 6, 4))
    rgba[..., 3] = 0  # fully transparent: alpha is dropped, not composited
    image = ds.read_image(write_png(tmp_path / "a.png", rgba))
    assert image.shape == (5, 6, 3)
    np.testing.assert_allclose(image, rgba[..., :3] / 255.0, atol=1e-7)


def test_read_image_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        ds.read_image(tmp_path / "nope.png")


@pytest.mark.parametrize("name", ["text.png", "empty.jpg"])
def test_read_image_not_an_image(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"hello, not a PNG")
    with pytest.raises(ValueError, match=name):
        ds.read_image(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_read_image_truncated(tmp_path, suffix):
    full = tmp_path / f"full{suffix}"
    assert cv2.imwrite(str(full), rand_u8((64, 64, 3)))
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    assert ds.read_image(full).shape == (64, 64, 3)
    with pytest.raises(ValueError, match=f"cut{suffix}"):
        ds.read_image(cut)


# --------------------------------------------------------------------------- load / folders


def test_load_folder_ignores_other_files(tmp_path):
    write_png(tmp_path / "b.png", rand_u8((4, 4)))
    write_png(tmp_path / "A.PNG", rand_u8((4, 4, 3)))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "._b.png").write_bytes(b"macOS metadata")  # hidden: ignored
    (tmp_path / "sub.png").mkdir()  # a folder with an image suffix: ignored
    images, names = ds.load(tmp_path)
    assert names == ["A.PNG", "b.png"]
    assert [i.shape for i in images] == [(4, 4, 3), (4, 4, 1)]
    images, _ = ds.load(tmp_path, color=False, limit=1)
    assert len(images) == 1 and images[0].shape == (4, 4, 1)


def test_load_bad_image_in_folder_names_file(tmp_path):
    write_png(tmp_path / "good.png", rand_u8((4, 4)))
    (tmp_path / "bad.jpg").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="bad.jpg"):
        ds.load(tmp_path)


def test_load_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        ds.load(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="not/there"):
        ds.load("not/there")


def test_load_file_instead_of_folder(tmp_path):
    path = write_png(tmp_path / "x.png", rand_u8((4, 4)))
    with pytest.raises(NotADirectoryError, match="x.png"):
        ds.load(path)


def test_load_unknown_set_name():
    with pytest.raises(ValueError, match="unknown set 'bsd1000'.*bsd68"):
        ds.load("bsd1000")


def test_load_named_set_missing_under_root(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"set 'bsd68' not found.*download\('bsd68'\)"):
        ds.load("bsd68", data_root=tmp_path)


def test_load_empty_folder_and_bad_limit(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no image files"):
        ds.load(tmp_path)
    write_png(tmp_path / "a.png", rand_u8((4, 4)))
    with pytest.raises(ValueError, match="limit"):
        ds.load(tmp_path, limit=0)


def test_load_named_set_from_custom_root(tmp_path, monkeypatch):
    for i in range(3):
        write_png(tmp_path / "set12" / f"{i:02d}.png", rand_u8((8, 8, 3), seed=i))
    images, names = ds.load("set12", data_root=tmp_path)
    assert names == ["00.png", "01.png", "02.png"]
    assert all(i.shape == (8, 8, 1) for i in images)  # set12 is a gray set
    monkeypatch.setenv(ds.ENV_VAR, str(tmp_path))
    assert ds.data_root() == tmp_path
    assert len(ds.load("SET12", limit=2)[0]) == 2


def test_image_files_are_the_files_load_reads(tmp_path):
    for name in ("8023.jpg", "12003.jpg", "41033.jpg"):  # two of them are train400_val files
        write_png(tmp_path / "cbsd432" / name, rand_u8((8, 8, 3)))
    assert [f.name for f in ds.image_files("train400_val", tmp_path)] == ["41033.jpg", "8023.jpg"]
    assert [f.name for f in ds.image_files("cbsd432", tmp_path)] == ds.load("cbsd432", data_root=tmp_path)[1]
    assert ds.load("train400_val", data_root=tmp_path)[1] == ["41033.jpg", "8023.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        ds.image_files(tmp_path / "empty")


# --------------------------------------------------------------------------- samples


def test_samples():
    images, names = ds.samples()
    assert names == ["astronaut.png", "camera.png", "chelsea.png", "coffee.png"]
    for image in images:
        assert image.dtype == np.float32 and image.ndim == 3
        assert image.shape[0] <= 256 and image.shape[1] <= 256
        assert image.shape[0] % 16 == 0 and image.shape[1] % 16 == 0
        assert 0.0 <= image.min() and image.max() <= 1.0
    assert images[1].shape == (256, 256, 1)  # camera is gray
    gray, _ = ds.load("samples", color=False)
    assert [g.shape[-1] for g in gray] == [1, 1, 1, 1]
    assert (ds.SAMPLES_DIR / "README.md").is_file()


# --------------------------------------------------------------------------- manifests


def test_manifests_complete_and_shipped():
    for name, spec in ds.NAMED_SETS.items():
        entry = ds.manifest(name)
        repo_copy = json.loads((REPO / "datasets" / f"{name}.json").read_text(encoding="utf-8"))
        assert repo_copy == entry, f"datasets/{name}.json differs from denoise_tf/registry/{name}.json"
        assert entry["folder"] == spec["folder"] and entry["count"] == spec["count"]
        assert len(entry["files"]) == spec["count"]
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in entry["files"].values())
        src = entry["source"]
        assert entry["base_url"] == (
            f"https://raw.githubusercontent.com/{src['repo']}/{src['commit']}/{src['path']}/"
        )
        assert len(src["commit"]) == 40 and entry["licence"] and entry["citation"]
    assert set(ds.manifest("train400_val")["files"]) == set(ds.TRAIN400_VAL_FILES)
    with pytest.raises(ValueError, match="unknown set"):
        ds.manifest("nope")


# --------------------------------------------------------------------------- download


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        server = self.server
        server.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        data = server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if name in server.truncate or name in server.stall:
            self.wfile.write(data[: len(data) // 2])  # then close: an interrupted transfer
            self.wfile.flush()
            if name in server.stall:
                server.release.wait(30)  # a transfer that hangs (until the client is killed)
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path_factory):
    """A loopback HTTP server with three tiny PNGs and a matching registry."""
    src = tmp_path_factory.mktemp("served")
    files = {}
    for i in range(3):
        path = write_png(src / f"img{i}.png", rand_u8((16, 16), seed=i))
        files[path.name] = path.read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.truncate, httpd.requests = files, set(), []
    httpd.stall, httpd.release = set(), threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    registry = {
        "folder": "tiny",
        "base_url": "https://example.invalid/never-used/",
        "files": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
    }
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}/sets/tiny/", registry
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


def test_download_success_and_cache(server, tmp_path):
    httpd, url, registry = server
    folder = ds.download("tiny", data_root=tmp_path, base_url=url, registry=registry)
    assert folder == tmp_path / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    for name, data in httpd.files.items():
        assert (folder / name).read_bytes() == data
    assert ds.verify("tiny", data_root=tmp_path, registry=registry) == []
    assert len(ds.load(folder)[0]) == 3
    n = len(httpd.requests)
    ds.download("tiny", data_root=tmp_path, base_url=url, registry=registry)
    assert len(httpd.requests) == n  # cached: nothing fetched again


def test_download_checksum_mismatch(server, tmp_path):
    _, url, registry = server
    registry["files"]["img1.png"] = "0" * 64
    with pytest.raises(ds.ChecksumError, match="img1.png"):
        ds.download("tiny", data_root=tmp_path, base_url=url, registry=registry)
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["img0.png"]  # no bad/temp file


def test_download_interrupted(server, tmp_path):
    httpd, url, registry = server
    httpd.truncate.add("img0.png")
    with pytest.raises(ds.DownloadError, match="img0.png"):
        ds.download("tiny", data_root=tmp_path, base_url=url, registry=registry)
    assert not (tmp_path / "tiny").exists()  # no partial file, no empty folder


def test_download_never_overwrites(server, tmp_path):
    httpd, url, registry = server
    mine = tmp_path / "tiny" / "img2.png"
    mine.parent.mkdir()
    mine.write_bytes(b"my own file")
    with pytest.raises(FileExistsError, match="img2.png"):
        ds.download("tiny", data_root=tmp_path, base_url=url, registry=registry)
    assert mine.read_bytes() == b"my own file"
    assert httpd.requests == []
    assert ds.verify("tiny", data_root=tmp_path, registry=registry)[0].startswith("missing")


def test_download_missing_on_server(server, tmp_path):
    _, url, registry = server
    registry["files"]["gone.png"] = "1" * 64
    with pytest.raises(ds.DownloadError, match="gone.png"):
        ds.download("tiny", data_root=tmp_path, base_url=url, registry=registry)
    assert not (tmp_path / "tiny" / "gone.png").exists()


def test_download_network_failure(server, tmp_path):
    httpd, _, registry = server
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ds.DownloadError, match="could not fetch"):
        ds.download("tiny", data_root=tmp_path, base_url=f"http://127.0.0.1:{port}/", registry=registry)
    assert not (tmp_path / "tiny").exists()


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_download_removes_what_killed_downloads_left(server, tmp_path):
    httpd, url, registry = server
    folder = tmp_path / "tiny"
    stale = folder / f"{ds.PARTIAL_PREFIX}{_dead_pid()}-k3j4"  # the staging folder of a killed process
    stale.mkdir(parents=True)
    (stale / "tmpq1w2e3r4").write_bytes(b"half a PNG")
    live = folder / f"{ds.PARTIAL_PREFIX}{os.getpid()}-live"  # a download still running: kept
    live.mkdir()
    old_temp = folder / "tmpa1b2c3d4"  # pooch's own name for its temporary file, left in the folder
    old_temp.write_bytes(b"half a PNG")
    os.utime(old_temp, (time.time() - 2 * ds.STALE_SECONDS,) * 2)
    fresh_temp = folder / "tmpz9y8x7w6"  # too recent to be sure it is abandoned: kept
    fresh_temp.write_bytes(b"being written")
    ds.download("tiny", data_root=tmp_path, base_url=url, registry=registry)
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(["img0.png", "img1.png", "img2.png", live.name, fresh_temp.name])
    assert ds.verify("tiny", data_root=tmp_path, registry=registry) == []
    live.rmdir()


def test_a_download_killed_mid_transfer_is_cleaned_by_the_next(server, tmp_path):
    httpd, url, registry = server
    httpd.stall.add("img0.png")
    code = "import json, sys; from denoise_tf import datasets as ds; ds.download('tiny', data_root=sys.argv[1], base_url=sys.argv[2], registry=json.loads(sys.argv[3]))"
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path), url, json.dumps(registry)], cwd=REPO)
    try:
        for _ in range(1200):  # until the child has its temporary file open
            partial = list((tmp_path / "tiny").glob(f"{ds.PARTIAL_PREFIX}{child.pid}-*/tmp*"))
            if partial or child.poll() is not None:
                break
            time.sleep(0.05)
        assert partial, "the child never started its download"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert partial[0].exists()  # what SIGKILL leaves behind
    httpd.stall.clear()
    httpd.release.set()
    folder = ds.download("tiny", data_root=tmp_path, base_url=url, registry=registry)
    assert sorted(p.name for p in folder.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    assert ds.verify("tiny", data_root=tmp_path, registry=registry) == []


# --------------------------------------------------------------------------- paired data


def make_pair(noisy: Path, clean: Path, shape=(8, 12, 3), seed=0):
    base = rand_u8(shape, seed)
    write_png(clean, base)
    write_png(noisy, np.clip(base.astype(int) + 20, 0, 255).astype(np.uint8))


def test_load_pairs_sidd(tmp_path):
    data = tmp_path / "SIDD_Small_sRGB_Only" / "Data"
    scene1, scene2 = data / "0001_001_S6_00100_00060_3200_L", data / "0002_001_S6_00100_00020_3200_N"
    for i, tag in enumerate(["010", "011"]):
        make_pair(scene1 / f"NOISY_SRGB_{tag}.PNG", scene1 / f"GT_SRGB_{tag}.PNG", seed=i)
    make_pair(scene2 / "NOISY_SRGB_010.PNG", scene2 / "GT_SRGB_011.PNG", seed=5)  # one each: paired
    (scene1 / "NOISY_RAW_010.MAT").write_bytes(b"raw")  # not an image: ignored
    (data.parent / "Scene_Instances.txt").write_text("x")
    noisy, clean, names = ds.load_pairs(data.parent, layout="sidd")
    assert names == [
        "Data/0001_001_S6_00100_00060_3200_L/NOISY_SRGB_010.PNG",
        "Data/0001_001_S6_00100_00060_3200_L/NOISY_SRGB_011.PNG",
        "Data/0002_001_S6_00100_00020_3200_N/NOISY_SRGB_010.PNG",
    ]
    for a, b in zip(noisy, clean):
        assert a.shape == b.shape == (8, 12, 3) and a.dtype == b.dtype == np.float32
        assert a.mean() > b.mean()
    assert len(ds.load_pairs(data, color=False, limit=2)[0]) == 2  # the Data folder itself works too


def test_load_pairs_sidd_unmatched(tmp_path):
    scene = tmp_path / "Data" / "scene"
    make_pair(scene / "NOISY_SRGB_010.PNG", scene / "GT_SRGB_010.PNG")
    write_png(scene / "NOISY_SRGB_011.PNG", rand_u8((8, 12, 3)))
    with pytest.raises(ValueError, match="NOISY_SRGB_011.PNG"):
        ds.load_pairs(tmp_path, layout="sidd")


def test_load_pairs_unmatched_files_of_both_layouts_are_all_named(tmp_path):
    scene = tmp_path / "sidd" / "Data" / "scene"
    make_pair(scene / "NOISY_SRGB_010.PNG", scene / "GT_SRGB_010.PNG")
    write_png(scene / "GT_SRGB_011.PNG", rand_u8((8, 12, 3)))
    with pytest.raises(ValueError, match="1 unmatched.*GT_SRGB_011.PNG has no NOISY image"):
        ds.find_pairs(tmp_path / "sidd", layout="sidd")
    make_pair(tmp_path / "div2k" / "DIV2K_noisy" / "0001_noisy.png", tmp_path / "div2k" / "DIV2K_HR" / "0001.png")
    write_png(tmp_path / "div2k" / "DIV2K_noisy" / "0002_noisy.png", rand_u8((8, 12, 3)))
    write_png(tmp_path / "div2k" / "DIV2K_HR" / "0003.png", rand_u8((8, 12, 3)))
    with pytest.raises(ValueError, match=r"2 unmatched.*0002_noisy.png has no clean .*0002\.\*; clean .*0003.png has no noisy"):
        ds.find_pairs(tmp_path / "div2k", layout="div2k")


def test_read_pairs_reads_what_find_pairs_found(tmp_path):
    for k in range(3):
        make_pair(tmp_path / f"s{k}" / "NOISY_SRGB_010.PNG", tmp_path / f"s{k}" / "GT_SRGB_010.PNG")
    found = ds.find_pairs(tmp_path)
    noisy, clean, names = ds.load_pairs(tmp_path, limit=2)
    read = list(ds.read_pairs(found[:2]))
    assert [name for _, _, name in read] == names == [t[2] for t in found[:2]]
    assert all(np.array_equal(a, n) and np.array_equal(b, c) for (a, b, _), n, c in zip(read, noisy, clean))


def test_load_pairs_size_mismatch(tmp_path):
    scene = tmp_path / "scene"
    write_png(scene / "NOISY_SRGB_010.PNG", rand_u8((8, 12, 3)))
    write_png(scene / "GT_SRGB_010.PNG", rand_u8((8, 10, 3)))
    with pytest.raises(ValueError, match="size mismatch.*NOISY_SRGB_010.*GT_SRGB_010"):
        ds.load_pairs(tmp_path, layout="sidd")


def test_load_pairs_div2k(tmp_path):
    for split, ids in (("train", ["0001", "0002"]), ("valid", ["0801"])):
        for i in ids:
            make_pair(tmp_path / f"DIV2K_{split}_noisy" / f"{i}_noisy.png", tmp_path / f"DIV2K_{split}_HR" / f"{i}.png")
    noisy, clean, names = ds.load_pairs(tmp_path, layout="div2k")
    assert names == ["DIV2K_train_noisy/0001_noisy.png", "DIV2K_train_noisy/0002_noisy.png",
                     "DIV2K_valid_noisy/0801_noisy.png"]
    assert all(a.shape == b.shape for a, b in zip(noisy, clean))
    assert ds.load_pairs(tmp_path, layout="div2k", subset="valid")[2] == ["DIV2K_valid_noisy/0801_noisy.png"]


def test_load_pairs_div2k_seed_layout(tmp_path):
    # DIV2K_HR/ + DIV2K_Noisy/ with 0001_noisy.png (the layout of seed 003)
    make_pair(tmp_path / "DIV2K_Noisy" / "0001_noisy.png", tmp_path / "DIV2K_HR" / "0001.png")
    assert ds.load_pairs(tmp_path, layout="div2k")[2] == ["DIV2K_Noisy/0001_noisy.png"]
    write_png(tmp_path / "DIV2K_HR" / "0002.png", rand_u8((8, 12, 3)))
    with pytest.raises(ValueError, match="0002.png has no noisy"):
        ds.load_pairs(tmp_path, layout="div2k")


def test_load_pairs_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ds.load_pairs(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown layout"):
        ds.load_pairs(tmp_path, layout="bsd")
    with pytest.raises(FileNotFoundError, match="no SIDD scene folders"):
        ds.load_pairs(tmp_path, layout="sidd")
    with pytest.raises(FileNotFoundError, match="no DIV2K-style folders"):
        ds.load_pairs(tmp_path, layout="div2k")


# --------------------------------------------------------------------------- split


def test_split_deterministic_partition():
    items = [f"img{i:03d}" for i in range(400)]
    train, val, test = ds.split(items, seed=0)
    assert (len(train), len(val), len(test)) == (320, 40, 40)
    assert sorted(train + val + test) == items
    assert ds.split(items, seed=0) == (train, val, test)
    assert ds.split(items, seed=1) != (train, val, test)
    assert [len(p) for p in ds.split(list(range(10)))] == [8, 1, 1]
    assert [len(p) for p in ds.split(list(range(7)), (0.5, 0.5))] == [4, 3]
    assert ds.split([], seed=3) == ([], [], [])


def test_split_by_counts_in_input_order():
    items = [f"img{i:03d}" for i in range(20)]
    shuffled = ds.split(items, seed=4, counts=(3, 2, 15))
    kept = ds.split(items, seed=4, counts=(3, 2, 15), keep_order=True)
    assert [len(p) for p in kept] == [3, 2, 15] and all(part == sorted(part) for part in kept)
    assert [sorted(p) for p in shuffled] == list(kept)
    # fractions and counts cut the same shuffle: equal sizes give equal parts
    assert ds.split(items, (0.25, 0.25, 0.5), seed=4) == ds.split(items, seed=4, counts=(5, 5, 10))
    for counts in ((3, 2), (-1, 21), (), (2.5, 17.5)):
        with pytest.raises((ValueError, TypeError), match="counts|integer"):
            ds.split(items, counts=counts)


@pytest.mark.parametrize("fractions", [(0.5, 0.4), (1.2, -0.2), ()])
def test_split_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        ds.split([1, 2, 3], fractions)


# --------------------------------------------------------------------------- real data

REAL_SETS = [  # name, count, channels, allowed (H, W) sizes
    ("train400", 400, 1, {(180, 180)}),
    ("bsd68", 68, 1, {(481, 321), (321, 481)}),
    ("set12", 12, 1, {(256, 256), (512, 512)}),
    ("cbsd68", 68, 3, {(481, 321), (321, 481)}),
    ("train400_val", 32, 1, {(481, 321), (321, 481)}),
]


@pytest.mark.parametrize("name,count,channels,sizes", REAL_SETS, ids=[s[0] for s in REAL_SETS])
def test_real_set(shared_data, name, count, channels, sizes):
    images, names = ds.load(name, data_root=shared_data)
    assert len(images) == len(set(names)) == count
    assert {i.shape[:2] for i in images} <= sizes
    assert all(i.shape[2] == channels and i.dtype == np.float32 for i in images)
    assert 0.0 <= min(i.min() for i in images) and max(i.max() for i in images) <= 1.0


def test_real_cbsd432_quick(shared_data):
    assert len(ds.list_images(shared_data / "cbsd432")) == 432
    images, _ = ds.load("cbsd432", limit=8, data_root=shared_data)
    assert all(i.shape in {(481, 321, 3), (321, 481, 3)} for i in images)


@pytest.mark.slow
def test_real_cbsd432_full(shared_data):
    # ~3 s and ~0.8 GB of float32 arrays: marked slow
    images, names = ds.load("cbsd432", data_root=shared_data)
    assert len(images) == len(set(names)) == 432
    assert {i.shape for i in images} == {(481, 321, 3), (321, 481, 3)}


def test_real_sets_match_registry(shared_data):
    for name in ds.NAMED_SETS:
        assert ds.verify(name, data_root=shared_data) == [], name


def test_train400_val_disjoint_from_train400_sources(shared_data):
    sources = (shared_data / "train400_sources.tsv").read_text().splitlines()[1:]
    used = {line.split("\t")[1] for line in sources}
    assert not used & set(ds.TRAIN400_VAL_FILES)


# --------------------------------------------------------------------------- save_image


@pytest.mark.parametrize("bits,channels", [(8, 1), (8, 3), (16, 1), (16, 3)])
def test_save_image_roundtrip(tmp_path, bits, channels):
    image = np.random.default_rng(0).random((6, 7, channels), dtype=np.float32)
    path = ds.save_image(tmp_path / "sub" / "x.png", image, bits=bits)
    back = ds.read_image(path)
    assert back.shape == image.shape
    np.testing.assert_allclose(back, image, atol=0.5 / (2**bits - 1) + 1e-6)


def test_save_image_bad_input(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        ds.save_image(tmp_path / "x.png", np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="suffix"):
        ds.save_image(tmp_path / "x.gif", np.zeros((4, 4, 3)))


def test_download_cli_reports_error(server, tmp_path, capsys):
    # the real set12 registry against the loopback server, which has none of its files (404)
    _, url, _ = server
    code = ds._main(["download", "set12", "--data-root", str(tmp_path), "--base-url", url])
    assert code == 1
    assert "error: could not fetch 01.png" in capsys.readouterr().err
    assert not (tmp_path / "set12").exists()
