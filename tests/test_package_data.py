"""What a lesson takes from the package instead of the checkout: recipes by name, the paired-set
maker, data fetched on demand, the training logs of the shipped weights, and the first-cell setup."""

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from denoise_tf import datasets, pretrained
from denoise_tf.config import TrainConfig, config_names, config_path

REPO = Path(__file__).resolve().parents[1]


def test_every_recipe_loads_by_name_and_by_path():
    names = config_names()
    assert names == sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
    for name in names:
        assert config_path(name).resolve() == config_path(f"{name}.yaml").resolve() == (REPO / "configs" / f"{name}.yaml").resolve()
    for name in ("dncnn_s25", "dncnn_b", "ffdnet_gray", "sequential_sidd"):
        assert TrainConfig.load(name) == TrainConfig.load(REPO / "configs" / f"{name}.yaml")
    assert TrainConfig.load("dncnn_s25", tiny=True).name == "dncnn_s25-tiny"


def test_a_recipe_loads_from_the_config_module_without_keras():
    import denoise_tf

    assert denoise_tf.TrainConfig is TrainConfig
    code = ("import sys; from denoise_tf.config import TrainConfig; c = TrainConfig.load('dncnn_s25'); "
            "print(c.name, c.model, 'keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.stdout.split() == ["dncnn_s25", "dncnn", "False", "False"], out.stderr[-2000:]


def test_an_unknown_recipe_names_the_recipes(tmp_path):
    with pytest.raises(FileNotFoundError, match="recipes: .*dncnn_s25"):
        config_path("no_such_recipe")
    with pytest.raises(FileNotFoundError, match="config file not found"):
        TrainConfig.load(tmp_path / "missing.yaml")


def test_the_cli_trains_a_recipe_by_name_error_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "denoise_tf", "train", "no_such_recipe"], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False)
    assert out.returncode != 0 and "no_such_recipe" in out.stderr


def test_make_paired_set_is_a_package_function(tmp_path, image_folder):
    written = datasets.make_paired_set(str(image_folder), tmp_path / "pairs", limit=2, seed=1)
    found = datasets.find_pairs(tmp_path / "pairs", layout="sidd")
    assert [(n, c) for n, c, _ in found] == written and len(written) == 2
    script = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_paired_set.py"), "--source", str(image_folder), "--out",
         str(tmp_path / "again"), "--limit", "2", "--seed", "1"], capture_output=True, text=True, timeout=300, check=False)
    assert script.returncode == 0, script.stderr
    for (n, c), (n2, c2) in zip(written, [(n, c) for n, c, _ in datasets.find_pairs(tmp_path / "again", layout="sidd")]):
        assert n.read_bytes() == n2.read_bytes() and c.read_bytes() == c2.read_bytes()
    refused = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_paired_set.py"), "--source", str(image_folder), "--out",
         str(tmp_path / "again")], capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error: ")


class _Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.requests.append(self.path)
        data = self.server.files.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, *args):
        pass


def test_fetch_downloads_from_the_mirror_only_what_is_missing(tmp_path, monkeypatch, capsys):
    import hashlib

    files = {"a.png": b"first", "b.png": b"second"}
    registry = {"folder": "tiny", "source": {"repo": "o/r"}, "base_url": "https://example.invalid/",
                "files": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}}
    monkeypatch.setattr(datasets, "manifest", lambda name: registry)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    httpd.files, httpd.requests = {f"/tiny/{k}": v for k, v in files.items()}, []
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        monkeypatch.setenv(datasets.MIRROR_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
        folder = datasets.fetch("tiny", data_root=tmp_path)
        assert folder == tmp_path / "tiny" and (folder / "b.png").read_bytes() == b"second"
        assert sorted(httpd.requests) == ["/tiny/a.png", "/tiny/b.png"]
        out = capsys.readouterr().out
        assert "2 of 2 files not under" in out and "2 files, 0.0 MB in" in out
        datasets.fetch("tiny", data_root=tmp_path)  # all there: nothing fetched
        assert len(httpd.requests) == 2 and "fetching" not in capsys.readouterr().out
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_shipped_weights_bring_their_training_logs():
    for name in ("dncnn-s15", "dncnn-s25", "dncnn-s50", "dncnn-b", "ffdnet-gray"):
        logs = pretrained.training_logs(name)
        assert logs and all((log / "log.csv").is_file() for log in logs), name
        assert logs[0].name == pretrained.training_runs(name)[0]
        assert logs[0].is_relative_to(pretrained.WEIGHTS_DIR)


def test_notebook_setup_makes_one_figures_folder_and_refuses_a_bad_profile(tmp_path, monkeypatch, capsys):
    from denoise_tf import notebook

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(notebook.FIGURES_ENV, raising=False)
    assert notebook.setup("tiny") == Path("figures") and (tmp_path / "figures").is_dir()
    out = capsys.readouterr().out
    assert "profile 'tiny'" in out and "full" in out
    with pytest.raises(ValueError, match="profile must be one of"):
        notebook.setup("huge")
