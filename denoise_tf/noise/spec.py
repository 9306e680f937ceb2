"""The noise spec language: parameters, the registry of kinds, parsing and writing specs back.

A spec names a kind and its parameters: ``"gaussian:sigma=25"``, ``"gaussian:sigma=0-55"`` (a
range: one value drawn per image), ``"salt_and_pepper:amount=0.05"``, ``"iso:iso=3200"``,
``"mixed:kinds=gaussian,salt_and_pepper,speckle"``. :func:`parse` checks every value against
the range its kind declares (:func:`available`); ``str(parse(s))`` writes a spec back. Kinds
register here with :func:`register` (their functions are in :mod:`denoise_tf.noise.kinds`).
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
    """A registered kind: its name, NumPy function, parameters (``{name: Param}``) and doc."""

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


def kind_function(kind: str) -> Callable:
    """The NumPy function of a registered ``kind``: ``function(batch, rng, **params) -> (noisy, level)``."""
    if kind not in _REGISTRY:
        raise ValueError(f"unknown noise kind {kind!r}: expected one of {sorted(_REGISTRY)}")
    return _REGISTRY[kind].function


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
