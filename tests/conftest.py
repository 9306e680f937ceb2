"""Shared pytest fixtures and markers."""

from pathlib import Path

import pytest

#: The project's shared data folder (``../shared/data`` beside the repository), if present.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (deselect with -m 'not slow')")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared data root; skips the test when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found: {SHARED_DATA}")
    return SHARED_DATA
