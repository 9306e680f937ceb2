"""Gray denoisers on colour photos: a decorrelating colour transform and the colour paths built on it.

A gray model meets an RGB image with independent Gaussian noise of std ``sigma`` in each channel.
Run on R, G and B one by one, it denoises three strongly correlated copies of the same scene and
leaves colour noise. The **opponent** transform moves the image to one luminance and two chroma
channels, far less correlated in natural images, in which the noise **stays independent**:

* ``Y  = (R + G + B) / 3``            noise std ``sigma / sqrt(3)``, range [0, 1]
* ``C1 = (R - B) / sqrt(2) + 0.5``    noise std ``sigma``, 0.5 for gray pixels
* ``C2 = (R - 2G + B) / sqrt(6) + 0.5``  noise std ``sigma``, 0.5 for gray pixels

Its rows are orthogonal, so the noise of each channel is Gaussian with std ``sigma * norm(row)``
(:func:`noise_factors`) and uncorrelated with the others; every channel stays in (or near)
[0, 1], the range the gray models were trained on. A gray model then denoises each channel as a
gray image (level-taking models at that channel's own level) and the result goes back to RGB.

Colour paths (``color_mode`` of :func:`denoise_tf.inference.denoise`):

* ``"opponent"``: the three opponent channels (3 model inputs per image). Best for blind and
  level-taking models.
* ``"opponent-rgb-luma"``: the two opponent chroma channels, and as luminance the mean of R, G
  and B denoised one by one (5 model inputs per image). Best for fixed-sigma models: every input
  then has the noise level they were trained at (``sigma``; the opponent luminance has
  ``sigma / sqrt(3)``, at which they oversmooth).
* ``"rgb"``: R, G and B one by one (the plain per-channel path, kept for comparison).

:func:`default_mode` picks the path from how the model was trained. Measured on the first six
CBSD68 images (protocol noise, mean PSNR in dB; RGB = ``"rgb"``, opp = ``"opponent"``,
opp+luma = ``"opponent-rgb-luma"``; ``benchmarks/bench_colour.py``, all 68 images in
``benchmarks/results_colour.md``)::

    model        sigma   RGB     opp     opp+luma
    dncnn-b      15      31.67   33.91   33.38
    dncnn-b      25      29.23   31.26   30.66
    dncnn-b      50      26.32   27.93   27.21
    ffdnet-gray  25      29.31   31.24   30.51
    dncnn-s15    15      31.93   31.74   33.35
    dncnn-s25    25      29.39   28.81   30.51
    dncnn-s50    50      26.27   25.73   26.97

Two other decorrelating transforms measured worse at sigma 25 and are not offered: the
orthonormal opponent transform (luminance ``(R+G+B)/sqrt3``, range [0, 1.73], noise ``sigma``):
dncnn-b 28.28, ffdnet-gray 9.28, dncnn-s25 17.34 dB, as the models fail on values above 1; and
an orthogonal YCbCr-like transform (ITU-R 601 luminance with two orthonormal chroma rows
orthogonal to it, which cannot both vanish on gray pixels, so the chroma of a gray pixel moves
with its brightness and leaves [0, 1]): 29.58, 17.24, 19.84 dB.

All functions take ``(H, W, 3)`` or ``(N, H, W, 3)`` float arrays and return float32; the
inverse undoes the forward transform to float32 rounding (about 1e-7).
"""

from __future__ import annotations

import numpy as np

_S2, _S6 = np.sqrt(2.0), np.sqrt(6.0)

#: name -> (3x3 matrix with orthogonal rows, offset added after it); float64.
TRANSFORMS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "opponent": (
        np.array([[1 / 3, 1 / 3, 1 / 3], [1 / _S2, 0.0, -1 / _S2], [1 / _S6, -2 / _S6, 1 / _S6]]),
        np.array([0.0, 0.5, 0.5]),
    ),
    "rgb": (np.eye(3), np.zeros(3)),
}

#: The colour paths a gray model can take on RGB images (``color_mode``), see the module docstring.
MODES = ("opponent", "opponent-rgb-luma", "rgb")

#: The colour path when nothing is known about the model (blind or level-taking models' best).
DEFAULT = "opponent"

#: Row-name label of each colour path (``dncnn-b (opponent)``, ``dncnn-b (per channel)``).
LABELS = {"opponent": "opponent", "opponent-rgb-luma": "opponent, per-channel luma", "rgb": "per channel"}


def available() -> list[str]:
    """The colour paths (:data:`MODES`)."""
    return list(MODES)


