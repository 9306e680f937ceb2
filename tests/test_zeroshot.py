"""Zero-shot denoising of one image: the down-sampled pairs, the fit, the registry name, bad input."""

import time

import numpy as np
import pytest

from denoise_tf import classical, metrics, zeroshot, zoo


def _smooth(size: int = 32, channels: int = 1) -> np.ndarray:
    """A smooth synthetic image: a ramp plus a slow sinusoid, float32 in [0.1, 0.9]."""
    rows, cols = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.25 * np.sin(2 * np.pi * rows) * np.cos(np.pi * cols) + 0.15 * (cols - 0.5)
    planes = [base + 0.05 * k for k in range(channels)]
    return np.stack(planes, axis=-1).astype(np.float32)


def _noisy(clean: np.ndarray, sigma: float = 25.0, seed: int = 0) -> np.ndarray:
    return (clean + np.random.default_rng(seed).normal(0, sigma / 255, clean.shape)).astype(np.float32)


FAST = dict(steps=40, patch=0, max_seconds=float("inf"), progress=False)


def test_pairs_are_the_diagonal_averages_of_disjoint_pixels():
    image = np.random.default_rng(1).random((1, 6, 8, 2)).astype(np.float32)
    first, second = (np.asarray(a) for a in zeroshot.pair_downsample(image))
    y = image[0]
    assert first.shape == second.shape == (1, 3, 4, 2)
    np.testing.assert_allclose(first[0], (y[0::2, 1::2] + y[1::2, 0::2]) / 2, atol=1e-6)
    np.testing.assert_allclose(second[0], (y[0::2, 0::2] + y[1::2, 1::2]) / 2, atol=1e-6)
    # no pixel of the image reaches both halves of a pair: a change to one pixel moves one half only
    for row, col in [(0, 0), (0, 1), (1, 0), (1, 1), (4, 7)]:
        poked = image.copy()
        poked[0, row, col] += 1.0
        moved = [not np.allclose(np.asarray(a), b) for a, b in zip(zeroshot.pair_downsample(poked), (first, second))]
        assert sum(moved) == 1


def test_network_is_small_and_the_paper_size():
    assert zeroshot.build_network(1).count_params() == 21313
    assert zeroshot.build_network(3).count_params() == 22275


def test_improves_a_smooth_image_and_is_deterministic():
    clean = _smooth()
    noisy = _noisy(clean)
    denoiser = zeroshot.ZeroShotDenoiser(**FAST)
    out = denoiser.denoise(noisy)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert metrics.psnr(clean, out) > metrics.psnr(clean, np.clip(noisy, 0, 1)) + 3.0
    assert denoiser.last_fit["steps"] == 40 and not denoiser.last_fit["capped"]
    np.testing.assert_array_equal(zeroshot.ZeroShotDenoiser(**FAST).denoise(noisy), out)


@pytest.mark.parametrize("shape", [(24, 30), (24, 30, 1), (24, 30, 3), (2, 20, 22, 1), (21, 23, 3)])
def test_shapes_and_range(shape):
    image = np.random.default_rng(2).normal(0.5, 0.3, shape).astype(np.float32)  # leaves [0, 1]
    out = zeroshot.ZeroShotDenoiser(steps=3, patch=12, progress=False).denoise(image)
    assert out.shape == image.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_crops_are_even_and_inside_the_image():
    corners, size = zeroshot.crop_offsets((41, 30, 1), 12, 200, seed=3)
    assert size == (12, 12) and corners.shape == (200, 2)
    assert np.all(corners % 2 == 0) and np.all(corners >= 0)
    assert corners[:, 0].max() + 12 <= 40 and corners[:, 1].max() + 12 <= 30
    whole = zeroshot.crop_offsets((41, 30, 1), 0, 5, seed=3)
    assert whole[1] == (40, 30) and not whole[0].any()


def test_time_cap_stops_the_fit():
    denoiser = zeroshot.ZeroShotDenoiser(steps=10**6, patch=0, max_seconds=1.0, progress=False)
    start = time.monotonic()
    out = denoiser.denoise(_noisy(_smooth(64)))
    assert time.monotonic() - start < 120  # the cap, graph building and one full-image pass
    assert denoiser.last_fit["capped"] and 1 <= denoiser.last_fit["steps"] < 10**6
    assert out.shape == (64, 64, 1)


@pytest.mark.parametrize(
    "image, error, message",
    [
        (np.zeros((8, 40, 1), np.float32), ValueError, "too small.*at least 10x10"),
        (np.zeros((20, 20, 4), np.float32), ValueError, "C 1 \\(gray\\) or 3"),
        (np.full((20, 20, 1), np.nan, np.float32), ValueError, "NaN"),
        (np.full((20, 20, 1), 200.0, np.float32), ValueError, "divide a 0-255 image by 255"),
        (np.zeros((20, 20, 1), np.uint8), TypeError, "divide by 255"),
    ],
)
def test_bad_images_are_refused_before_any_fit(image, error, message):
    with pytest.raises(error, match=message):
        zeroshot.ZeroShotDenoiser(progress=False).denoise(image)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(steps=0), "steps must be a positive int"),
        (dict(patch=15), "patch must be 0 .* or an even int"),
        (dict(patch=4), "patch must be 0"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(max_seconds=0), "max_seconds"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        zeroshot.ZeroShotDenoiser(**options)


def test_registered_like_any_denoiser():
    assert "zero-shot" in classical.available() and not classical.takes_sigma("zero-shot")
    assert zoo.model_kind("zero-shot") == "classical"
    denoiser = zoo.make_denoiser("zero-shot", sigma=25, steps=5, patch=12, progress=False)
    assert denoiser.name == "zero-shot"
    noisy = _noisy(_smooth(24, 3))
    np.testing.assert_array_equal(denoiser.denoise(noisy), zeroshot.denoise(noisy, steps=5, patch=12, progress=False))
    with pytest.raises(ValueError, match="too small"):
        classical.denoise(np.zeros((9, 9, 1), np.float32), "zero-shot")
    with pytest.raises(ValueError, match="unknown option"):
        classical.get("zero-shot", sigma_scale=2)
