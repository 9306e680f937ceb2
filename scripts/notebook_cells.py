"""The cells every lesson shares, written by the notebook generators (scripts/make_notebook_*.py).

One place for: the "Open in Colab" badge, the opening (what the lesson teaches, how long it takes),
the first code cell (profile switch; on Colab only, the install from the repository named once in
pyproject.toml's ``[project.urls]``), the exercises (solutions in notebooks/solutions/), the link to
the next lesson, and writing the notebook with stable cell ids and no outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat as nbf

REPO = Path(__file__).resolve().parents[1]

#: The lessons in order: number -> (file stem, title).
LESSONS = {
    "01": ("01_data_prep", "Data preparation"),
    "02": ("02_noise_simulation", "Noise simulation"),
    "03": ("03_models", "Denoising models"),
    "04": ("04_training", "Training a denoiser"),
    "05": ("05_evaluation", "Evaluating denoisers"),
    "06": ("06_visualization", "Looking at the results"),
    "07": ("07_beyond_gaussian", "Beyond Gaussian noise"),
    "08": ("08_your_own_photo", "Your own photo"),
    "09": ("09_noisy_images_only", "Noisy images only: self-supervised and zero-shot denoising"),
}

#: Measured wall time of each lesson in minutes, rounded up: (tiny profile, run from an empty folder
#: with the wheel installed, on this project's 2-core CPU while other jobs ran; full profile on a
#: Colab GPU, or None where it has not been measured).
MINUTES = {
    "01": (0.5, None),
    "02": (1, None),
    "03": (1.5, None),
    "04": (3, None),
    "05": (2, None),
    "06": (2, None),
    "07": (1.5, None),
    "08": (1.5, None),
    "09": (1, None),
}

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell


def repo_url() -> str:
    """The public repository, as ``[project.urls] Repository`` in pyproject.toml gives it."""
    text = (REPO / "pyproject.toml").read_text()
    urls = text.split("[project.urls]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^Repository\s*=\s*"([^"]+)"', urls, re.MULTILINE).group(1).rstrip("/")


def colab_url(number: str) -> str:
    """The notebook opened in Colab straight from the repository's main branch."""
    github = repo_url().replace("https://github.com/", "")
    return f"https://colab.research.google.com/github/{github}/blob/main/notebooks/{LESSONS[number][0]}.ipynb"


def badge(number: str) -> str:
    """Markdown of the "Open in Colab" badge of one lesson."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(number)})"


def _duration(number: str) -> str:
    tiny, full = MINUTES[number]
    tiny_text = f"about {tiny:g} min" if tiny >= 1 else "under a minute"
    full_text = f"about {full:g} min on a Colab GPU" if full else "longer: use a Colab GPU (Runtime > Change runtime type)"
    return f"**Time:** tiny profile (the default) {tiny_text} on a 2-core laptop-class CPU; full profile {full_text}."


def opening(number: str, intro: str, objectives: list[str]) -> nbf.NotebookNode:
    """The first cell: title, badge, what the lesson is about, what it teaches, how long it takes."""
    title = LESSONS[number][1]
    goals = "\n".join(f"* {goal}" for goal in objectives)
    return md(
        f"# {number} · {title}\n\n{badge(number)}\n\n{intro.strip()}\n\n"
        f"**You will learn to:**\n\n{goals}\n\n{_duration(number)}"
    )


def setup(extra: str = "") -> nbf.NotebookNode:
    """The first code cell: the profile, the install on Colab, quiet logs, the figures folder."""
    source = f'''import os
import sys

PROFILE = os.environ.get("DENOISE_TF_PROFILE", "tiny")  # "tiny" (small images, a laptop CPU) or "full" (whole sets, a GPU)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no TensorFlow start-up messages
if "google.colab" in sys.modules:  # on Colab only: install the package (Colab's TensorFlow and GPU stay)
    %pip install -q "denoise-tf @ git+{repo_url()}"

from denoise_tf import notebook

FIGURES = notebook.setup(PROFILE)  # prints the machine; figures go to ./figures'''
    if extra.strip():
        source += "\n" + extra.strip()
    return code(source)


def exercises(number: str, items: list[str]) -> nbf.NotebookNode:
    """The exercises cell; the solutions are in ``notebooks/solutions/<number>_solutions.md``."""
    assert 3 <= len(items) <= 5, "a lesson ends with 3 to 5 exercises"
    listed = "\n".join(f"{k}. {item.strip()}" for k, item in enumerate(items, 1))
    solutions = f"{repo_url()}/blob/main/notebooks/solutions/{number}_solutions.md"
    return md(
        f"## Exercises\n\n{listed}\n\nSolutions: [`solutions/{number}_solutions.md`]({solutions}) "
        "(beside this notebook in the repository)."
    )


def next_link(number: str) -> nbf.NotebookNode:
    """The last cell: where to go next."""
    numbers = list(LESSONS)
    position = numbers.index(number)
    if position + 1 == len(numbers):
        return md(
            f"**Next:** this was the last lesson. Back to the start: [01 · {LESSONS['01'][1]}]"
            f"({LESSONS['01'][0]}.ipynb) ([Colab]({colab_url('01')}))."
        )
    following = numbers[position + 1]
    stem, title = LESSONS[following]
    return md(f"**Next:** [{following} · {title}]({stem}.ipynb) ([open in Colab]({colab_url(following)})).")


def write(number: str, cells: list) -> Path:
    """Write ``notebooks/<stem>.ipynb`` without outputs, with stable cell ids."""
    nb = nbf.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    for index, cell in enumerate(nb.cells):  # stable ids: regenerating changes only what was edited
        cell.id = f"{number}-{index:02d}"
    path = REPO / "notebooks" / f"{LESSONS[number][0]}.ipynb"
    nbf.write(nb, str(path))
    return path
