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


def default_option(name: str, option: str):
    """The default value of builder ``name``'s ``option`` (``default_option("dncnn", "channels")`` -> 1), None if it has none."""
    import inspect

    _load_families()
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(_BUILDERS)}")
    parameter = inspect.signature(_BUILDERS[name]).parameters.get(option)
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def _load_families() -> None:
    from . import dncnn, ffdnet  # noqa: F401  (registration happens at import)

    for module in ("simple", "dilated", "unet"):
        try:
            __import__(f"{__name__}.{module}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{module}":
                raise


def receptive_field(model) -> int:
    """Receptive field in input pixels (one side) of a conv network.

    Walks the layers in order, tracking the receptive field ``r`` and the input-pixel step
    ``j`` of one feature pixel: a conv (kernel ``k``, dilation ``d``, stride ``s``) adds
    ``(k - 1) * d * j`` and multiplies ``j`` by ``s``; pooling and layers with a ``downscale``
    attribute (pixel unshuffle, block ``b``) add ``(b - 1) * j`` and multiply ``j`` by ``b``;
    up-sampling, pixel shuffle and transposed convs divide ``j`` (a transposed conv adds
    ``(ceil(k / s) - 1) * j``). Exact for chains and for nets whose convs all lie on one
    input-to-output path (residual nets, U-Nets: the path through the bottleneck).
    """
    import math

    from keras import layers as klayers

    size, step = 1.0, 1.0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "downscale", None):
            size += (layer.downscale - 1) * step
            step *= layer.downscale
        elif isinstance(layer, klayers.Conv2DTranspose):
            k, s = layer.kernel_size[0], layer.strides[0]
            size += (math.ceil(k / s) - 1) * step
            step /= s
        elif isinstance(layer, (klayers.MaxPooling2D, klayers.AveragePooling2D)):
            size += (layer.pool_size[0] - 1) * step
            step *= layer.strides[0]
        elif isinstance(layer, klayers.UpSampling2D):
            step /= layer.size[0]
        elif getattr(layer, "kernel_size", None) is not None and len(layer.kernel_size) == 2:
            dilation = getattr(layer, "dilation_rate", (1, 1))
            size += (layer.kernel_size[0] - 1) * dilation[0] * step
            step *= getattr(layer, "strides", (1, 1))[0]
        elif getattr(layer, "block_size", None):  # pixel shuffle (up-sampling)
            step /= layer.block_size
    return int(round(size))


def impulse_response(model, size: int = 71, seed: int = 0):
    """Measure the receptive field: which output pixels change when one input pixel does.

    Returns ``(mask, width)``: a boolean ``(size, size)`` map of the changed output pixels and the
    width of that region (equal to :func:`receptive_field` for a plain conv stack).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.random((1, size, size, model.inputs[0].shape[-1]), dtype=np.float32)
    bumped = x.copy()
    bumped[0, size // 2, size // 2, :] += 0.5
    diff = np.abs(np.asarray(model.predict_on_batch(bumped)) - np.asarray(model.predict_on_batch(x))).max(axis=(0, -1))
    mask = diff > 0
    rows = np.nonzero(mask)[0]
    return mask, int(rows.max() - rows.min() + 1) if rows.size else 0
