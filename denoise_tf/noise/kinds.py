"""The NumPy noise kinds and :func:`apply`, the path every kind has (no TensorFlow needed).

Every kind's function takes a batch ``(N, H, W, C)`` float32 in ``[0, 1]`` and a
:class:`numpy.random.Generator` and returns ``(noisy, level)``: the noisy batch (float32, same
shape) and the level per image on the 0-1 scale (``(N,)``). :func:`apply` takes one image or a
batch and a spec (see :mod:`denoise_tf.noise`, the package, for the kinds and their levels).
OpenCV is imported by the kinds that use it (``iso`` with a chroma blur, ``scribbles``, ``jpeg``).
"""

from __future__ import annotations

import math

import numpy as np

from ..images import check_image
from .spec import Param, kind_function, parse, register


def check_images(images) -> np.ndarray:
    """An image or batch checked for noise: float, ``(H, W, C)`` or ``(N, H, W, C)``, 1 or 3 channels.

    :func:`denoise_tf.images.check_image` without the NaN and 0-255 checks (noise may be added to
    any float image). Returns float32, same shape.

    Raises
    ------
    TypeError
        Integer (e.g. ``uint8``) or non-float ``images``.
    ValueError
        Rank other than 3 ``(H, W, C)`` or 4 ``(N, H, W, C)``, or a channel count other than 1 or 3.
    """
    return check_image(images, "images", finite=False, data_range=None)


def draw(value, size: int, rng: np.random.Generator) -> np.ndarray:
    """Per-image values: a number repeated, or a ``(low, high)`` range drawn uniformly."""
    if isinstance(value, tuple):
        return rng.uniform(value[0], value[1], size=size).astype(np.float32)
    return np.full(size, value, dtype=np.float32)


def draw_int(value, size: int, rng: np.random.Generator) -> np.ndarray:
    """Per-image integers: a number repeated, or drawn uniformly from the closed range ``(low, high)``."""
    if isinstance(value, tuple):
        return rng.integers(int(value[0]), int(value[1]) + 1, size=size)
    return np.full(size, int(value), dtype=np.int64)


def as_rng(seed) -> np.random.Generator:
    """A Generator from a seed, a sequence of ints, or a Generator (returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def apply(images, spec, seed=None, return_level: bool = False):
    """Add noise described by ``spec`` to an image or a batch (NumPy path).

    Parameters
    ----------
    images : ndarray
        ``(H, W, C)`` or ``(N, H, W, C)`` float in ``[0, 1]``.
    spec : str, dict or NoiseSpec
        See :func:`parse`.
    seed : int, sequence of int, Generator or None
        The same seed gives the same noise.
    return_level : bool
        Also return the noise level per image (0-1 scale, ``(N,)`` or a scalar).

    Returns
    -------
    noisy : ndarray, float32, same shape as ``images``
        Clipped to ``[0, 1]`` for every kind except ``gaussian`` (unless ``clip=true``).
    level : ndarray, float32, only when ``return_level``
        Per-image noise level on the 0-1 scale (see :mod:`denoise_tf.noise` for its meaning per kind).

    Raises
    ------
    TypeError
        ``images`` not floating point (``uint8``: divide by 255 first), or a bad ``spec`` type.
    ValueError
        ``images`` not rank 3/4 or not 1/3 channels; unknown kind or parameter, or a value outside
        its allowed range (see :func:`available`).
    """
    images = check_images(images)
    spec = parse(spec)
    single = images.ndim == 3
    batch = images[None] if single else images
    noisy, level = kind_function(spec.kind)(batch, rng=as_rng(seed), **spec.params)
    noisy = noisy.astype(np.float32, copy=False)
    if single:
        noisy, level = noisy[0], level[0]
    return (noisy, level) if return_level else noisy


def _rms(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Per-image root mean square of ``noisy - clean`` (float32, shape ``(N,)``)."""
    diff = noisy.astype(np.float32) - clean.astype(np.float32)
    return np.sqrt(np.mean(diff * diff, axis=(1, 2, 3))).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Kinds


