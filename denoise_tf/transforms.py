"""The 8 flip/rotate modes of a square grid: training augmentation and test-time self-ensemble.

``mode = 4 * flip + k``: ``k`` quarter turns, then a vertical flip when ``flip``. Training draws a
mode per patch (:func:`augment_batch`, :mod:`denoise_tf.pipeline`); the self-ensemble of
:mod:`denoise_tf.inference` denoises all 8 views and averages them back (:func:`deaugment`).
Arrays are ``(H, W, C)`` or ``(N, H, W, C)``.
"""

from __future__ import annotations

import numpy as np

#: The 8 dihedral modes: ``mode = 4 * flip + k`` where ``k`` is the number of 90 degree turns.
AUGMENT_MODES = tuple(range(8))


def augment(image: np.ndarray, mode: int) -> np.ndarray:
    """Apply one of the 8 flip/rotate modes to ``(H, W, C)`` or ``(N, H, W, C)`` arrays.

    ``mode`` in ``0..7``: ``k = mode % 4`` quarter turns, then a vertical flip if ``mode >= 4``.
    Mode 0 is the identity; :func:`deaugment` inverts.
    """
    if mode not in AUGMENT_MODES:
        raise ValueError(f"augmentation mode must be in 0..7, got {mode}")
    axes = (0, 1) if image.ndim == 3 else (1, 2)
    out = np.rot90(image, k=mode % 4, axes=axes)
    if mode >= 4:
        out = np.flip(out, axis=axes[0])
    return out


def deaugment(image: np.ndarray, mode: int) -> np.ndarray:
    """Inverse of :func:`augment`."""
    axes = (0, 1) if image.ndim == 3 else (1, 2)
    out = np.flip(image, axis=axes[0]) if mode >= 4 else image
    return np.rot90(out, k=-(mode % 4), axes=axes)


def augment_batch(batch: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """Apply ``modes[i]`` to square patch ``batch[i]`` of an ``(N, P, P, C)`` batch."""
    out = np.empty_like(batch)
    for mode in np.unique(modes):
        index = modes == mode
        out[index] = augment(batch[index], int(mode))
    return out
