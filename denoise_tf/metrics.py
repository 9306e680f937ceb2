"""Image quality metrics at data range 1: PSNR, SSIM and MSE.

Two flavours with the same definitions:

* NumPy functions :func:`mse`, :func:`psnr`, :func:`ssim` for evaluation. They agree with
  ``skimage.metrics.mean_squared_error`` / ``peak_signal_noise_ratio`` /
  ``structural_similarity`` to better than 1e-4 (see ``tests/test_metrics.py``).
* Keras metrics :class:`PSNRMetric`, :class:`SSIMMetric` for ``model.compile(metrics=...)``,
  written with ``keras.ops`` only so they run on the TensorFlow and the JAX backend. They are
  defined on first access (``from denoise_tf.metrics import PSNRMetric``), so importing this
  module for the NumPy functions does not import Keras.

Inputs are float arrays in ``[0, 1]`` (``data_range=1``) of the same shape: one image
``(H, W, C)`` (``(H, W)`` is taken as one gray image) or a batch ``(N, H, W, C)``, gray
(``C = 1``) or colour (``C = 3``). For a batch, the NumPy functions return the mean of the
per-image values (the usual "average PSNR over the test set"), or the ``(N,)`` per-image
values with ``per_image=True``. Different shapes, and a maximum above ``10 * data_range``
(a 0-255 image passed where [0, 1] is expected), raise ``ValueError``
(:func:`denoise_tf.images.check_range`).

SSIM uses the settings of Wang et al. (IEEE TIP 2004), as ``skimage`` does with
``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1``:

* local statistics under an 11x11 Gaussian window, standard deviation 1.5 (``skimage``'s
  truncation at 3.5 sigma gives radius 5), normalised to sum 1;
* population (biased) local variances and covariance;
* ``C1 = (0.01 * data_range)^2``, ``C2 = (0.03 * data_range)^2``;
* the SSIM map is averaged over the "valid" region only (pixels at least 5 from the border,
  where the window lies inside the image), so images must be at least 11x11;
* colour: SSIM per channel (``channel_axis=-1``), then the mean over channels.
"""

from __future__ import annotations

import numpy as np

from .images import check_range

#: Gaussian SSIM window: standard deviation and radius (``int(3.5 * 1.5 + 0.5) = 5`` -> 11 taps).
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
#: PSNR of identical images in the Keras metric (MSE floored at 1e-10 -> 100 dB at range 1).
_MSE_FLOOR = 1e-10


def gaussian_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    """1-D Gaussian taps ``exp(-x^2 / (2 sigma^2))``, ``x = -radius..radius``, summing to 1 (float64)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def _as_batch(array, name: str) -> np.ndarray:
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name} must be a real array, got dtype {array.dtype}")
    if array.ndim == 2:
        array = array[None, :, :, None]
    elif array.ndim == 3:
        array = array[None]
    elif array.ndim != 4:
        raise ValueError(
            f"{name} must be (H, W), (H, W, C) or (N, H, W, C), got shape {array.shape} (rank {array.ndim})"
        )
    return array.astype(np.float64, copy=False)


def _pair(reference, estimate, data_range: float = 1.0, function: str = "metric"):
    ref = np.asarray(reference)
    est = np.asarray(estimate)
    if ref.shape != est.shape:
        raise ValueError(
            f"{function}: shapes differ: reference {ref.shape} vs estimate {est.shape} "
            "(expected two images or batches of the same shape)"
        )
    ref_batch, est_batch = _as_batch(ref, "reference"), _as_batch(est, "estimate")
    check_range(ref, "reference", data_range)
    check_range(est, "estimate", data_range)
    single = ref.ndim in (2, 3)
    return ref_batch, est_batch, single


def _reduce(values: np.ndarray, single: bool, per_image: bool):
    if per_image:
        return values
    return float(values[0]) if single else float(np.mean(values))


def mse(reference, estimate, per_image: bool = False, data_range: float = 1.0):
    """Mean squared error over pixels and channels.

    Parameters
    ----------
    reference, estimate : array_like
        Same shape: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``; float in [0, 1].
    per_image : bool
        Return the ``(N,)`` float64 values, one per image (``(1,)`` for one image).
    data_range : float
        Scale of the images (1 for [0, 1]); only used to catch images on the wrong scale.

    Returns
    -------
    float or ndarray
        The MSE (mean over the batch for a batch), or the per-image values.

    Raises
    ------
    ValueError
        Different shapes, a rank other than 2, 3 or 4, or values far above ``data_range``
        (a 0-255 image where [0, 1] is expected; see :func:`denoise_tf.images.check_range`).
    """
    values, single = _mse_values(reference, estimate, data_range, "mse")
    return _reduce(values, single, per_image)


def _mse_values(reference, estimate, data_range: float, function: str):
    ref, est, single = _pair(reference, estimate, data_range, function)
    return np.mean((ref - est) ** 2, axis=(1, 2, 3)), single


def psnr(reference, estimate, data_range: float = 1.0, per_image: bool = False):
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)`` (``inf`` when equal).

    For a batch the PSNR is computed per image and then averaged (not the PSNR of the batch
    MSE). Same arguments as :func:`mse`; returns float64. Raises ``ValueError`` as :func:`mse`
    does (different shapes, wrong rank, a 0-255 image where [0, 1] is expected).
    """
    if data_range <= 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    errors, single = _mse_values(reference, estimate, data_range, "psnr")
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(data_range**2 / errors)
    return _reduce(values, single, per_image)


