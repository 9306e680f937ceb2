"""Noise models as plain NumPy functions, a registry, a small text spec language, a TensorFlow
path for ``tf.data`` and a Keras layer.

Every noise function takes ``images`` of shape ``(H, W, C)`` or ``(N, H, W, C)``, ``float32``
in ``[0, 1]``, and a :class:`numpy.random.Generator`, and returns ``(noisy, level)``: the noisy
images (same shape, ``float32``) and the noise level per image on the 0-1 scale (shape ``(N,)``,
or a scalar for one image), which noise-level-conditioned models (FFDNet) take as input.

Kinds and what their ``level`` means (all on the 0-1 scale, one value per image):

=================  ====================================================================  =======
kind               model                                                                 level
=================  ====================================================================  =======
gaussian           ``x + n``, ``n ~ N(0, (sigma/255)^2)``; fixed sigma or blind (range)  sigma/255
poisson            shot noise ``Poisson(peak * x) / peak``                               ``sqrt(mean(x) / peak)``
salt_and_pepper    a fraction ``amount`` of pixels set to 0 or 1 (all channels)          amount
speckle            multiplicative ``x * (1 + n)``, ``n ~ N(0, (sigma/255)^2)``           sigma/255
iso                camera ISO noise: luminance noise of variance ``a*Y + b`` plus        RMS noise std
                   low-frequency chroma noise (see :func:`iso`)
scribbles          3-6 random black lines (scratches), CleanVision's recipe              covered fraction
jpeg               JPEG compression at ``quality`` (OpenCV encoder)                      RMS error
mixed              1-3 kinds per image with random parameters (CleanVision's recipe)     RMS error
=================  ====================================================================  =======

Clipping: Gaussian noise is **not** clipped by default, as in the DnCNN benchmark protocol
(noisy input ``x + n`` with ``n ~ N(0, sigma^2)``, values may leave ``[0, 1]``); pass
``clip=True`` for a camera-like image. The other kinds model sensors or corruption whose
output is a valid image, so they clip to ``[0, 1]`` (``iso`` has a ``clip`` switch, on by
default; ``mixed`` clips its final result even when it drew ``gaussian``).

Text specs name a kind and its parameters, e.g. ``"gaussian:sigma=25"``,
``"gaussian:sigma=0-55"`` (blind: sigma drawn per image from the range),
``"salt_and_pepper:amount=0.05"``, ``"iso:iso=3200"`` or
``"mixed:kinds=gaussian,salt_and_pepper,speckle"``; see :func:`parse` and :func:`available`.
``str(parse(s))`` writes a spec back in this language.

Three ways to add noise:

* :func:`apply` -- NumPy, every kind, no TensorFlow needed (``import denoise_tf.noise`` does not
  import TensorFlow, Keras or OpenCV).
* :func:`tf_apply` -- TensorFlow stateless random ops (``seed`` is a shape-``[2]`` integer tensor),
  deterministic inside ``tf.data.Dataset.map(..., num_parallel_calls=AUTOTUNE)``; native for
  :data:`TF_NATIVE_KINDS` (gaussian, poisson, salt_and_pepper, speckle), the other kinds (iso,
  scribbles, jpeg, mixed) run the NumPy path through ``tf.numpy_function`` with a NumPy seed
  derived from the TF seed (still deterministic, but CPU-only and holding the GIL).
  :func:`tf_noisy_pairs` maps a dataset of clean images to ``(noisy, clean)`` pairs with a seed
  per element derived from its index.
* :class:`NoiseLayer` -- a backend-agnostic Keras 3 layer (TensorFlow or JAX) that adds noise
  when ``training=True`` only (kinds in :data:`LAYER_KINDS`). Keras is imported when the name
  ``NoiseLayer`` is first accessed.

The same spec gives the same noise *statistics* on all three paths, not the same values.
:func:`estimate_sigma` measures Gaussian noise in an image (wavelet MAD, 0-255 scale).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Param:
    """One parameter of a noise kind: default, allowed closed range, and whether a range may be drawn.

    ``choices`` restricts a ``str`` parameter to a set of values; ``multiple`` makes it a tuple of
    such values (written ``a,b,c`` in a text spec). A ``None`` default means "derived from the
    other parameters" (written ``auto`` in a text spec).
    """

    default: object
    low: float | None = None
    high: float | None = None
    doc: str = ""
    kind: type = float  # float, int, bool or str
    choices: tuple | None = None
    multiple: bool = False


@dataclass(frozen=True)
class NoiseKind:
    name: str
    function: Callable
    params: dict
    doc: str


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed noise spec: a kind and its parameter values (numbers, ``(low, high)`` ranges...)."""

    kind: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        parts = []
        for key, value in self.params.items():
            if value is None:  # "auto": derived from the other parameters, the default
                continue
            if isinstance(value, tuple) and len(value) == 2 and not isinstance(value[0], str):
                value = f"{_fmt(value[0])}-{_fmt(value[1])}"
            elif isinstance(value, (tuple, list)):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = str(value).lower()
            else:
                value = _fmt(value)
            parts.append(f"{key}={value}")
        return self.kind + (":" + ",".join(parts) if parts else "")


