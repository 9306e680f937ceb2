"""BM3D's thread count: 1 by default (bit-identical repeats), more only when asked for."""

from __future__ import annotations

import numpy as np
import pytest

from denoise_tf import classical

ENV = classical.BM3D_THREADS_ENV


def _noisy(size: int = 48, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    clean = np.repeat((0.5 + 0.4 * np.sin(6 * x) * np.cos(4 * y))[..., None], channels, axis=-1)
    return (clean + rng.normal(0, 25 / 255, clean.shape)).astype(np.float32)


@pytest.fixture
def seen_threads(monkeypatch):
    """The ``num_threads`` of every profile handed to the bm3d library (stands in for it: returns z)."""
    import bm3d

    seen = []

    def spy(z, sigma_psd, profile="np", *args, **kwargs):
        seen.append(profile.num_threads)
        return np.asarray(z)

    monkeypatch.setattr(bm3d, "bm3d", spy)  # bm3d_rgb (CBM3D) calls it too
    return seen


def test_one_thread_by_default_more_only_when_asked(monkeypatch, seen_threads):
    monkeypatch.delenv(ENV, raising=False)
    image = _noisy(24)
    classical.denoise(image, "bm3d", sigma=25)
    classical.denoise(_noisy(24, channels=3), "bm3d", sigma=25)  # CBM3D too
    monkeypatch.setenv(ENV, "8")
    classical.get("bm3d", sigma=25).denoise(image)
    classical.denoise(image, "bm3d", sigma=25, threads=3)  # the option beats the environment
    classical.denoise(image, "bm3d", sigma=25, threads=0)  # 0: the library's one thread per CPU
    assert seen_threads == [1, 1, 8, 3, 0]


@pytest.mark.parametrize("value", ["x", "-2", "1.5"])
def test_bad_thread_settings_are_refused(monkeypatch, value):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ValueError, match=ENV):
        classical.denoise(_noisy(16), "bm3d", sigma=25)
    monkeypatch.delenv(ENV)
    with pytest.raises(ValueError, match="threads"):
        classical.denoise(_noisy(16), "bm3d", sigma=25, threads=-1)
    with pytest.raises(ValueError, match="threads"):
        classical.get("bm3d", threads=True).denoise(_noisy(16))


def test_one_thread_repeats_bit_for_bit(monkeypatch):
    """The same input twice on 1 thread: identical outputs, whatever the environment asks for."""
    monkeypatch.setenv(ENV, "8")
    image = _noisy(64)
    first = classical.denoise(image, "bm3d", sigma=25, threads=1)
    second = classical.denoise(image, "bm3d", sigma=25, threads=1)
    assert np.array_equal(first, second)
    monkeypatch.setenv(ENV, "1")
    assert np.array_equal(classical.get("bm3d", sigma=25).denoise(image), first)