def _filter_valid(images: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable correlation of ``(N, H, W, C)`` with ``taps`` along H and W, "valid" region."""
    k = len(taps)
    rows = np.lib.stride_tricks.sliding_window_view(images, k, axis=1) @ taps
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=2) @ taps


def ssim(reference, estimate, data_range: float = 1.0, per_image: bool = False):
    """Structural similarity (Wang et al. 2004) with a Gaussian window; see the module docstring.

    Parameters
    ----------
    reference, estimate : array_like
        Same shape: ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``, float in [0, 1], H and W >= 11.
    data_range : float
        Dynamic range of the images (1 for [0, 1]).
    per_image : bool
        Return the ``(N,)`` float64 values (mean over channels per image).

    Returns
    -------
    float or ndarray
        Mean SSIM in [-1, 1] (mean over the batch for a batch), or the per-image values.

    Raises
    ------
    ValueError
        Different shapes, a wrong rank, an image smaller than the 11x11 window, or values far
        above ``data_range`` (a 0-255 image where [0, 1] is expected; see :func:`denoise_tf.images.check_range`).
    """
    if data_range <= 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    ref, est, single = _pair(reference, estimate, data_range, "ssim")
    size = 2 * SSIM_RADIUS + 1
    if min(ref.shape[1:3]) < size:
        raise ValueError(f"ssim needs images of at least {size}x{size} (the Gaussian window), got {ref.shape[1:3]}")
    taps = gaussian_window()
    mu_x = _filter_valid(ref, taps)
    mu_y = _filter_valid(est, taps)
    var_x = _filter_valid(ref * ref, taps) - mu_x * mu_x
    var_y = _filter_valid(est * est, taps) - mu_y * mu_y
    cov = _filter_valid(ref * est, taps) - mu_x * mu_y
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    values = ssim_map.mean(axis=(1, 2, 3))
    return _reduce(values, single, per_image)


# --------------------------------------------------------------------------------------------
# Keras metrics (keras.ops only: TensorFlow and JAX backends)


def _keras():
    import keras

    return keras


def _per_image_psnr(y_true, y_pred, data_range: float):
    ops = _keras().ops
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    error = ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))
    error = ops.maximum(error, _MSE_FLOOR * data_range**2)
    return 10.0 * ops.log(data_range**2 / error) / np.log(10.0)


def _per_image_ssim(y_true, y_pred, data_range: float):
    keras = _keras()
    ops = keras.ops
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    channels = y_true.shape[-1]
    if channels is None:
        raise ValueError("SSIMMetric needs a known channel count (last axis of y_true)")
    taps = gaussian_window().astype(np.float32)
    rows = ops.convert_to_tensor(np.tile(taps[:, None, None, None], (1, 1, channels, 1)))
    cols = ops.convert_to_tensor(np.tile(taps[None, :, None, None], (1, 1, channels, 1)))

    def blur(x):
        x = ops.depthwise_conv(x, rows, strides=1, padding="valid")
        return ops.depthwise_conv(x, cols, strides=1, padding="valid")

    # Shift by 0.5 (SSIM is invariant to a common shift of both images) so the E[x^2] - mu^2
    # differences in float32 cancel less.
    y_true = y_true - 0.5 * data_range
    y_pred = y_pred - 0.5 * data_range
    mu_x, mu_y = blur(y_true), blur(y_pred)
    var_x = blur(y_true * y_true) - mu_x * mu_x
    var_y = blur(y_pred * y_pred) - mu_y * mu_y
    cov = blur(y_true * y_pred) - mu_x * mu_y
    shift = 0.5 * data_range
    mx, my = mu_x + shift, mu_y + shift
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (var_x + var_y + c2))
    return ops.mean(ssim_map, axis=(1, 2, 3))


def _check_keras_pair(y_true, y_pred, name: str):
    if len(y_true.shape) != 4 or len(y_pred.shape) != 4:
        raise ValueError(
            f"{name} expects (N, H, W, C) batches, got y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}"
        )
    for a, b in zip(y_true.shape, y_pred.shape):
        if a is not None and b is not None and a != b:
            raise ValueError(f"{name}: shapes differ: y_true {tuple(y_true.shape)} vs y_pred {tuple(y_pred.shape)}")


def _define_metric_classes() -> dict:
    """Define the Keras metric classes (on first use, so the NumPy metrics need no Keras)."""
    keras = _keras()
    register = keras.saving.register_keras_serializable(package="denoise_tf")

    class _MeanPerImage(keras.metrics.Metric):
        """Running mean of a per-image score (optionally weighted per image)."""

        _score = None

        def __init__(self, data_range: float = 1.0, name: str | None = None, dtype=None):
            super().__init__(name=name, dtype=dtype)
            if data_range <= 0:
                raise ValueError(f"data_range must be > 0, got {data_range}")
            self.data_range = float(data_range)
            self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="total")
            self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            ops = _keras().ops
            y_true = ops.convert_to_tensor(y_true)
            y_pred = ops.convert_to_tensor(y_pred)
            _check_keras_pair(y_true, y_pred, type(self).__name__)
            scores = type(self)._score(y_true, y_pred, self.data_range)
            if sample_weight is None:
                weights = ops.ones_like(scores)
            else:
                weights = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
                weights = ops.broadcast_to(weights, ops.shape(scores))
            self.total.assign_add(ops.sum(scores * weights))
            self.count.assign_add(ops.sum(weights))

        def result(self):
            ops = _keras().ops
            return ops.divide_no_nan(self.total.value, self.count.value)

        def reset_state(self):
            self.total.assign(0.0)
            self.count.assign(0.0)

        def get_config(self):
            return {**super().get_config(), "data_range": self.data_range}

    class PSNRMetric(_MeanPerImage):
        """Keras metric: mean per-image PSNR in dB (same definition as :func:`psnr`).

        ``y_true`` / ``y_pred``: ``(N, H, W, C)`` float in [0, ``data_range``]; predictions are not
        clipped. An exact match counts as 100 dB (MSE floored at ``1e-10 * data_range^2``) so the
        running mean stays finite. ``sample_weight``: one weight per image.
        """

        _score = staticmethod(_per_image_psnr)

        def __init__(self, data_range: float = 1.0, name: str = "psnr", dtype=None):
            super().__init__(data_range=data_range, name=name, dtype=dtype)

    class SSIMMetric(_MeanPerImage):
        """Keras metric: mean per-image SSIM (same definition as :func:`ssim`, Gaussian 11x11, sigma 1.5).

        The local statistics come from a separable Gaussian depthwise convolution
        (``keras.ops.depthwise_conv``, "valid" padding), so H and W must be >= 11.
        ``y_true`` / ``y_pred``: ``(N, H, W, C)`` float in [0, ``data_range``].
        """

        _score = staticmethod(_per_image_ssim)

        def __init__(self, data_range: float = 1.0, name: str = "ssim", dtype=None):
            super().__init__(data_range=data_range, name=name, dtype=dtype)

        def update_state(self, y_true, y_pred, sample_weight=None):
            size = 2 * SSIM_RADIUS + 1
            shape = _keras().ops.shape(y_true)
            if len(shape) == 4 and all(isinstance(s, int) for s in shape[1:3]) and min(shape[1:3]) < size:
                raise ValueError(f"SSIMMetric needs images of at least {size}x{size}, got {tuple(shape[1:3])}")
            super().update_state(y_true, y_pred, sample_weight)

    for cls in (PSNRMetric, SSIMMetric):
        cls.__qualname__ = cls.__name__
    return {"PSNRMetric": register(PSNRMetric), "SSIMMetric": register(SSIMMetric)}


_METRIC_CLASSES: dict = {}


def __getattr__(name: str):
    if name in ("PSNRMetric", "SSIMMetric"):
        if not _METRIC_CLASSES:
            _METRIC_CLASSES.update(_define_metric_classes())
        return _METRIC_CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + ["PSNRMetric", "SSIMMetric"])