@register(
    "gaussian",
    {
        "sigma": Param(25.0, 0.0, 255.0, "standard deviation on the 0-255 scale; a range 'a-b' draws one per image (blind)"),
        "per_channel": Param(True, doc="independent noise per channel (False: one field shared by all channels)", kind=bool),
        "clip": Param(False, doc="clip to [0, 1]; off by default (DnCNN protocol)", kind=bool),
    },
)
def gaussian(images, rng, sigma=25.0, per_channel=True, clip=False):
    """Additive white Gaussian noise, fixed sigma or blind (a range)."""
    n, h, w, c = images.shape
    sigmas = draw(sigma, n, rng) / 255.0
    shape = (n, h, w, c if per_channel else 1)
    noise = rng.standard_normal(shape, dtype=np.float32) * sigmas[:, None, None, None]
    noisy = images + noise
    if clip:
        noisy = np.clip(noisy, 0.0, 1.0)
    return noisy, sigmas


@register(
    "poisson",
    {"peak": Param(30.0, 1.0, 1e5, "photons at white; lower is noisier; a range draws one per image")},
)
def poisson(images, rng, peak=30.0):
    """Shot noise: ``Poisson(peak * x) / peak``, clipped to [0, 1]."""
    peaks = draw(peak, images.shape[0], rng)[:, None, None, None]
    noisy = rng.poisson(np.maximum(images, 0.0) * peaks).astype(np.float32) / peaks
    level = np.sqrt(np.maximum(images.mean(axis=(1, 2, 3)), 1e-6) / peaks[:, 0, 0, 0])
    return np.clip(noisy, 0.0, 1.0), level.astype(np.float32)


@register(
    "salt_and_pepper",
    {
        "amount": Param(0.05, 0.0, 1.0, "fraction of pixels replaced; a range draws one per image"),
        "salt_ratio": Param(0.5, 0.0, 1.0, "share of replaced pixels set to 1 (the rest to 0)"),
    },
)
def salt_and_pepper(images, rng, amount=0.05, salt_ratio=0.5):
    """Impulse noise: a fraction ``amount`` of pixels set to 0 or 1 (all channels)."""
    n, h, w, _ = images.shape
    amounts = draw(amount, n, rng)[:, None, None, None]
    u = rng.random((n, h, w, 1), dtype=np.float32)
    salt = u < amounts * salt_ratio
    pepper = (u >= amounts * salt_ratio) & (u < amounts)
    noisy = np.where(salt, 1.0, np.where(pepper, 0.0, images)).astype(np.float32)
    return noisy, amounts[:, 0, 0, 0].astype(np.float32)


@register(
    "speckle",
    {"sigma": Param(25.0, 0.0, 255.0, "std of the multiplicative factor on the 0-255 scale; a range draws one per image")},
)
def speckle(images, rng, sigma=25.0):
    """Multiplicative noise ``x * (1 + n)``, ``n ~ N(0, (sigma/255)^2)``, clipped to [0, 1]."""
    sigmas = draw(sigma, images.shape[0], rng) / 255.0
    noise = rng.standard_normal(images.shape, dtype=np.float32) * sigmas[:, None, None, None]
    return np.clip(images * (1.0 + noise), 0.0, 1.0), sigmas


#: ISO noise calibration at ISO 100 (0-1 scale): luminance variance ``a*Y + b`` with
#: ``a = ISO_A100 * g`` and ``b = ISO_B100 * g**2`` for the analog gain ``g = iso / 100``
#: (shot noise grows with the gain, read noise with its square). ISO 800 gives a std of about
#: 3.4/255 at mid-grey, ISO 6400 about 12/255.
ISO_A100 = 4e-5
ISO_B100 = 2.5e-7
#: Default chroma noise std as a fraction of the luminance noise std at mid-grey.
ISO_CHROMA_RATIO = 0.5
#: Rec. 601 luma weights used for the luminance ``Y`` of RGB images.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _draw_log(value, size: int, rng: np.random.Generator) -> np.ndarray:
    """Like :func:`draw` but log-uniform for a range (ISO steps are multiplicative)."""
    if isinstance(value, tuple):
        return np.exp(rng.uniform(np.log(value[0]), np.log(value[1]), size=size)).astype(np.float32)
    return np.full(size, value, dtype=np.float32)


