"""Classical denoisers: one call for every method, shapes/dtypes, sigma estimation, quality order."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from denoise_tf import classical, noise
from denoise_tf.metrics import psnr

METHODS = ["mean", "median", "gaussian", "bilateral", "nlm", "tv", "wavelet", "bm3d"]


def noisy_pair(channels: int, size: int = 48, sigma: float = 25.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    if channels == 1:
        clean = data.camera()[200 : 200 + size, 200 : 200 + size, None]
    else:
        clean = data.astronaut()[100 : 100 + size, 180 : 180 + size]
    clean = (clean / 255.0).astype(np.float32)
    noisy = (clean + rng.normal(0, sigma / 255.0, clean.shape)).astype(np.float32)
    return clean, noisy


def test_registry_lists_every_method():
    names = classical.available()
    assert sorted(names) == sorted(METHODS + ["zero-shot"])  # zero-shot: tests/test_zeroshot.py
    assert all(isinstance(doc, str) and doc for doc in names.values())


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "colour"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_shape_dtype_range_and_gain(method, channels):
    clean, noisy = noisy_pair(channels, size=32 if method == "bm3d" else 48)
    out = classical.denoise(noisy, method, sigma=25)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert psnr(clean, out) > psnr(clean, np.clip(noisy, 0, 1)) + 1.0  # every method helps at sigma 25


@pytest.mark.parametrize("method", ["gaussian", "nlm", "tv"])
def test_sigma_is_estimated_when_none(method):
    clean, noisy = noisy_pair(1, size=64)
    estimated = noise.estimate_sigma(noisy)
    assert 20 < estimated < 30
    expected = classical.denoise(noisy, method, sigma=estimated)
    np.testing.assert_allclose(classical.denoise(noisy, method), expected, atol=1e-6)


def test_two_dimensional_and_batch_inputs():
    clean, noisy = noisy_pair(1)
    out2d = classical.denoise(noisy[..., 0], "median")
    assert out2d.shape == noisy.shape[:2]
    batch = np.stack([noisy, noisy[::-1]])
    out = classical.denoise(batch, "gaussian", sigma=25)
    assert out.shape == batch.shape
    np.testing.assert_allclose(out[0], classical.denoise(noisy, "gaussian", sigma=25), atol=1e-6)


def test_defaults_and_overrides():
    clean, noisy = noisy_pair(1)
    assert not np.allclose(classical.denoise(noisy, "median"), classical.denoise(noisy, "median", size=5))
    wider = classical.denoise(noisy, "gaussian", sigma=25, blur=2.0)
    assert not np.allclose(classical.denoise(noisy, "gaussian", sigma=25), wider)
    # mean/median ignore sigma; sigma = 0 leaves the image alone for the sigma methods
    np.testing.assert_array_equal(classical.denoise(noisy, "mean", sigma=50), classical.denoise(noisy, "mean"))
    np.testing.assert_array_equal(classical.denoise(noisy, "tv", sigma=0), np.clip(noisy, 0, 1))


def test_get_returns_a_denoiser_object():
    clean, noisy = noisy_pair(3)
    denoiser = classical.get("bilateral", sigma=25, d=5)
    assert denoiser.name == "bilateral"
    assert "bilateral" in repr(denoiser)
    np.testing.assert_array_equal(denoiser.denoise(noisy), classical.denoise(noisy, "bilateral", sigma=25, d=5))


def test_errors():
    clean, noisy = noisy_pair(1)
    with pytest.raises(ValueError, match=r"unknown classical method 'foo'.*bm3d.*median"):
        classical.denoise(noisy, "foo")
    with pytest.raises(ValueError, match="unknown classical method"):
        classical.get("foo")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['window'\].*size"):
        classical.get("median", window=3)
    with pytest.raises(ValueError, match="sigma"):
        classical.denoise(noisy, "tv", sigma=-1)
    with pytest.raises(ValueError, match="channels"):
        classical.denoise(np.zeros((16, 16, 2), np.float32), "mean")
    with pytest.raises(ValueError, match="shape"):
        classical.denoise(np.zeros(16, np.float32), "mean")
    with pytest.raises(TypeError, match="float32"):
        classical.denoise(np.zeros((16, 16, 1), np.uint8), "mean")
    with pytest.raises(ValueError, match="size"):
        classical.denoise(noisy, "median", size=0)



@pytest.mark.parametrize("sigma", [255.5, 1e9])
@pytest.mark.parametrize("method", ["bm3d", "gaussian"])
def test_sigma_beyond_the_0_255_scale_is_refused(method, sigma):
    """A sigma of 1e9 made BM3D return a black image: levels live on the 0-255 scale."""
    clean, noisy = noisy_pair(1, size=16)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        classical.denoise(noisy, method, sigma=sigma)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        classical.get(method, sigma=sigma)
    assert classical.denoise(noisy, "gaussian", sigma=255).shape == noisy.shape  # the top of the scale is fine


@pytest.mark.parametrize("shape", [(1, 1, 1), (4, 40, 1), (8, 8, 1), (8, 8, 3), (40, 7, 3)])
def test_bm3d_refuses_images_smaller_than_its_blocks(shape):
    """The library gives a traceback below its 8x8 blocks and crashes the process at exactly 8x8."""
    image = np.full(shape, 0.5, np.float32)
    with pytest.raises(ValueError, match=r"bm3d needs images of at least 9x9 pixels.*got \d+x\d+"):
        classical.denoise(image, "bm3d", sigma=25)
    with pytest.raises(ValueError, match="at least 9x9"):
        classical.denoise(image, "bm3d")  # refused before the noise level is estimated
    assert classical.denoise(np.full((9, 12, 1), 0.5, np.float32), "bm3d", sigma=25).shape == (9, 12, 1)
    with pytest.raises(ValueError, match="profile"):
        classical.denoise(np.full((16, 16, 1), 0.5, np.float32), "bm3d", sigma=25, profile="fast")

@pytest.mark.slow
def test_bm3d_beats_noisy_and_median_on_camera():
    """~3 s: BM3D on a 128x128 camera crop at sigma 25."""
    rng = np.random.default_rng(25)
    clean = (data.camera()[64:192, 160:288, None] / 255.0).astype(np.float32)
    noisy = (clean + rng.normal(0, 25 / 255.0, clean.shape)).astype(np.float32)
    scores = {m: psnr(clean, classical.denoise(noisy, m, sigma=25)) for m in ("bm3d", "median", "gaussian", "nlm")}
    noisy_psnr = psnr(clean, np.clip(noisy, 0, 1))
    assert scores["bm3d"] > noisy_psnr + 8
    assert scores["bm3d"] > scores["median"] + 2
    assert scores["bm3d"] == max(scores.values())


def test_bm3d_beats_median_fast():
    """The quick version of the check above (64x64, ~0.5 s)."""
    rng = np.random.default_rng(1)
    clean = (data.camera()[100:164, 200:264, None] / 255.0).astype(np.float32)
    noisy = (clean + rng.normal(0, 25 / 255.0, clean.shape)).astype(np.float32)
    bm3d = psnr(clean, classical.denoise(noisy, "bm3d", sigma=25))
    assert bm3d > psnr(clean, np.clip(noisy, 0, 1)) + 6
    assert bm3d > psnr(clean, classical.denoise(noisy, "median"))
