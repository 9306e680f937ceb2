"""Image quality metrics at data range 1: PSNR, SSIM and MSE (NumPy).

Inputs are float arrays in [0, 1] of the same shape, ``(H, W, C)`` or ``(N, H, W, C)``.
"""

from __future__ import annotations

import numpy as np


def _pair(reference, estimate):
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if reference.shape != estimate.shape:
        raise ValueError(f"shapes differ: reference {reference.shape} vs estimate {estimate.shape}")
    return reference, estimate


def mse(reference, estimate) -> float:
    """Mean squared error over all pixels and channels."""
    reference, estimate = _pair(reference, estimate)
    return float(np.mean((reference - estimate) ** 2))


def psnr(reference, estimate, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)`` (inf when equal)."""
    error = mse(reference, estimate)
    if error == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / error))