def _fmt(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_REGISTRY: dict[str, NoiseKind] = {}


def register(name: str, params: dict, doc: str = ""):
    """Decorator that adds a noise function to the registry under ``name``."""

    def wrap(function):
        _REGISTRY[name] = NoiseKind(name, function, params, doc or (function.__doc__ or "").strip())
        return function

    return wrap


def available() -> dict:
    """Noise kinds with their parameters and allowed ranges.

    Returns
    -------
    dict
        ``{kind: {param: {"default", "low", "high", "doc", "type", "choices"}}}``: ``low``/``high``
        is the closed allowed range of a number (``None``: unbounded or not a number), ``type``
        the value type name (``float``, ``int``, ``bool``, ``str``), ``choices`` the allowed
        values of a ``str`` parameter (``None`` for other types).
    """
    return {
        name: {
            p: {
                "default": spec.default,
                "low": spec.low,
                "high": spec.high,
                "doc": spec.doc,
                "type": spec.kind.__name__,
                "choices": spec.choices,
            }
            for p, spec in kind.params.items()
        }
        for name, kind in sorted(_REGISTRY.items())
    }


def describe() -> str:
    """A plain-text table of :func:`available`: one line per parameter with its range and default."""
    lines = []
    for name, params in available().items():
        lines.append(f"{name}: {_REGISTRY[name].doc.splitlines()[0]}")
        for key, p in params.items():
            if p["choices"]:
                allowed = "{" + ", ".join(p["choices"]) + "}"
            elif p["low"] is not None or p["high"] is not None:
                allowed = f"[{_fmt(p['low'])}, {_fmt(p['high'])}]"
            else:
                allowed = p["type"]
            default = NoiseSpec(name, {key: p["default"]}).__str__().partition("=")[2] or "auto"
            lines.append(f"  {key:<12} {allowed:<28} default {default:<10} {p['doc']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Parsing


_SPLIT = re.compile(r",(?=\s*[A-Za-z_]\w*\s*=)")


def _parse_value(key: str, text: str, param: Param):
    text = text.strip()
    if param.kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"parameter {key!r} expects true/false, got {text!r}")
    if param.kind is str:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if param.multiple:
            return tuple(items)
        return tuple(items) if len(items) > 1 or "," in text else text
    if param.default is None and text.lower() in ("auto", "none"):
        return None
    number = r"[+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
    match = re.fullmatch(rf"({number})\s*-\s*({number})", text)
    try:
        if match:
            return (param.kind(float(match.group(1))), param.kind(float(match.group(2))))
        return param.kind(float(text))
    except ValueError:
        raise ValueError(f"parameter {key!r} expects a number or a range 'low-high', got {text!r}") from None


def parse(spec: "str | dict | NoiseSpec") -> NoiseSpec:
    """Parse a noise spec and check every parameter against its allowed range.

    Accepts ``"kind"``, ``"kind:key=value,key=low-high"``, a dict ``{"kind": ..., key: value}``
    or a :class:`NoiseSpec`. Missing parameters take their defaults.

    Raises
    ------
    ValueError
        Unknown kind or parameter, or a value outside its allowed range.
    TypeError
        ``spec`` is not a string, dict or NoiseSpec.
    """
    if isinstance(spec, NoiseSpec):
        kind, raw = spec.kind, dict(spec.params)
    elif isinstance(spec, dict):
        raw = dict(spec)
        kind = raw.pop("kind", None)
        if kind is None:
            raise ValueError(f"noise spec dict needs a 'kind' key, got {spec!r}")
    elif isinstance(spec, str):
        kind, _, rest = spec.strip().partition(":")
        raw = {}
        for item in _SPLIT.split(rest) if rest.strip() else []:
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"noise spec {spec!r}: expected key=value, got {item!r}")
            raw[key.strip()] = value
    else:
        raise TypeError(f"noise spec must be a string, dict or NoiseSpec, got {type(spec).__name__}")
    kind = kind.strip().lower()
    if kind not in _REGISTRY:
        raise ValueError(f"unknown noise kind {kind!r}: expected one of {sorted(_REGISTRY)}")
    params_def = _REGISTRY[kind].params
    params = {}
    for key, value in raw.items():
        if key not in params_def:
            raise ValueError(
                f"unknown parameter {key!r} for noise {kind!r}: expected one of {sorted(params_def)}"
            )
        param = params_def[key]
        if isinstance(value, str):
            value = _parse_value(key, value, param)
        elif isinstance(value, list):
            value = tuple(value)
        _check_range(kind, key, value, param)
        params[key] = value
    for key, param in params_def.items():
        params.setdefault(key, param.default)
    return NoiseSpec(kind, params)


