"""Shared pytest fixtures and markers."""

from pathlib import Path

import numpy as np
import pytest

#: The project's shared data folder (``../shared/data`` beside the repository), if present.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (deselect with -m 'not slow')")
    config.addinivalue_line("markers", "full: repeats a slow check at more settings; run with -m full (CI does)")


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
