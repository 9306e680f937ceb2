"""Colour paths for gray models: exact inverse, independent noise at the stated levels, split/merge, the default."""

import numpy as np
import pytest

from denoise_tf import colour


def rgb(shape, seed=0, low=0.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


@pytest.mark.parametrize("name", list(colour.TRANSFORMS))
@pytest.mark.parametrize("shape", [(17, 23, 3), (2, 9, 11, 3)], ids=["HWC", "NHWC"])
def test_inverse_undoes_forward(name, shape):
    image = rgb(shape, seed=1, low=-0.3, high=1.3)  # noisy values leave [0, 1]
    channels = colour.forward(image, name)
    assert channels.shape == shape and channels.dtype == np.float32
    back = colour.inverse(channels, name)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, image, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(colour.TRANSFORMS))
def test_rows_are_orthogonal_and_the_factors_are_their_norms(name):
    """Orthogonal rows: independent RGB noise stays independent, std sigma * factor per channel."""
    matrix, _ = colour.TRANSFORMS[name]
    gram = matrix @ matrix.T
    np.testing.assert_allclose(gram, np.diag(colour.noise_factors(name) ** 2), atol=1e-12)


@pytest.mark.parametrize("name", ["opponent", "rgb"])
def test_transformed_noise_has_the_stated_levels_and_no_correlation(name):
    sigma = 25.0
    noise = np.random.default_rng(2).normal(0.0, sigma / 255.0, (256, 256, 3)).astype(np.float32)
    base = np.full_like(noise, 0.5)
    diff = (colour.forward(base + noise, name) - colour.forward(base, name)).reshape(-1, 3).astype(np.float64)
    stds = diff.std(axis=0) * 255.0
    np.testing.assert_allclose(stds, colour.channel_sigmas(sigma, name), rtol=0.02)  # 65536 samples: ~0.3% spread
    correlation = np.corrcoef(diff.T)
    assert np.abs(correlation - np.eye(3)).max() < 0.02


def test_opponent_channels():
    factors = colour.noise_factors("opponent")
    np.testing.assert_allclose(factors, [1 / np.sqrt(3), 1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(colour.channel_sigmas([15.0, 30.0], "opponent"), np.outer([15, 30], factors))
    gray = np.full((2, 2, 3), 0.3, np.float32)  # a gray pixel: luminance itself, chroma at the centre
    np.testing.assert_allclose(colour.forward(gray, "opponent"), np.broadcast_to([0.3, 0.5, 0.5], (2, 2, 3)), atol=1e-7)
    red = np.zeros((1, 1, 3), np.float32)
    red[..., 0] = 1.0
    np.testing.assert_allclose(colour.forward(red, "opponent")[0, 0], [1 / 3, 0.5 + 1 / np.sqrt(2), 0.5 + 1 / np.sqrt(6)], atol=1e-6)


def test_rgb_is_the_identity():
    image = rgb((5, 6, 3), seed=3)
    np.testing.assert_array_equal(colour.forward(image, "rgb"), image)
    np.testing.assert_array_equal(colour.inverse(image, "rgb"), image)
    np.testing.assert_array_equal(colour.noise_factors("rgb"), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("mode", colour.available())
def test_split_and_merge_round_trip_with_levels(mode):
    images = rgb((2, 7, 9, 3), seed=4, low=-0.2, high=1.2)
    gray, levels = colour.split(images, mode, sigma=np.array([10.0, 40.0]))
    k = {"opponent": 3, "rgb": 3, "opponent-rgb-luma": 5}[mode]
    assert gray.shape == (2 * k, 7, 9, 1) and gray.dtype == np.float32
    np.testing.assert_allclose(levels, np.concatenate([10 * colour.noise_factors(mode), 40 * colour.noise_factors(mode)]), rtol=1e-6)
    np.testing.assert_allclose(colour.merge(gray, mode), images, atol=1e-6)  # a perfect denoiser changes nothing
    assert colour.split(images, mode)[1] is None


def test_the_rgb_luma_path_takes_the_luminance_from_r_g_b_and_the_chroma_from_opponent():
    images = rgb((1, 4, 5, 3), seed=5)
    gray, _ = colour.split(images, "opponent-rgb-luma")
    np.testing.assert_array_equal(gray[:3, ..., 0], np.moveaxis(images[0], -1, 0))  # R, G, B first
    np.testing.assert_allclose(gray[3:, ..., 0], np.moveaxis(colour.forward(images, "opponent")[0, ..., 1:], -1, 0), atol=1e-7)
    edited = gray.copy()
    edited[0] += 0.03  # R moved by 0.03: the luminance by 0.01, the chroma unchanged
    expected = colour.inverse(colour.forward(images, "opponent") + np.array([0.01, 0, 0], np.float32), "opponent")
    np.testing.assert_allclose(colour.merge(edited, "opponent-rgb-luma"), expected, atol=1e-6)


def test_default_mode_follows_the_training_noise():
    assert colour.default_mode("gaussian:sigma=25") == "opponent-rgb-luma"  # fixed sigma (dncnn-s25)
    assert colour.default_mode("gaussian:sigma=0-55") == "opponent"  # blind (dncnn-b)
    assert colour.default_mode("gaussian:sigma=0-75") == "opponent"  # level-taking (ffdnet-gray)
    assert colour.default_mode("iso:iso=3200") == "opponent"
    assert colour.default_mode(None) == colour.DEFAULT == "opponent"


def test_bad_input():
    with pytest.raises(ValueError, match=r"unknown colour transform 'lab': expected one of \['opponent', 'rgb'\]"):
        colour.forward(rgb((4, 4, 3)), "lab")
    with pytest.raises(ValueError, match=r"unknown colour path 'hsv': expected one of \['opponent', 'opponent-rgb-luma', 'rgb'\]"):
        colour.split(rgb((1, 4, 4, 3)), "hsv")
    with pytest.raises(ValueError, match=r"\(H, W, 3\) or \(N, H, W, 3\).*got shape \(4, 4, 1\)"):
        colour.forward(rgb((4, 4, 1)))
    with pytest.raises(ValueError, match=r"channels must be .*got shape \(4, 4\)"):
        colour.inverse(rgb((4, 4)))
    with pytest.raises(ValueError, match=r"a batch \(N, H, W, 3\)"):
        colour.split(rgb((4, 4, 3)))
    with pytest.raises(ValueError, match=r"gray must be \(N \* 5, H, W, 1\)"):
        colour.merge(rgb((6, 4, 4, 1)), "opponent-rgb-luma")
    with pytest.raises(TypeError, match="float32 in"):
        colour.forward(np.zeros((4, 4, 3), np.uint8))
    assert colour.DEFAULT in colour.available() and set(colour.LABELS) == set(colour.available())