def _check_range(kind: str, key: str, value, param: Param) -> None:
    if param.kind is bool:
        if not isinstance(value, (bool, np.bool_, int, np.integer)) or value not in (0, 1):
            raise ValueError(f"{kind}: parameter {key!r} must be true or false, got {value!r}")
        return
    if param.kind is str:
        values = value if isinstance(value, tuple) else (value,)
        if param.multiple and not values:
            raise ValueError(f"{kind}: parameter {key!r} needs at least one of {list(param.choices or ())}")
        for v in values:
            if not isinstance(v, str) or (param.choices is not None and v not in param.choices):
                raise ValueError(
                    f"{kind}: parameter {key!r} got {v!r}: allowed values are {list(param.choices or ())}"
                )
        if len(set(values)) != len(values):
            raise ValueError(f"{kind}: parameter {key!r} lists a value twice: {values}")
        return
    if value is None and param.default is None:
        return
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise ValueError(f"{kind}: parameter {key!r} must be a number, got {v!r}")
        if not math.isfinite(v) or (param.low is not None and v < param.low) or (
            param.high is not None and v > param.high
        ):
            raise ValueError(
                f"{kind}: parameter {key!r}={v} is outside its allowed range [{param.low}, {param.high}]"
            )
    if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
        raise ValueError(f"{kind}: parameter {key!r} range must be (low, high) with low <= high, got {value}")


# --------------------------------------------------------------------------------------------
# Applying


