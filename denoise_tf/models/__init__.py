"""Model registry: ``build(name, **options)`` and ``available()``.

Every model takes and returns ``(N, H, W, C)`` float32 images in [0, 1] (FFDNet also takes the
noise level), is fully convolutional, and is built from ``keras.layers`` / ``keras.ops`` only,
so it runs on the TensorFlow and the JAX backend with the same weights.
"""

from __future__ import annotations

from typing import Callable

_BUILDERS: dict[str, Callable] = {}
_DOCS: dict[str, str] = {}


def register(name: str):
    """Decorator: add a model builder to the registry under ``name``."""

    def wrap(builder):
        _BUILDERS[name] = builder
        _DOCS[name] = (builder.__doc__ or "").strip().splitlines()[0] if builder.__doc__ else ""
        return builder

    return wrap


def available() -> dict:
    """Registered model names with a one-line description."""
    _load_families()
    return dict(sorted(_DOCS.items()))


def build(name: str, **options):
    """Build a registered model, e.g. ``build("dncnn", depth=17, channels=1)``.

    Raises
    ------
    ValueError
        Unknown model name, or an option the builder does not take.
    """
    _load_families()
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(_BUILDERS)}")
    import inspect

    signature = inspect.signature(_BUILDERS[name])
    accepted = set(signature.parameters)
    unknown = set(options) - accepted
    if unknown:
        raise ValueError(f"model {name!r} got unknown option(s) {sorted(unknown)}: expected some of {sorted(accepted)}")
    return _BUILDERS[name](**options)


def _load_families() -> None:
    from . import dncnn, ffdnet  # noqa: F401  (registration happens at import)

    for module in ("simple", "dilated", "unet"):
        try:
            __import__(f"{__name__}.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{module}":
                raise


def receptive_field(model) -> int:
    """Receptive field in input pixels (one side) of a conv stack.

    Each conv adds ``(kernel - 1) * dilation`` pixels at the resolution it runs at; layers
    with a ``block_size`` attribute (pixel unshuffle) multiply that resolution step.
    """
    size, scale = 1, 1
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "downscale", None):
            scale *= layer.downscale
        kernel = getattr(layer, "kernel_size", None)
        if kernel is not None and len(kernel) == 2:
            dilation = getattr(layer, "dilation_rate", (1, 1))
            size += (kernel[0] - 1) * dilation[0] * scale
    return size + scale - 1
