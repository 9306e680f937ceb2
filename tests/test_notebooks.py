"""Notebooks are committed output-free, read the profile switch first, and copy no package code."""

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