def check_images(images) -> np.ndarray:
    """Validate an image or batch: float array in ``[0, 1]``-ish, rank 3 or 4, 1 or 3 channels.

    Raises
    ------
    TypeError
        Integer (e.g. ``uint8``) or non-float ``images``.
    ValueError
        Rank other than 3 ``(H, W, C)`` or 4 ``(N, H, W, C)``, or a channel count other than 1 or 3.
    """
    from .metrics import check_float

    images = check_float(images, "images")
    if images.ndim not in (3, 4):
        raise ValueError(f"images must be (H, W, C) or (N, H, W, C), got shape {images.shape}")
    if images.shape[-1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels (last axis), got shape {images.shape}")
    return images.astype(np.float32, copy=False)


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
        Per-image noise level on the 0-1 scale (see the module docstring for its meaning per kind).

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
    noisy, level = _REGISTRY[spec.kind].function(batch, rng=as_rng(seed), **spec.params)
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
            out, _ = _REGISTRY[kind].function(out, rng=rng, **params)
            out = np.clip(out, 0.0, 1.0)  # every stage hands a valid image to the next
        noisy[i] = out[0]
    return noisy, _rms(noisy, images)


# --------------------------------------------------------------------------------------------
# Noise level estimation

#: Daubechies-2 decomposition high-pass filter (as PyWavelets' ``Wavelet("db2").dec_hi``).
_DB2_HIGH = np.array(
    [-0.48296291314453416, 0.8365163037378079, -0.2241438680420134, -0.12940952255126037], dtype=np.float64
)
#: 75th percentile of the standard normal: MAD -> sigma.
_MAD_TO_SIGMA = 0.6744897501960817


def _dwt_high(x: np.ndarray, axis: int) -> np.ndarray:
    """Detail coefficients of a one-level db2 DWT along ``axis`` (PyWavelets 'symmetric' mode)."""
    length = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (3, 3)
    xp = np.pad(x, pad, mode="symmetric")
    n_out = (length + 3) // 2
    out = 0.0
    for j, h in enumerate(_DB2_HIGH):
        index = 4 + 2 * np.arange(n_out) - j
        out = out + h * np.take(xp, index, axis=axis)
    return out


def estimate_sigma(image) -> "float | np.ndarray":
    """Estimate the standard deviation of additive Gaussian noise (robust wavelet MAD).

    Donoho & Johnstone's estimator: ``sigma = median(|HH|) / 0.6745`` where ``HH`` are the
    finest diagonal detail coefficients of a db2 wavelet transform (exact zeros, e.g. saturated
    flat areas, are left out). It matches ``skimage.restoration.estimate_sigma`` (whose transform
    this reproduces without PyWavelets). Texture leaks into ``HH``, so clean-ish textured images
    give a few units rather than 0, and clipped noise reads low.

    Parameters
    ----------
    image : ndarray
        ``(H, W, C)`` or ``(N, H, W, C)`` float in ``[0, 1]``, ``C`` 1 or 3.

    Returns
    -------
    float or ndarray
        Sigma on the 0-255 scale: a float for one image, ``(N,)`` float64 for a batch. Colour
        images average the per-channel estimates.
    """
    images = check_images(image)
    single = images.ndim == 3
    batch = (images[None] if single else images).astype(np.float64)
    if min(batch.shape[1:3]) < 2:
        raise ValueError(f"image must be at least 2x2 pixels, got shape {images.shape}")
    sigmas = np.empty(batch.shape[0], dtype=np.float64)
    for i, item in enumerate(batch):
        per_channel = []
        for ch in range(item.shape[-1]):
            hh = _dwt_high(_dwt_high(item[..., ch], axis=0), axis=1)
            hh = hh[np.nonzero(hh)]
            per_channel.append(np.median(np.abs(hh)) / _MAD_TO_SIGMA if hh.size else 0.0)
        sigmas[i] = 255.0 * float(np.mean(per_channel))
    return float(sigmas[0]) if single else sigmas


# --------------------------------------------------------------------------------------------
# TensorFlow path (TensorFlow imported lazily, inside the functions)

#: Kinds with a native TensorFlow implementation in :func:`tf_apply`; the others run the NumPy
#: path through ``tf.numpy_function``.
TF_NATIVE_KINDS = ("gaussian", "poisson", "salt_and_pepper", "speckle")


def _tf_check_images(images):
    import tensorflow as tf

    if isinstance(images, np.ndarray):
        check_images(images)
    x = tf.convert_to_tensor(images)
    if x.dtype.is_integer or x.dtype == tf.bool:
        raise TypeError(f"images must be float32 in [0, 1], got {x.dtype.name}: divide by 255 first")
    if not x.dtype.is_floating:
        raise TypeError(f"images must be float32 in [0, 1], got dtype {x.dtype.name}")
    rank = x.shape.rank
    if rank not in (3, 4):
        raise ValueError(f"images must be (H, W, C) or (N, H, W, C), got shape {x.shape}")
    if x.shape[-1] is not None and x.shape[-1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels (last axis), got shape {x.shape}")
    return tf.cast(x, tf.float32)


def _tf_seed(seed):
    """A shape-``[2]`` int64 seed tensor from an int, a pair or a tensor."""
    import tensorflow as tf

    if seed is None:
        raise ValueError("seed must be an int or a shape-[2] integer tensor for the TensorFlow path, got None")
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"seed must be an integer (or a shape-[2] integer tensor), got {seed.dtype.name}")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0, tf.int64)])
    if seed.shape.as_list() != [2]:
        raise ValueError(f"seed must be a scalar or have shape [2], got shape {seed.shape}")
    return seed


