"""Noise models as plain NumPy functions, a registry, and a small text spec language.

Every noise function takes ``images`` of shape ``(H, W, C)`` or ``(N, H, W, C)``, ``float32``
in ``[0, 1]``, and a :class:`numpy.random.Generator`, and returns ``(noisy, level)``: the noisy
images (same shape, ``float32``) and the noise level per image on the 0-1 scale (shape ``(N,)``,
or a scalar for one image), which noise-level-conditioned models (FFDNet) take as input.

Clipping: Gaussian noise is **not** clipped by default, as in the DnCNN benchmark protocol
(noisy input ``x + n`` with ``n ~ N(0, sigma^2)``, values may leave ``[0, 1]``); pass
``clip=True`` for a camera-like image. The other kinds model sensors or corruption whose
output is a valid image, so they clip to ``[0, 1]``.

Text specs name a kind and its parameters, e.g. ``"gaussian:sigma=25"``,
``"gaussian:sigma=0-55"`` (blind: sigma drawn per image from the range) or
``"salt_and_pepper:amount=0.05"``; see :func:`parse` and :func:`available`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Param:
    """One parameter of a noise kind: default, allowed closed range, and whether a range may be drawn."""

    default: object
    low: float | None = None
    high: float | None = None
    doc: str = ""
    kind: type = float  # float, int, bool or str


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
    """Noise kinds with their parameters: ``{kind: {param: {"default", "low", "high", "doc"}}}``."""
    return {
        name: {
            p: {"default": spec.default, "low": spec.low, "high": spec.high, "doc": spec.doc}
            for p, spec in kind.params.items()
        }
        for name, kind in sorted(_REGISTRY.items())
    }


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
        return tuple(items) if len(items) > 1 or "," in text else text
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
    if param.kind in (bool, str):
        return
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise ValueError(f"{kind}: parameter {key!r} must be a number, got {v!r}")
        if (param.low is not None and v < param.low) or (param.high is not None and v > param.high):
            raise ValueError(
                f"{kind}: parameter {key!r}={v} is outside its allowed range [{param.low}, {param.high}]"
            )
    if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
        raise ValueError(f"{kind}: parameter {key!r} range must be (low, high) with low <= high, got {value}")


# --------------------------------------------------------------------------------------------
# Applying


def check_images(images) -> np.ndarray:
    """Validate an image or batch: float array in ``[0, 1]``-ish, rank 3 or 4, 1 or 3 channels."""
    if not isinstance(images, np.ndarray):
        images = np.asarray(images)
    if images.dtype == np.uint8 or images.dtype == np.uint16:
        raise TypeError(
            f"images must be float32 in [0, 1], got {images.dtype}: divide by "
            f"{np.iinfo(images.dtype).max} first (or use datasets.read_image)"
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images must be float32 in [0, 1], got dtype {images.dtype}")
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
    level : ndarray, only when ``return_level``
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
    noisy = rng.poisson(images * peaks).astype(np.float32) / peaks
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
