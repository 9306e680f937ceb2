"""Notebooks are committed output-free, read the profile switch first, copy no package code, and are
lessons that run anywhere: badge, Colab cell, objectives and time, exercises, a next link, a generator."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_numbered_notebooks():
    assert len(NOTEBOOKS) >= 4
    assert all(p.name[:2].isdigit() for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stripped_and_uses_the_profile(path):
    notebook = json.loads(path.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code cells"
    for cell in code:
        assert cell.get("outputs") == [], f"{path.name}: outputs committed (strip them)"
        assert cell.get("execution_count") is None, f"{path.name}: execution counts committed"
    first = "".join(code[0]["source"])
    assert "DENOISE_TF_PROFILE" in first, f"{path.name}: the first code cell must read DENOISE_TF_PROFILE"
    source = "\n".join("".join(c["source"]) for c in code)
    assert "def " not in source, f"{path.name}: helper functions belong in the package, not the notebook"


REPO = Path(__file__).resolve().parents[1]


def _repository_url() -> str:
    import re

    urls = (REPO / "pyproject.toml").read_text().split("[project.urls]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^Repository\s*=\s*"([^"]+)"', urls, re.MULTILINE).group(1).rstrip("/")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_a_lesson_that_runs_outside_the_checkout(path):
    cells = json.loads(path.read_text())["cells"]
    text = ["".join(c["source"]) for c in cells]
    code = [t for c, t in zip(cells, text) if c["cell_type"] == "code"]
    url = _repository_url()
    github = url.replace("https://github.com/", "")
    opening = text[0]
    assert cells[0]["cell_type"] == "markdown" and opening.startswith(f"# {path.name[:2]} "), "the title comes first"
    assert f"https://colab.research.google.com/github/{github}/blob/main/notebooks/{path.name}" in opening, "Colab badge"
    assert "You will learn to" in opening and "**Time:**" in opening and "min" in opening
    assert '"google.colab" in sys.modules' in code[0] and f"git+{url}" in code[0], "the Colab install cell"
    assert "notebook.setup(PROFILE)" in code[0]
    assert text[-2].startswith("## Exercises")
    assert 3 <= sum(line[:1].isdigit() and line[1:3] == ". " for line in text[-2].splitlines()) <= 5, "3 to 5 exercises"
    assert (REPO / "notebooks" / "solutions" / f"{path.name[:2]}_solutions.md").is_file()
    assert text[-1].startswith("**Next:**")
    source = "\n".join(code)
    for needle in ("../", "sys.path", "subprocess", "_flatten_layers", "scripts/"):
        assert needle not in source, f"{path.name}: {needle!r} in a code cell (the lesson must run from the installed package)"


def test_every_notebook_has_a_generator_that_writes_it_unchanged(tmp_path):
    import shutil
    import subprocess
    import sys

    for path in NOTEBOOKS:
        generator = REPO / "scripts" / f"make_notebook_{path.name[:2]}.py"
        assert generator.is_file(), f"no generator for {path.name}"
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", copy / "scripts")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    (copy / "notebooks").mkdir()
    for path in NOTEBOOKS:
        subprocess.run([sys.executable, f"scripts/make_notebook_{path.name[:2]}.py"], cwd=copy, check=True, timeout=120)
        assert (copy / "notebooks" / path.name).read_text() == path.read_text(), f"{path.name} differs from its generator's output"


def test_solutions_are_not_in_the_notebooks():
    solutions = sorted((REPO / "notebooks" / "solutions").glob("*_solutions.md"))
    assert [p.name[:2] for p in solutions] == [p.name[:2] for p in NOTEBOOKS]
    for path in solutions:
        text = path.read_text()
        assert text.count("\n## ") >= 3, f"{path.name}: one section per exercise"