def _tf_draw(value, n, seed):
    import tensorflow as tf

    if isinstance(value, tuple):
        return tf.random.stateless_uniform([n], seed, minval=float(value[0]), maxval=float(value[1]))
    return tf.fill([n], tf.constant(float(value), tf.float32))


def _tf_gaussian(x, seeds, sigma=25.0, per_channel=True, clip=False):
    import tensorflow as tf

    shape = tf.shape(x)
    sigmas = _tf_draw(sigma, shape[0], seeds[0]) / 255.0
    noise_shape = shape if per_channel else tf.concat([shape[:3], [1]], axis=0)
    noisy = x + tf.random.stateless_normal(noise_shape, seeds[1]) * sigmas[:, None, None, None]
    if clip:
        noisy = tf.clip_by_value(noisy, 0.0, 1.0)
    return noisy, sigmas


def _tf_poisson(x, seeds, peak=30.0):
    import tensorflow as tf

    peaks = _tf_draw(peak, tf.shape(x)[0], seeds[0])[:, None, None, None]
    lam = tf.maximum(x, 0.0) * peaks
    noisy = tf.random.stateless_poisson(tf.shape(x), seeds[1], lam=lam, dtype=tf.float32) / peaks
    level = tf.sqrt(tf.maximum(tf.reduce_mean(x, axis=[1, 2, 3]), 1e-6) / peaks[:, 0, 0, 0])
    return tf.clip_by_value(noisy, 0.0, 1.0), level


def _tf_salt_and_pepper(x, seeds, amount=0.05, salt_ratio=0.5):
    import tensorflow as tf

    shape = tf.shape(x)
    amounts = _tf_draw(amount, shape[0], seeds[0])[:, None, None, None]
    u = tf.random.stateless_uniform(tf.concat([shape[:3], [1]], axis=0), seeds[1])
    salt = u < amounts * salt_ratio
    pepper = (u >= amounts * salt_ratio) & (u < amounts)
    noisy = tf.where(salt, 1.0, tf.where(pepper, 0.0, x))
    return noisy, amounts[:, 0, 0, 0]


def _tf_speckle(x, seeds, sigma=25.0):
    import tensorflow as tf

    sigmas = _tf_draw(sigma, tf.shape(x)[0], seeds[0]) / 255.0
    noise = tf.random.stateless_normal(tf.shape(x), seeds[1]) * sigmas[:, None, None, None]
    return tf.clip_by_value(x * (1.0 + noise), 0.0, 1.0), sigmas


_TF_KINDS = {
    "gaussian": _tf_gaussian,
    "poisson": _tf_poisson,
    "salt_and_pepper": _tf_salt_and_pepper,
    "speckle": _tf_speckle,
}


def numpy_seed_from_tf(seed) -> np.random.Generator:
    """The NumPy generator the ``tf.numpy_function`` fallback uses for a TF seed pair."""
    values = [int(v) & 0xFFFFFFFFFFFFFFFF for v in np.asarray(seed).ravel()]
    return np.random.default_rng([0x5EED, *values])


