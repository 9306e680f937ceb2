"""Shared pytest fixtures and markers."""

from pathlib import Path

import numpy as np
import pytest

from helpers import WHEEL_LESSONS

#: The project's shared data folder (``../shared/data`` beside the repository), if present.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (deselect with -m 'not slow')")
    config.addinivalue_line("markers", "full: whole-set reproductions and each lesson's second way of running; run with -m full (CI does)")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config, items):
    """nbval's cells of the lessons the default run takes from the wheel are marked ``full``.

    tests/test_wheel.py runs those lessons from the installed package in the default run and the
    other lessons with ``-m full``; nbval runs the other lessons in the checkout by default and
    these with ``-m full``. Either way a cell that raises fails the run (``--nbval-lax`` compares
    no outputs), so each command runs every lesson once, and CI, which runs both, runs every
    lesson from the wheel and in the checkout.
    """
    for item in items:
        if item.path.suffix == ".ipynb" and item.path.stem in WHEEL_LESSONS:
            item.add_marker(pytest.mark.full)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared data root; skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """Six small gray PNGs with structure (gradients and squares)."""
    import cv2

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for k in range(6):
        y, x = np.mgrid[0:48, 0:56]
        image = (x * (k + 1) + y * 2) % 256
        image[10:30, 15:35] = rng.integers(0, 255)
        cv2.imwrite(str(folder / f"im{k}.png"), image.astype(np.uint8))
    return folder
