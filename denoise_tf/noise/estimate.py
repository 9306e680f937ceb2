"""The noise level of an image: Donoho & Johnstone's wavelet MAD estimate of a Gaussian sigma.

:func:`estimate_sigma` is the package's one estimator: the classical methods call it when no
sigma is given, the web page when asked to estimate, and the lessons to measure noise. Its
numbers are those of ``skimage.restoration.estimate_sigma`` (``channel_axis=-1,
average_sigmas=True``) to the last bit: the db2 transform below adds the products in the order
PyWavelets' C code does, so exact zeros (left out of the median) fall where they fall there.
"""

from __future__ import annotations

import functools

import numpy as np

from .kinds import check_images

#: Daubechies-2 decomposition high-pass filter (as PyWavelets' ``Wavelet("db2").dec_hi``).
_DB2_HIGH = np.array(
    [-0.48296291314453416, 0.8365163037378079, -0.2241438680420134, -0.12940952255126037], dtype=np.float64
)
#: 75th percentile of the standard normal: MAD -> sigma.
_MAD_TO_SIGMA = 0.6744897501960817


@functools.lru_cache(maxsize=32)
def _symmetric_terms(n: int, taps: int = 4, step: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Filter and input indices ``(outputs, taps)`` of a strided 'symmetric' convolution, in summation order.

    Output ``o`` is ``sum(filter[f[o, t]] * x[i[o, t]] for t in range(taps))`` added left to
    right, with the terms in the order of PyWavelets' ``downsampling_convolution`` (left edge,
    centre, a filter wider than the signal, right edge), where the mirrored samples of the
    edges are not taken in filter order.
    """
    filters, inputs = [], []

    def mirrored_left(j, f, x):  # filter taps past the left edge: x[0], x[1]..., then x[n-1], x[n-2]...
        while j < taps:
            k = 0
            while k < n and j < taps:
                f.append(j), x.append(k)
                j, k = j + 1, k + 1
            k = 0
            while k < n and j < taps:
                f.append(j), x.append(n - 1 - k)
                j, k = j + 1, k + 1
        return j

    def mirrored_right(i, j, f, x):  # taps past the right edge, the filter read backwards
        while i - j >= n:
            k = 0
            while k < n and i - j >= n:
                f.append(i - n - j), x.append(n - 1 - k)
                j, k = j + 1, k + 1
            k = 0
            while k < n and i - j >= n:
                f.append(i - n - j), x.append(k)
                j, k = j + 1, k + 1
        return j

    i = step - 1
    while i < taps and i < n:  # the filter overhangs the left edge
        f, x = list(range(i + 1)), [i - j for j in range(i + 1)]
        mirrored_left(i + 1, f, x)
        filters.append(f), inputs.append(x)
        i += step
    while i < n:  # inside the signal
        filters.append(list(range(taps))), inputs.append([i - j for j in range(taps)])
        i += step
    while i < taps:  # the filter overhangs both edges
        f, x = [], []
        j = mirrored_right(i, 0, f, x)
        while j <= i:
            f.append(j), x.append(i - j)
            j += 1
        mirrored_left(j, f, x)
        filters.append(f), inputs.append(x)
        i += step
    while i < n + taps - 1:  # the filter overhangs the right edge
        f, x = [], []
        j = mirrored_right(i, 0, f, x)
        f += list(range(j, taps))
        x += [i - k for k in range(j, taps)]
        filters.append(f), inputs.append(x)
        i += step
    return np.array(filters, dtype=np.intp), np.array(inputs, dtype=np.intp)


def _dwt_high(x: np.ndarray, axis: int) -> np.ndarray:
    """Detail coefficients of a one-level db2 DWT along ``axis`` (PyWavelets 'symmetric' mode), float64."""
    filters, inputs = _symmetric_terms(x.shape[axis])
    shape = [1] * x.ndim
    shape[axis] = len(filters)
    out = 0.0
    for t in range(filters.shape[1]):
        out = out + _DB2_HIGH[filters[:, t]].reshape(shape) * np.take(x, inputs[:, t], axis=axis)
    return out


def estimate_sigma(image) -> "float | np.ndarray":
    """Estimate the standard deviation of additive Gaussian noise (robust wavelet MAD).

    Donoho & Johnstone's estimator: ``sigma = median(|HH|) / 0.6745`` where ``HH`` are the
    finest diagonal detail coefficients of a db2 wavelet transform (exact zeros, e.g. saturated
    flat areas, are left out). The numbers are ``skimage.restoration.estimate_sigma``'s, without
    PyWavelets. Texture leaks into ``HH``, so clean-ish textured images give a few units rather
    than 0, and clipped noise reads low.

    Parameters
    ----------
    image : ndarray
        ``(H, W, C)`` or ``(N, H, W, C)`` float in ``[0, 1]``, ``C`` 1 or 3.

    Returns
    -------
    float or ndarray
        Sigma on the 0-255 scale: a float for one image, ``(N,)`` float64 for a batch. Colour
        images average the per-channel estimates; a channel whose coefficients are all exactly
        zero (a constant image) reads 0.
    """
    images = check_images(image)
    single = images.ndim == 3
    batch = (images[None] if single else images).astype(np.float64)
    if min(batch.shape[1:3]) < 1:
        raise ValueError(f"image is empty: shape {images.shape}")
    sigmas = np.empty(batch.shape[0], dtype=np.float64)
    for i, item in enumerate(batch):
        per_channel = []
        for ch in range(item.shape[-1]):
            hh = _dwt_high(_dwt_high(item[..., ch], axis=0), axis=1)
            hh = hh[np.nonzero(hh)]
            per_channel.append(np.median(np.abs(hh)) / _MAD_TO_SIGMA if hh.size else 0.0)
        sigmas[i] = 255.0 * float(np.mean(per_channel))
    return float(sigmas[0]) if single else sigmas