def tf_apply(images, spec, seed, return_level: bool = False):
    """Add noise described by ``spec`` with TensorFlow ops (for ``tf.data`` and ``tf.function``).

    Stateless random ops make the result a pure function of ``(images, spec, seed)``: the same
    seed gives the same noise in eager mode, in a ``tf.function`` and inside
    ``tf.data.Dataset.map(..., num_parallel_calls=AUTOTUNE)``, whatever the thread scheduling.
    Give each dataset element its own seed (see :func:`tf_element_seed`, :func:`tf_noisy_pairs`).

    Native kinds are :data:`TF_NATIVE_KINDS` (gaussian fixed and blind, poisson, salt_and_pepper,
    speckle); the others (iso, scribbles, jpeg, mixed) call the NumPy :func:`apply` through
    ``tf.numpy_function`` with the generator :func:`numpy_seed_from_tf` derives from ``seed``.
    Both paths follow the same model and level definitions as :func:`apply`, so statistics agree;
    the values do not.

    Parameters
    ----------
    images : tf.Tensor or ndarray
        ``(H, W, C)`` or ``(N, H, W, C)`` float in ``[0, 1]``; the rank must be known statically.
    spec : str, dict or NoiseSpec
        See :func:`parse`.
    seed : int or shape-``[2]`` integer tensor
        An int ``s`` means ``[s, 0]``.
    return_level : bool
        Also return the noise level per image (0-1 scale, ``(N,)`` or a scalar).

    Returns
    -------
    noisy : tf.Tensor, float32, same shape as ``images``
    level : tf.Tensor, float32, only when ``return_level``
    """
    import tensorflow as tf

    spec = parse(spec)
    x = _tf_check_images(images)
    seed = _tf_seed(seed)
    single = x.shape.rank == 3
    batch = x[None] if single else x
    function = _TF_KINDS.get(spec.kind)
    if function is not None:
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        noisy, level = function(batch, seeds, **spec.params)
    else:

        def run(images_np, seed_np):
            out, lev = apply(images_np, spec, seed=numpy_seed_from_tf(seed_np), return_level=True)
            return out.astype(np.float32), np.asarray(lev, dtype=np.float32).reshape(-1)

        noisy, level = tf.numpy_function(run, [batch, seed], [tf.float32, tf.float32], stateful=False)
        noisy.set_shape(batch.shape)
        level.set_shape(batch.shape[:1])
    if single:
        noisy, level = noisy[0], level[0]
    return (noisy, level) if return_level else noisy


def tf_element_seed(seed, index):
    """A per-element seed pair: ``seed`` (int or pair) folded with an element ``index`` (int64)."""
    import tensorflow as tf

    return tf.random.experimental.stateless_fold_in(_tf_seed(seed), tf.cast(index, tf.int64))


def tf_noisy_pairs(dataset, spec, seed: int = 0, with_level: bool = False, num_parallel_calls=None, deterministic=None):
    """Map a ``tf.data.Dataset`` of clean images to ``(noisy, clean)`` pairs, reproducibly.

    Elements are enumerated and element ``i`` gets noise from ``tf_element_seed(seed, i)``, so
    the pairs do not depend on parallelism or scheduling (with ``deterministic=False`` only
    their order may change). Repeat *after* this map to get the same noise every epoch, or map
    a dataset that carries an epoch counter for fresh noise.

    Parameters
    ----------
    dataset : tf.data.Dataset
        Elements are single images ``(H, W, C)`` or batches ``(N, H, W, C)``, float in ``[0, 1]``.
    spec : str, dict or NoiseSpec
        See :func:`parse`.
    seed : int
        Base seed.
    with_level : bool
        Inputs are ``(noisy, level)`` (``level`` a scalar per image, or ``(N, 1)`` per batch).
    num_parallel_calls : int or None
        Defaults to ``tf.data.AUTOTUNE``.
    deterministic : bool or None
        Passed to ``Dataset.map``.

    Returns
    -------
    tf.data.Dataset
        ``(noisy, clean)`` or ``((noisy, level), clean)``.
    """
    import tensorflow as tf

    spec = parse(spec)
    base = _tf_seed(int(seed))
    rank = dataset.element_spec.shape.rank

    def add_noise(index, clean):
        noisy, level = tf_apply(clean, spec, tf_element_seed(base, index), return_level=True)
        if not with_level:
            return noisy, clean
        if rank == 4:
            level = level[:, None]
        return (noisy, level), clean

    calls = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
    return dataset.enumerate().map(add_noise, num_parallel_calls=calls, deterministic=deterministic)