def _gaussian_kernel(blur: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel of std ``blur`` pixels, radius ``ceil(3 * blur)``."""
    radius = max(1, int(math.ceil(3.0 * blur)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (t / blur) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def _lowpass_unit_noise(shape, blur: float, rng: np.random.Generator) -> np.ndarray:
    """White normal noise ``(N, H, W, C)`` (``C <= 4``) blurred by a Gaussian of std ``blur`` px, unit std.

    The blur is separable with mirrored borders (OpenCV, ``BORDER_REFLECT_101``); dividing by
    ``sum(kernel**2)`` (the std of blurred unit white noise) restores unit std away from the borders.
    """
    noise = rng.standard_normal(shape, dtype=np.float32)
    if blur <= 0:
        return noise
    import cv2

    kernel = _gaussian_kernel(blur)
    gain = np.float32(np.sum(kernel.astype(np.float64) ** 2))  # std after a separable blur of white noise
    out = np.empty_like(noise)
    for i in range(shape[0]):
        blurred = cv2.sepFilter2D(noise[i], cv2.CV_32F, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)
        out[i] = blurred.reshape(noise.shape[1:])  # OpenCV drops a single channel axis
    return out / gain


@register(
    "iso",
    {
        "iso": Param(
            800.0, 100.0, 6400.0, "camera ISO setting (gain = iso/100); a range draws one per image, log-uniform"
        ),
        "a": Param(
            None, 0.0, 0.1,
            f"signal-dependent luminance variance per unit signal (0-1 scale); auto: {ISO_A100:g} * iso/100",
        ),
        "b": Param(
            None, 0.0, 0.1, f"signal-independent luminance variance (0-1 scale); auto: {ISO_B100:g} * (iso/100)^2"
        ),
        "chroma": Param(
            None, 0.0, 255.0,
            f"chroma noise std per channel on the 0-255 scale; auto: {ISO_CHROMA_RATIO:g} x the luminance std "
            "at mid-grey",
        ),
        "blur": Param(
            2.0, 0.0, 20.0, "std in pixels of the Gaussian blur that makes chroma noise low-frequency (0: white)"
        ),
        "clip": Param(True, doc="clip to [0, 1] (on: a camera writes a valid image)", kind=bool),
    },
)
def iso(images, rng, iso=800.0, a=None, b=None, chroma=None, blur=2.0, clip=True):
    """Camera ISO noise: signal-dependent luminance noise plus low-frequency chroma noise.

    * Luminance: one field ``n_Y ~ N(0, a*Y + b)`` added to every channel, where ``Y`` is the
      clean luma (Rec. 601; the image itself for gray). ``a*Y`` is shot noise (its variance
      grows with the signal), ``b`` read noise; the Poissonian-Gaussian model of raw sensor data.
    * Chroma (colour images only): per-channel normal noise blurred by a Gaussian of std ``blur``
      pixels (coloured blotches, as left by demosaicing and camera noise reduction), made
      zero-sum over the channels so it changes colour but not brightness, with std ``chroma/255``
      per channel.

    ``a``, ``b`` and ``chroma`` derive from ``iso`` unless given. The level is the RMS noise std
    before clipping: ``sqrt(mean(a*Y + b) + (chroma/255)^2)`` (no chroma term for gray).
    """
    n, h, w, c = images.shape
    isos = _draw_log(iso, n, rng)
    gains = isos / 100.0
    a_ = draw(a, n, rng) if a is not None else (ISO_A100 * gains).astype(np.float32)
    b_ = draw(b, n, rng) if b is not None else (ISO_B100 * gains**2).astype(np.float32)
    if chroma is not None:
        chroma_ = draw(chroma, n, rng) / 255.0
    else:
        chroma_ = (ISO_CHROMA_RATIO * np.sqrt(0.5 * a_ + b_)).astype(np.float32)
    luma = images if c == 1 else np.tensordot(images, LUMA_WEIGHTS, axes=([3], [0]))[..., None]
    variance = a_[:, None, None, None] * np.clip(luma, 0.0, 1.0) + b_[:, None, None, None]
    noise = rng.standard_normal((n, h, w, 1), dtype=np.float32) * np.sqrt(variance)
    power = variance.mean(axis=(1, 2, 3))
    if c == 3:
        field_ = _lowpass_unit_noise((n, h, w, c), float(blur), rng)
        field_ = (field_ - field_.mean(axis=3, keepdims=True)) * np.float32(np.sqrt(c / (c - 1)))
        noise = noise + field_ * chroma_[:, None, None, None]
        power = power + chroma_**2
    noisy = images + noise
    if clip:
        noisy = np.clip(noisy, 0.0, 1.0)
    return noisy.astype(np.float32), np.sqrt(power).astype(np.float32)


@register(
    "scribbles",
    {
        "lines": Param((3, 6), 0, 100, "number of lines per image; a range draws one per image", kind=int),
        "length": Param(
            (0.2, 0.8), 0.0, 2.0, "line length as a fraction of the image's longer side; a range draws one per line"
        ),
        "thickness": Param((1, 3), 1, 50, "line thickness in pixels; a range draws one per line", kind=int),
        "value": Param(0.0, 0.0, 1.0, "line intensity (0: black)"),
    },
)
def scribbles(images, rng, lines=(3, 6), length=(0.2, 0.8), thickness=(1, 3), value=0.0):
    """Scratches (CleanVision's recipe): 3-6 straight black lines of random length, thickness and angle.

    Each line has a uniform random centre in the image, an angle uniform in ``[0, pi)``, a length
    and a thickness drawn from their ranges; lines may leave the image or cross. The level is the
    fraction of pixels covered by lines.
    """
    import cv2

    n, h, w, _ = images.shape
    counts = draw_int(lines, n, rng)
    noisy = images.copy()
    level = np.empty(n, dtype=np.float32)
    side = max(h, w)
    for i in range(n):
        mask = np.zeros((h, w), dtype=np.uint8)
        for _ in range(int(counts[i])):
            half = 0.5 * float(draw(length, 1, rng)[0]) * side
            width = int(draw_int(thickness, 1, rng)[0])
            angle = rng.uniform(0.0, np.pi)
            cx, cy = rng.uniform(0.0, w), rng.uniform(0.0, h)
            dx, dy = half * np.cos(angle), half * np.sin(angle)
            p1 = (int(round(cx - dx)), int(round(cy - dy)))
            p2 = (int(round(cx + dx)), int(round(cy + dy)))
            cv2.line(mask, p1, p2, 1, thickness=width, lineType=cv2.LINE_8)
        covered = mask.astype(bool)
        noisy[i][covered] = value
        level[i] = covered.mean()
    return np.clip(noisy, 0.0, 1.0), level


@register(
    "jpeg",
    {"quality": Param(30, 1, 100, "JPEG quality (1 worst, 100 best); a range draws one per image", kind=int)},
)
def jpeg(images, rng, quality=30):
    """JPEG compression artefacts: encode at ``quality`` and decode (OpenCV, 4:2:0 chroma for colour).

    Images are rounded to 8 bits first, colour images are passed to OpenCV in its BGR order. The
    level is the RMS error ``sqrt(mean((noisy - clean)^2))``.
    """
    import cv2

    qualities = draw_int(quality, images.shape[0], rng)
    noisy = np.empty_like(images)
    for i, image in enumerate(images):
        image8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
        image8 = image8[..., 0] if image8.shape[-1] == 1 else np.ascontiguousarray(image8[..., ::-1])
        ok, buffer = cv2.imencode(".jpg", image8, [cv2.IMWRITE_JPEG_QUALITY, int(qualities[i])])
        if not ok:  # pragma: no cover - OpenCV failure
            raise RuntimeError("cv2.imencode failed to write a JPEG")
        decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        decoded = decoded[..., None] if decoded.ndim == 2 else decoded[..., ::-1]
        noisy[i] = decoded.astype(np.float32) / 255.0
    return noisy, _rms(noisy, images)


#: Kinds that ``mixed`` may draw, and the parameters it draws them with (ranges are drawn per
#: image; parameters not listed take the kind's defaults). CleanVision (source write-up 003):
#: "randomly apply 1-3 types of noise (e.g. Gaussian + salt-and-pepper)... vary Gaussian severity
#: and randomize speckle and salt-pepper densities per image".
MIXED_RANGES = {
    "gaussian": {"sigma": (5.0, 50.0)},
    "poisson": {"peak": (10.0, 200.0)},
    "salt_and_pepper": {"amount": (0.01, 0.1)},
    "speckle": {"sigma": (10.0, 60.0)},
    "iso": {"iso": (400.0, 6400.0)},
    "scribbles": {},
    "jpeg": {"quality": (10, 90)},
}
MIXED_KINDS = tuple(MIXED_RANGES)


def _mixed_plan(rng: np.random.Generator, n: int, kinds, count) -> list:
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    low, high = count if isinstance(count, tuple) else (count, count)
    high = min(int(high), len(kinds))
    low = min(int(low), high)
    plan = []
    for _ in range(n):
        k = int(rng.integers(low, high + 1))
        chosen = np.sort(rng.choice(len(kinds), size=k, replace=False))
        plan.append([kinds[j] for j in chosen])
    return plan


def mixed_plan(spec, n: int, seed=None) -> list:
    """The kinds a ``mixed`` spec draws for each of ``n`` images with this ``seed``.

    The plan is drawn first from the seed's generator, so ``mixed_plan(spec, n, seed)`` is exactly
    what ``apply(images_of_n, spec, seed)`` applies.

    Returns
    -------
    list of list of str
        Per image, the kinds applied, in application order.
    """
    spec = parse(spec)
    if spec.kind != "mixed":
        raise ValueError(f"mixed_plan needs a 'mixed' spec, got kind {spec.kind!r}")
    return _mixed_plan(as_rng(seed), int(n), spec.params["kinds"], spec.params["count"])


@register(
    "mixed",
    {
        "kinds": Param(
            ("gaussian", "speckle", "salt_and_pepper", "scribbles"),
            doc="kinds to draw from, in the order they are applied",
            kind=str,
            choices=MIXED_KINDS,
            multiple=True,
        ),
        "count": Param((1, 3), 1, len(MIXED_KINDS), "number of kinds per image; a range draws one per image", kind=int),
    },
)
def mixed(images, rng, kinds=("gaussian", "speckle", "salt_and_pepper", "scribbles"), count=(1, 3)):
    """Mixed noise (CleanVision's recipe): per image, 1-3 kinds from ``kinds`` with random parameters.

    Per image, ``count`` kinds are drawn without replacement and applied in the order of
    ``kinds``, each with the random parameters of :data:`MIXED_RANGES`; the output of every stage
    (so the result) is clipped to [0, 1]. The level is the RMS error
    ``sqrt(mean((noisy - clean)^2))``. :func:`mixed_plan` tells which kinds each image got.
    """
    plan = _mixed_plan(rng, images.shape[0], kinds, count)
    noisy = np.empty_like(images)
    for i, chosen in enumerate(plan):
        out = images[i : i + 1]
        for kind in chosen:
            params = parse({"kind": kind, **MIXED_RANGES[kind]}).params
            out, _ = kind_function(kind)(out, rng=rng, **params)
            out = np.clip(out, 0.0, 1.0)  # every stage hands a valid image to the next
        noisy[i] = out[0]
    return noisy, _rms(noisy, images)
