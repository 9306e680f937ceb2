"""The package as a user gets it: a wheel installed into a fresh virtual environment, and every lesson
run from an empty folder with an empty home folder and no data root, fetching its data from a
loopback server that stands in for the public sources (the same SHA-256 registry)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import zipfile
from pathlib import Path

import pytest

from helpers import WHEEL_LESSONS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TENSORFLOW_NAMES = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel"}

pytestmark = pytest.mark.slow


def _setuptools_ok() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources, without build isolation (no network needed)."""
    if not _setuptools_ok():
        pytest.skip("setuptools >= 77 is needed to build the wheel without isolation (pip install -e '.[dev]' brings it)")
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("denoise_tf", "configs"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True, timeout=300,
    )
    (built,) = out.glob("denoise_tf-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment that sees this interpreter's packages and has the wheel installed."""
    folder = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(folder)], check=True, timeout=300)
    python = folder / "bin" / "python"
    # Inside a virtual environment (CI's), --system-site-packages reaches the base interpreter only:
    # a plain path line makes this environment's packages visible too, without running its .pth files
    # (so an editable install of the checkout stays out).
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    parents = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "parent_environment.pth").write_text("".join(f"{p}\n" for p in parents))
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", str(wheel)],
        check=True, timeout=300,
    )
    # the kernel the notebooks run in is this environment's Python
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(folder), "--name", "python3"],
                   check=True, timeout=120, capture_output=True)
    return folder


def test_the_wheel_holds_every_package_the_configs_the_samples_the_weights_and_their_logs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.parent.relative_to(REPO).as_posix() for p in (REPO / "denoise_tf").rglob("__init__.py")}
    for package in packages:
        assert f"{package}/__init__.py" in names, f"package {package} is missing from the wheel (pyproject.toml packages)"
    for module in (REPO / "denoise_tf").rglob("*.py"):
        if "__pycache__" not in module.parts:
            assert module.relative_to(REPO).as_posix() in names, module
    for config in (REPO / "configs").glob("*.yaml"):
        assert f"denoise_tf/configs/{config.name}" in names, f"{config.name} is not in the wheel"
    for folder in ("samples", "registry"):
        assert any(n.startswith(f"denoise_tf/{folder}/") for n in names), folder
    registry = json.loads((REPO / "denoise_tf" / "weights" / "registry.json").read_text())
    for name, entry in registry.items():
        assert f"denoise_tf/weights/{entry['file']}" in names, name
    assert any(n.startswith("denoise_tf/weights/logs/") and n.endswith("/log.csv") for n in names)


def test_the_default_install_leaves_tensorflow_alone(wheel, venv):
    """No TensorFlow requirement without an extra, so pip keeps the one a machine (Colab) has."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    required = [Requirement(line.split(":", 1)[1].strip()) for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    base = [r for r in required if r.marker is None or r.marker.evaluate({"extra": ""})]
    assert base and not {r.name.lower() for r in base} & TENSORFLOW_NAMES, [str(r) for r in base]
    assert {r.name.lower() for r in base} >= {"keras", "numpy", "bm3d"}
    extras = {r.name.lower() for r in required if r.marker is not None and r.marker.evaluate({"extra": "cpu"})}
    assert extras & TENSORFLOW_NAMES, "the cpu extra installs a TensorFlow"
    # Every base requirement is already met here, so installing the wheel changes nothing else.
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True, timeout=300, check=False)
    problems = [line for line in check.stdout.splitlines() if line.lower().startswith("denoise-tf ")]
    assert not problems, problems
    code = ("import importlib.metadata as m, tensorflow as tf, denoise_tf; "
            "print(tf.__version__, tf.__file__, denoise_tf.__file__)")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, cwd=venv, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    version, tf_file, package_file = out.stdout.split()
    import tensorflow as tf

    assert version == tf.__version__ and Path(tf_file).resolve() == Path(tf.__file__).resolve(), "TensorFlow was replaced"
    assert Path(package_file).resolve().is_relative_to(venv.resolve()), f"denoise_tf came from {package_file}, not the wheel"


@pytest.fixture(scope="module")
def mirror(shared_data):
    """The named sets served over loopback HTTP from the shared data folder (a data root's layout)."""

    served = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 (http.server API)
            served.append(self.path)
            super().do_GET()

    handler = functools.partial(Quiet, directory=str(shared_data))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()


RUNNER = """
import sys, time, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
start = time.perf_counter()
NotebookClient(nb, timeout=900, kernel_name="python3").execute()
print(f"{sys.argv[1]} ran in {time.perf_counter() - start:.1f} s")
nbformat.write(nb, sys.argv[1])
"""


def _lesson(path: Path):
    """``WHEEL_LESSONS`` in the default run (nbval runs the others in the checkout), the rest with ``-m full``."""
    marks = () if path.stem in WHEEL_LESSONS else (pytest.mark.full,)
    return pytest.param(path, id=path.name, marks=marks)


def test_the_default_run_takes_lessons_that_exist():
    assert set(WHEEL_LESSONS) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("notebook", [_lesson(p) for p in NOTEBOOKS])
def test_the_lesson_runs_alone_in_an_empty_folder_from_the_installed_package(notebook, venv, mirror, tmp_path):
    url, served = mirror
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    shutil.copy(notebook, work / notebook.name)
    (tmp_path / "run.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DENOISE_TF_", "XDG_", "JUPYTER_", "PYTHON", "KERAS_", "MPL"))}
    env.update(HOME=str(home), DENOISE_TF_PROFILE="tiny", DENOISE_TF_MIRROR=url, PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    result = subprocess.run([str(venv / "bin" / "python"), str(tmp_path / "run.py"), notebook.name], cwd=work, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    print(result.stdout.strip())
    assert sorted(p.name for p in work.iterdir() if p.is_dir()) == ["figures"], "one figures folder, where the notebook runs"
    executed = json.loads((work / notebook.name).read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    sources = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code")
    fetched = set(re.findall(r'datasets\.fetch\("([a-z0-9_]+)"\)', sources))
    if "datasets.fetch(DATASET)" in sources:
        fetched |= set(re.findall(r'^DATASET = "([a-z0-9_]+)"', sources, re.MULTILINE))
    for name in fetched:  # each set the lesson fetches came from the stand-in into the empty home's cache
        folder = home / ".cache" / "denoise_tf" / "data" / name
        assert folder.is_dir() and any(folder.iterdir()), f"{name} was not fetched into {folder}"
        assert any(path.startswith(f"/{name}/") for path in served), f"{name} did not come from the stand-in server"