# --------------------------------------------------------------------------------------------
# Keras layer (Keras imported lazily, when the name NoiseLayer is first accessed)

#: Kinds :class:`NoiseLayer` supports.
LAYER_KINDS = ("gaussian", "salt_and_pepper", "speckle")

_NOISE_LAYER = None


def _build_noise_layer():
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="denoise_tf")
    class NoiseLayer(keras.layers.Layer):
        """Adds noise during training only (identity at inference), on any Keras 3 backend.

        Parameters
        ----------
        spec : str, dict or NoiseSpec
            A spec of a kind in :data:`LAYER_KINDS`: ``gaussian`` (fixed sigma or a blind range,
            ``per_channel``, ``clip``), ``salt_and_pepper`` or ``speckle``.
        seed : int or None
            Seed of the layer's ``keras.random.SeedGenerator``: two layers with the same seed
            draw the same noise sequence.

        Notes
        -----
        Inputs are ``(N, H, W, C)`` float batches; the noise follows :func:`apply`'s model for the
        same spec (statistics, not values). Deserialising needs ``denoise_tf.noise.NoiseLayer``
        accessed once (that registers the class).
        """

        def __init__(self, spec="gaussian:sigma=25", seed=None, **kwargs):
            super().__init__(**kwargs)
            self.spec = parse(spec)
            if self.spec.kind not in LAYER_KINDS:
                raise NotImplementedError(
                    f"NoiseLayer supports kinds {list(LAYER_KINDS)}, got {self.spec.kind!r}: "
                    f"use denoise_tf.noise.apply / tf_apply in the data pipeline for it"
                )
            if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
                raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
            self.seed = None if seed is None else int(seed)
            self.seed_generator = keras.random.SeedGenerator(self.seed)
            self.supports_masking = True

        def _per_image(self, value, batch, ndim, scale=1.0):
            shape = (batch,) + (1,) * (ndim - 1)
            if isinstance(value, tuple):
                return keras.random.uniform(
                    shape, minval=value[0] / scale, maxval=value[1] / scale, seed=self.seed_generator
                )
            return float(value) / scale

        def call(self, inputs, training=None):
            if not training:
                return inputs
            x = ops.cast(inputs, "float32")
            shape = ops.shape(x)
            ndim = len(x.shape)
            params = self.spec.params
            if self.spec.kind == "gaussian":
                sigma = self._per_image(params["sigma"], shape[0], ndim, 255.0)
                noise_shape = tuple(shape) if params["per_channel"] else tuple(shape[:-1]) + (1,)
                out = x + keras.random.normal(noise_shape, seed=self.seed_generator) * sigma
                if params["clip"]:
                    out = ops.clip(out, 0.0, 1.0)
            elif self.spec.kind == "speckle":
                sigma = self._per_image(params["sigma"], shape[0], ndim, 255.0)
                noise = keras.random.normal(tuple(shape), seed=self.seed_generator) * sigma
                out = ops.clip(x * (1.0 + noise), 0.0, 1.0)
            else:  # salt_and_pepper
                amount = self._per_image(params["amount"], shape[0], ndim)
                u = keras.random.uniform(tuple(shape[:-1]) + (1,), seed=self.seed_generator)
                salt_limit = amount * params["salt_ratio"]
                out = ops.where(u < salt_limit, 1.0, ops.where(u < amount, 0.0, x))
            return ops.cast(out, inputs.dtype)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            config = super().get_config()
            config.update({"spec": str(self.spec), "seed": self.seed})
            return config

    NoiseLayer.__module__ = __name__
    NoiseLayer.__qualname__ = "NoiseLayer"
    return NoiseLayer


def __getattr__(name):
    global _NOISE_LAYER
    if name == "NoiseLayer":
        if _NOISE_LAYER is None:
            _NOISE_LAYER = _build_noise_layer()
        return _NOISE_LAYER
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
