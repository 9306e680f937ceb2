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


# --- a gray image through the colour opponent-space model ---------------------------------------


def _camera_noisy(size=(64, 72)):
    from pathlib import Path

    import denoise_tf
    from denoise_tf import datasets, noise

    clean = datasets.read_image(Path(denoise_tf.__file__).parent / "samples" / "camera.png")[64 : 64 + size[0], 64 : 64 + size[1]]
    return clean, noise.apply(clean, "gaussian:sigma=25", seed=[0, 0])


def _recording(monkeypatch):
    """``calls``: ``(model name, batch shape)`` of every compiled model call from now on."""
    from denoise_tf import inference

    calls, original = [], inference.compiled_call

    def recording(model):
        function = original(model)

        def call(*inputs):
            calls.append((model.name, inputs[0].shape))
            return function(*inputs)

        return call

    monkeypatch.setattr(inference, "compiled_call", recording)
    return calls


def test_the_colour_opponent_model_denoises_a_gray_image_in_one_gray_pass(monkeypatch):
    """Gray in: the shared gray net runs once, on the image (its own luminance), not on three planes.

    The result is the 3-channel path's luminance (1e-5); the 3-channel path's gray output adds
    ``k1 d1 + k2 d2`` (``d``: the net's response to the flat noise-free 0.5 chroma planes, ``k``
    the ITU-R 601 weights of the inverse opponent columns), which this checks too.
    """
    from denoise_tf import inference, pretrained, zoo

    if "cdncnn-opponent" not in pretrained.available():
        pytest.skip("no shipped cdncnn-opponent")
    import keras

    clean, noisy = _camera_noisy()
    h, w, _ = noisy.shape
    calls = _recording(monkeypatch)
    denoiser = zoo.make_denoiser("cdncnn-opponent", backend="keras")
    assert isinstance(denoiser, zoo.OpponentDenoiser) and zoo.luminance_model(denoiser.model) is denoiser.luminance
    one = denoiser.denoise(noisy)
    assert calls == [(denoiser.luminance.name, (1, h, w, 1))] and one.shape == noisy.shape
    calls.clear()
    three = inference.NeuralDenoiser(denoiser.model).denoise(noisy)  # repeated to RGB: Y, C1, C2 through the net
    assert calls == [(denoiser.model.name, (1, h, w, 3))]

    model = denoiser.model
    inner = keras.Model(model.input, model.get_layer("denoised_gray").output)
    planes = keras.ops.convert_to_numpy(inner(np.repeat(noisy[None], 3, axis=-1), training=False))  # (3, H, W, 1)
    np.testing.assert_allclose(one, np.clip(planes[0], 0, 1), atol=1e-5)
    d1, d2 = planes[1] - 0.5, planes[2] - 0.5
    k1, k2 = (0.299 - 0.114) / np.sqrt(2), (0.299 - 2 * 0.587 + 0.114) / np.sqrt(6)
    np.testing.assert_allclose(three, np.clip(planes[0] + k1 * d1 + k2 * d2, 0, 1), atol=1e-5)
    assert np.abs(one - three).max() <= 0.2 * max(np.abs(d1).max(), np.abs(d2).max()) + 1e-5 < 2e-3

    calls.clear()  # RGB with three equal channels is gray too; a colour photo still runs the colour model
    np.testing.assert_array_equal(denoiser.denoise(np.repeat(noisy, 3, axis=-1)), np.repeat(one, 3, axis=-1))
    assert calls == [(denoiser.luminance.name, (1, h, w, 1))]
    calls.clear()
    colour_photo = np.clip(np.repeat(noisy, 3, axis=-1) + np.array([0.0, 0.01, -0.01], np.float32), -1, 2)
    assert denoiser.denoise(colour_photo).shape == colour_photo.shape and calls == [(model.name, (1, h, w, 3))]


@pytest.mark.slow
def test_a_gray_image_takes_the_tflite_path_of_the_luminance_network(monkeypatch, tmp_path):
    from denoise_tf import export, pretrained, zoo

    if "cdncnn-opponent" not in pretrained.available():
        pytest.skip("no shipped cdncnn-opponent")
    if export.tflite_unavailable():
        pytest.skip(export.tflite_unavailable())
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _, noisy = _camera_noisy((48, 40))
    fast = zoo.make_denoiser("cdncnn-opponent", backend="tflite")
    keras_path = zoo.make_denoiser("cdncnn-opponent", backend="keras")
    assert fast.backend == "tflite" and fast.gray_denoiser().backend == "tflite"
    assert keras_path.gray_denoiser().backend == "keras"
    np.testing.assert_allclose(fast.denoise(noisy), keras_path.denoise(noisy), atol=1e-4)
    again = zoo.neural_denoiser(fast.model, "cdncnn-opponent", exported=fast.exported)  # as the web page makes them
    assert again.gray_denoiser().exported is fast.gray_denoiser().exported  # one export per colour export
    assert sorted(p.name.split("-")[-2] for p in (tmp_path / "denoise_tf" / "exports").glob("*.tflite")) == ["luminance", "opponent"]
