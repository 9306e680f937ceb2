"""Classical (non-learned) denoisers behind one call, as baselines for the neural models.

``denoise(image, method, sigma=None, **options)`` runs one method; ``available()`` lists them;
``get(method, **options)`` returns a denoiser object with ``.denoise(image)`` and ``.name``,
the interface :class:`denoise_tf.inference.NeuralDenoiser` also has, so evaluation code can
treat neural and classical denoisers alike.

Images are float32 in [0, 1] (noisy inputs may leave that range), ``(H, W, C)`` with ``C`` 1
(gray) or 3 (colour); ``(H, W)`` and batches ``(N, H, W, C)`` are accepted too (a batch is
denoised image by image). The result has the input's shape, is float32 and clipped to [0, 1].

``sigma`` is the noise standard deviation on the 0-255 scale. Methods that use it estimate it
per image with :func:`denoise_tf.noise.estimate_sigma` (wavelet MAD estimate, averaged over
channels; the numbers of ``skimage.restoration.estimate_sigma``) when it is None. ``sigma=0``
returns the (clipped) input for those methods.

Default parameters, tuned for additive white Gaussian noise (mean PSNR over 256x256 gray crops
of skimage's camera / astronaut / coffee at sigma 10, 25 and 50):

============  ========================================================================================
method        defaults
============  ========================================================================================
mean          box filter ``size=3`` (3x3), per channel; does not use sigma
median        median filter ``size=3`` (3x3), per channel; does not use sigma
gaussian      Gaussian blur, ``blur = 0.3 + sigma / 40`` pixels (0.55 at 10, 0.93 at 25, 1.55 at 50)
bilateral     ``cv2.bilateralFilter``: ``sigma_color = (2 + sigma / 25) * sigma / 255`` (range, 0-1
              scale), ``sigma_space = 1.5 + sigma / 50`` pixels, window from sigma_space (``d=-1``)
nlm           ``denoise_nl_means`` fast mode, ``h = 0.8 * sigma``, ``patch_size=5``,
              ``patch_distance=6``, ``sigma`` passed in (skimage's recommendation)
tv            ``denoise_tv_chambolle``, ``weight = min(1, 0.5 + sigma / 50) * sigma / 255``
wavelet       ``denoise_wavelet``: BayesShrink, soft thresholds, ``wavelet="db2"``,
              ``rescale_sigma=True``; colour is denoised in YCbCr
bm3d          the ``bm3d`` package: ``bm3d.bm3d(z, sigma / 255)`` for gray, ``bm3d.bm3d_rgb``
              (CBM3D, opponent colour space) for colour; ``profile="np"``, ``threads=1`` (see below);
              images of at least 9x9 pixels (the 8x8 blocks of the profile plus one)
zero-shot     not classical but behind the same call: Zero-Shot Noise2Noise
              (:mod:`denoise_tf.zeroshot`), a ~21k-parameter CNN fitted to the image's own 2x
              down-sampled pairs, 2,000 Adam steps on 32x32 crops, at most 120 s per image; does not
              use sigma; options ``steps``, ``learning_rate``, ``width``, ``patch``, ``max_seconds``,
              ``seed``, ``progress`` (None keeps the default; ``max_seconds=inf``: no cap); images of at least
              10x10 pixels
============  ========================================================================================

BM3D threads: the ``bm3d`` library splits its work over ``BM3DProfile.num_threads`` threads
(its default 0 is one per CPU), and with more than one thread the order of its float sums
changes from call to call, so the same input gives slightly different outputs (MSE differences
of ~1e-6 relative). Here BM3D runs on 1 thread unless asked otherwise: the ``threads`` option
(``denoise(x, "bm3d", threads=4)``; 0 = one per CPU), else the environment variable
``DENOISE_TF_BM3D_THREADS``, else 1. One thread gives bit-identical results for the same input;
more are faster and repeatable only to ~1e-6.

Every default can be overridden by keyword, e.g. ``denoise(x, "median", size=5)`` or
``get("gaussian", blur=1.2)``.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import noise, zeroshot
from .images import check_image


@dataclass(frozen=True)
class _Method:
    name: str
    function: Callable
    uses_sigma: bool
    doc: str
    #: ``check(image, **options)`` raising ValueError for an image the method cannot take.
    check: Callable | None = None
    #: What the options are read from: its parameters (less ``image`` and ``sigma``); ``function`` when None.
    options_of: Callable | None = None


_METHODS: dict[str, _Method] = {}


def _register(name: str, uses_sigma: bool, check: Callable | None = None, options_of: Callable | None = None):
    def wrap(function):
        doc = (function.__doc__ or "").strip().splitlines()[0]
        _METHODS[name] = _Method(name, function, uses_sigma, doc, check, options_of)
        return function

    return wrap


def available() -> dict:
    """Classical method names with a one-line description."""
    return {name: method.doc for name, method in sorted(_METHODS.items())}


# --------------------------------------------------------------------------------------------
# Methods: each takes one (H, W, C) float32 image and sigma (0-255, a float for the methods that
# use it) and returns (H, W, C) (or something reshapeable to it).


@_register("mean", uses_sigma=False)
def _mean(image, sigma, size: int = 3):
    """Box (moving average) filter, ``size`` x ``size`` (default 3), per channel."""
    from scipy import ndimage

    _check_size(size, "size")
    return ndimage.uniform_filter(image, size=(size, size, 1), mode="reflect")


@_register("median", uses_sigma=False)
def _median(image, sigma, size: int = 3):
    """Median filter, ``size`` x ``size`` (default 3), per channel."""
    from scipy import ndimage

    _check_size(size, "size")
    return ndimage.median_filter(image, size=(size, size, 1), mode="reflect")


@_register("gaussian", uses_sigma=True)
def _gaussian(image, sigma, blur: float | None = None):
    """Gaussian blur with standard deviation ``blur`` pixels (default ``0.3 + sigma / 40``)."""
    from scipy import ndimage

    blur = 0.3 + sigma / 40.0 if blur is None else blur
    if not blur > 0:
        raise ValueError(f"gaussian blur must be > 0 pixels, got {blur}")
    return ndimage.gaussian_filter(image, sigma=(blur, blur, 0), mode="reflect", truncate=4.0)


@_register("bilateral", uses_sigma=True)
def _bilateral(image, sigma, sigma_color: float | None = None, sigma_space: float | None = None, d: int = -1):
    """Bilateral filter (OpenCV); range ``(2 + sigma/25) sigma/255``, space ``1.5 + sigma/50`` px."""
    import cv2

    sigma_color = (2.0 + sigma / 25.0) * sigma / 255.0 if sigma_color is None else sigma_color
    sigma_space = 1.5 + sigma / 50.0 if sigma_space is None else sigma_space
    if not (sigma_color > 0 and sigma_space > 0):
        raise ValueError(f"bilateral sigma_color and sigma_space must be > 0, got {sigma_color}, {sigma_space}")
    src = np.ascontiguousarray(image[..., 0] if image.shape[-1] == 1 else image)
    return cv2.bilateralFilter(src, int(d), float(sigma_color), float(sigma_space), borderType=cv2.BORDER_REFLECT)


@_register("nlm", uses_sigma=True)
def _nlm(image, sigma, h: float | None = None, patch_size: int = 5, patch_distance: int = 6, fast_mode: bool = True):
    """Non-local means (skimage, fast mode), ``h = 0.8 sigma``, 5x5 patches, search distance 6."""
    from skimage.restoration import denoise_nl_means

    h = 0.8 * sigma / 255.0 if h is None else h / 255.0
    return denoise_nl_means(
        image,
        h=h,
        sigma=sigma / 255.0,
        fast_mode=fast_mode,
        patch_size=patch_size,
        patch_distance=patch_distance,
        channel_axis=-1,
    )


@_register("tv", uses_sigma=True)
def _tv(image, sigma, weight: float | None = None, max_num_iter: int = 200):
    """Total-variation denoising (Chambolle), ``weight = min(1, 0.5 + sigma/50) sigma/255``."""
    from skimage.restoration import denoise_tv_chambolle

    weight = min(1.0, 0.5 + sigma / 50.0) * sigma / 255.0 if weight is None else weight
    return denoise_tv_chambolle(image, weight=weight, max_num_iter=max_num_iter, channel_axis=-1)


@_register("wavelet", uses_sigma=True)
def _wavelet(image, sigma, wavelet: str = "db2", method: str = "BayesShrink", mode: str = "soft"):
    """Wavelet shrinkage (skimage BayesShrink, soft, db2); colour in YCbCr."""
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(
        image,
        sigma=sigma / 255.0,
        wavelet=wavelet,
        mode=mode,
        method=method,
        rescale_sigma=True,
        convert2ycbcr=image.shape[-1] == 3,
        channel_axis=-1,
    )


#: Environment variable giving BM3D's thread count when the ``threads`` option is not given.
BM3D_THREADS_ENV = "DENOISE_TF_BM3D_THREADS"


def bm3d_threads(threads: int | None = None) -> int:
    """Threads BM3D runs on: ``threads``, else ``$DENOISE_TF_BM3D_THREADS``, else 1 (0 = one per CPU).

    Raises
    ------
    ValueError
        ``threads`` or the environment variable is not an int >= 0.
    """
    source = "option threads"
    if threads is None:
        raw = os.environ.get(BM3D_THREADS_ENV, "").strip()
        if not raw:
            return 1
        source = f"environment variable {BM3D_THREADS_ENV}"
        try:
            threads = int(raw)
        except ValueError:
            raise ValueError(f"{source} must be an int >= 0 (threads; 0 = one per CPU), got {raw!r}") from None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 0:
        raise ValueError(f"bm3d {source} must be an int >= 0 (threads; 0 = one per CPU), got {threads!r}")
    return int(threads)


def _bm3d_profile(profile, threads: int | None):
    """A ``bm3d.BM3DProfile`` for ``profile`` (a name of the library's profiles, or a profile) on fixed threads."""
    import copy

    import bm3d

    names = {
        "np": bm3d.BM3DProfile,
        "refilter": bm3d.BM3DProfileRefilter,
        "vn": bm3d.BM3DProfileVN,
        "high": bm3d.BM3DProfileHigh,
        "vn_old": bm3d.BM3DProfileVNOld,
        "deb": bm3d.BM3DProfileDeb,
    }
    if isinstance(profile, bm3d.BM3DProfile):
        chosen = copy.copy(profile)
    elif isinstance(profile, str) and profile in names:
        chosen = names[profile]()
    else:
        raise ValueError(f"bm3d profile must be one of {sorted(names)} or a bm3d.BM3DProfile, got {profile!r}")
    chosen.num_threads = bm3d_threads(threads)
    return chosen


def _bm3d_check(image, profile: str = "np", threads: int | None = None) -> None:
    """Refuse images smaller than BM3D's blocks (and bad ``profile`` / ``threads``), before any work."""
    chosen = _bm3d_profile(profile, threads)
    # The library refuses images smaller than its blocks with a traceback and crashes the
    # process (segmentation fault) on an image exactly one block in size.
    side = max(chosen.bs_ht, chosen.bs_wiener) + 1
    if min(image.shape[:2]) < side:
        raise ValueError(
            f"bm3d needs images of at least {side}x{side} pixels (its {side - 1}x{side - 1} blocks plus one), "
            f"got {image.shape[0]}x{image.shape[1]}"
        )


@_register("bm3d", uses_sigma=True, check=_bm3d_check)
def _bm3d(image, sigma, profile: str = "np", threads: int | None = None):
    """BM3D (Dabov et al.): ``bm3d.bm3d`` for gray, CBM3D ``bm3d.bm3d_rgb`` for colour; 1 thread by default."""
    import bm3d

    _bm3d_check(image, profile, threads)
    chosen = _bm3d_profile(profile, threads)
    if image.shape[-1] == 3:
        return bm3d.bm3d_rgb(image, sigma_psd=sigma / 255.0, profile=chosen)
    return bm3d.bm3d(image[..., 0], sigma_psd=sigma / 255.0, profile=chosen)


def _zero_shot_check(image, **options) -> None:
    """Refuse images too small for the zero-shot pairs (and bad options), before any fitting."""
    zeroshot.check_input(image)
    zeroshot.ZeroShotDenoiser(**options)


@_register("zero-shot", uses_sigma=False, check=_zero_shot_check, options_of=zeroshot.ZeroShotDenoiser)
def _zero_shot(image, sigma, **options):
    """Zero-Shot Noise2Noise: a ~21k-parameter CNN fitted to the image's own down-sampled pairs."""
    return zeroshot.denoise(image, **options)


def _check_size(size, name: str) -> None:
    if not (isinstance(size, (int, np.integer)) and size >= 1):
        raise ValueError(f"{name} must be a positive int (filter side in pixels), got {size!r}")


# --------------------------------------------------------------------------------------------
# Public API


def takes_sigma(method: str) -> bool:
    """Whether classical ``method`` uses the noise level ``sigma`` (BM3D, NLM...; not median or mean)."""
    return _method(method).uses_sigma


def _method(method: str) -> _Method:
    if method not in _METHODS:
        raise ValueError(f"unknown classical method {method!r}: expected one of {sorted(_METHODS)}")
    return _METHODS[method]


def _check_options(method: _Method, options: dict) -> None:
    source = method.function if method.options_of is None else method.options_of
    accepted = [p for p in inspect.signature(source).parameters if p not in ("image", "sigma")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"method {method.name!r} got unknown option(s) {unknown}: expected some of {accepted}")


def _check_sigma(sigma) -> float | None:
    if sigma is None:
        return None
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a number on the 0-255 scale or None, got {sigma!r}") from None
    if not (np.isfinite(sigma) and 0 <= sigma <= 255):
        raise ValueError(f"sigma must be a noise level in [0, 255] (the 0-255 scale of 8-bit values), got {sigma}")
    return sigma


def _denoise_one(method: _Method, image: np.ndarray, sigma: float | None, options: dict) -> np.ndarray:
    if method.check is not None:
        method.check(image, **options)
    if method.uses_sigma:
        sigma = noise.estimate_sigma(image) if sigma is None else sigma
        if sigma == 0:
            return np.clip(image, 0.0, 1.0)
    out = method.function(image, sigma, **options)
    out = np.asarray(out, dtype=np.float32).reshape(image.shape)
    return np.clip(out, 0.0, 1.0)


def denoise(image, method: str, sigma: float | None = None, **options) -> np.ndarray:
    """Denoise with a classical method.

    Parameters
    ----------
    image : ndarray
        ``(H, W, C)`` float32 in [0, 1] (noisy values may leave the range), C = 1 or 3;
        ``(H, W)`` or a batch ``(N, H, W, C)`` also work.
    method : str
        One of :func:`available`: ``mean``, ``median``, ``gaussian``, ``bilateral``, ``nlm``,
        ``tv``, ``wavelet``, ``bm3d``, ``zero-shot``.
    sigma : float or None
        Noise standard deviation on the 0-255 scale; None estimates it per image (methods that
        use it; ``mean`` and ``median`` ignore it).
    **options
        Method parameters overriding the defaults (see the module docstring).

    Returns
    -------
    ndarray
        float32, same shape as ``image``, clipped to [0, 1].

    Raises
    ------
    ValueError
        Unknown method (the message lists the available ones) or option, bad sigma, bad shape.
        Values far above 1 (a 0-255 float image: divide by 255 first).
    TypeError
        Integer images (convert to float in [0, 1] first).
    """
    spec = _method(method)
    _check_options(spec, options)
    sigma = _check_sigma(sigma)
    image = check_image(image, ranks=(2, 3, 4))
    if image.ndim == 2:
        return _denoise_one(spec, image[..., None], sigma, options)[..., 0]
    if image.ndim == 3:
        return _denoise_one(spec, image, sigma, options)
    return np.stack([_denoise_one(spec, one, sigma, options) for one in image])


class ClassicalDenoiser:
    """A classical method with fixed parameters: ``.denoise(image)`` and ``.name``.

    Made by :func:`get`. ``sigma`` (0-255) None means "estimate per image".
    """

    def __init__(self, method: str, sigma: float | None = None, **options):
        spec = _method(method)
        _check_options(spec, options)
        self.method = method
        self.sigma = _check_sigma(sigma)
        self.options = dict(options)
        self.name = method

    def denoise(self, image) -> np.ndarray:
        """Denoise an ``(H, W, C)`` image or ``(N, H, W, C)`` batch; float32, same shape, in [0, 1]."""
        return denoise(image, self.method, sigma=self.sigma, **self.options)

    __call__ = denoise

    def __repr__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"ClassicalDenoiser({self.method!r}, sigma={self.sigma!r}{options})"


def get(method: str, sigma: float | None = None, **options) -> ClassicalDenoiser:
    """A denoiser object for ``method`` with fixed ``sigma`` (None: estimate) and options.

    Raises ``ValueError`` for an unknown method or option (checked now, not at the first call).
    """
    return ClassicalDenoiser(method, sigma=sigma, **options)