def _matrix(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in TRANSFORMS:
        raise ValueError(f"unknown colour transform {name!r}: expected one of {list(TRANSFORMS)}")
    return TRANSFORMS[name]


def check_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`MODES`, else ``ValueError`` naming them."""
    if mode not in MODES:
        raise ValueError(f"unknown colour path {mode!r}: expected one of {available()}")
    return mode


def _check_rgb(image, what: str = "image") -> np.ndarray:
    array = np.asarray(image)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{what} must be float (float32 in [0, 1]), got dtype {array.dtype}")
    if array.ndim not in (3, 4) or array.shape[-1] != 3:
        raise ValueError(f"{what} must be (H, W, 3) or (N, H, W, 3) (RGB, channels last), got shape {array.shape}")
    return array


def forward(image, name: str = "opponent") -> np.ndarray:
    """RGB -> the channels of transform ``name`` (:data:`TRANSFORMS`).

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` or ``(N, H, W, 3)`` float RGB, nominally in [0, 1] (noisy values may leave it).
    name : {"opponent", "rgb"}

    Returns
    -------
    ndarray
        float32, the shape of ``image``; opponent: the luminance, then the two chroma channels.
    """
    matrix, offset = _matrix(name)
    array = _check_rgb(image)
    return (array.astype(np.float64) @ matrix.T + offset).astype(np.float32)


def inverse(channels, name: str = "opponent") -> np.ndarray:
    """The channels of transform ``name`` -> RGB (not clipped): undoes :func:`forward`.

    Parameters
    ----------
    channels : ndarray
        ``(H, W, 3)`` or ``(N, H, W, 3)`` float, as :func:`forward` returns.
    name : {"opponent", "rgb"}

    Returns
    -------
    ndarray
        float32 RGB, the shape of ``channels``.
    """
    matrix, offset = _matrix(name)
    array = _check_rgb(channels, "channels")
    return ((array.astype(np.float64) - offset) @ np.linalg.inv(matrix).T).astype(np.float32)


def noise_factors(mode: str = DEFAULT) -> np.ndarray:
    """Noise std of each gray channel of colour path ``mode`` per unit of RGB noise std.

    Independent RGB noise of std ``sigma`` becomes independent noise of std
    ``sigma * noise_factors(mode)[i]`` in gray channel ``i`` (the order of :func:`split`):
    ``opponent`` ``(1/sqrt3, 1, 1)``, ``rgb`` ``(1, 1, 1)``, ``opponent-rgb-luma``
    ``(1, 1, 1, 1, 1)`` (R, G, B, C1, C2).

    Returns
    -------
    ndarray
        ``(3,)`` or ``(5,)`` float64.
    """
    check_mode(mode)
    if mode == "opponent-rgb-luma":
        return np.ones(5)
    return np.linalg.norm(_matrix(mode)[0], axis=1)


def channel_sigmas(sigma, mode: str = DEFAULT) -> np.ndarray:
    """The noise level of each gray channel of ``mode`` for RGB noise of std ``sigma`` (any scale).

    ``sigma`` is one number or one per image ``(N,)``; the result is ``(K,)`` or ``(N, K)``,
    ``K`` the channel count of :func:`split`.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    return sigma[..., None] * noise_factors(mode)


def split(images, mode: str = DEFAULT, sigma=None) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB images -> the gray images a gray model denoises on colour path ``mode``.

    Parameters
    ----------
    images : ndarray
        ``(N, H, W, 3)`` float RGB (noisy; values may leave [0, 1]).
    mode : str
        One of :data:`MODES`.
    sigma : ndarray or None
        ``(N,)`` RGB noise level of each image (any scale), or None.

    Returns
    -------
    gray : ndarray
        ``(N * K, H, W, 1)`` float32, image-major (the ``K`` channels of image 0 first).
    levels : ndarray or None
        ``(N * K,)`` float32, each gray image's own noise level (``sigma`` times
        :func:`noise_factors`); None when ``sigma`` is None.
    """
    check_mode(mode)
    images = _check_rgb(images, "images")
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (N, H, W, 3), got shape {images.shape}")
    n, h, w, _ = images.shape
    if mode == "opponent-rgb-luma":
        channels = np.concatenate([images.astype(np.float32), forward(images, "opponent")[..., 1:]], axis=-1)
    else:
        channels = forward(images, mode)
    k = channels.shape[-1]
    gray = np.ascontiguousarray(np.moveaxis(channels, -1, 1).reshape(n * k, h, w, 1))
    levels = None
    if sigma is not None:
        levels = channel_sigmas(np.asarray(sigma, dtype=np.float64).reshape(n), mode).reshape(-1).astype(np.float32)
    return gray, levels


def merge(gray, mode: str = DEFAULT) -> np.ndarray:
    """The denoised gray images of :func:`split` -> RGB images (not clipped).

    Parameters
    ----------
    gray : ndarray
        ``(N * K, H, W, 1)`` float, in the order :func:`split` returned.
    mode : str
        The colour path :func:`split` used.

    Returns
    -------
    ndarray
        ``(N, H, W, 3)`` float32 RGB. ``opponent-rgb-luma``: the luminance of the denoised R, G, B
        with the denoised opponent chroma.
    """
    check_mode(mode)
    gray = np.asarray(gray)
    k = len(noise_factors(mode))
    if gray.ndim != 4 or gray.shape[-1] != 1 or gray.shape[0] % k:
        raise ValueError(f"gray must be (N * {k}, H, W, 1) for colour path {mode!r}, got shape {gray.shape}")
    _, h, w, _ = gray.shape
    channels = np.moveaxis(gray.reshape(-1, k, h, w), 1, -1)
    if mode == "opponent-rgb-luma":
        luma = channels[..., :3].astype(np.float64).mean(axis=-1, keepdims=True)
        return inverse(np.concatenate([luma, channels[..., 3:]], axis=-1), "opponent")
    return inverse(channels, mode)


def default_mode(training_noise: str | None) -> str:
    """The colour path for a gray model trained on ``training_noise`` (a noise spec, or None if unknown).

    Gaussian noise at one fixed sigma (``gaussian:sigma=25``): ``"opponent-rgb-luma"``; anything
    else (a sigma range: blind models, level-taking models, unknown): :data:`DEFAULT`. Chosen
    by measurement (module docstring).
    """
    if training_noise is None:
        return DEFAULT
    from . import noise

    try:
        spec = noise.parse(training_noise)
    except (ValueError, TypeError):
        return DEFAULT
    sigma = spec.params.get("sigma")
    if spec.kind == "gaussian" and isinstance(sigma, (int, float)) and sigma > 0:
        return "opponent-rgb-luma"
    return DEFAULT


__all__ = [
    "TRANSFORMS", "MODES", "DEFAULT", "LABELS", "available", "check_mode", "forward", "inverse",
    "noise_factors", "channel_sigmas", "split", "merge", "default_mode",
]
