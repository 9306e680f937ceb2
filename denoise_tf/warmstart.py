"""Start training from trained weights: fine-tuning, and gray → colour or depth changes.

:attr:`denoise_tf.config.TrainConfig.init_weights` names the source (a shipped weights name such as
``dncnn-b``, a run folder, or a ``.weights.h5`` file of the same model); :func:`copy_weights`
copies it layer by layer into a freshly built model before the first epoch. Layers are paired by
their order among the layers that hold weights: the first with the first, the last with the last
and the middle ones in order, so a depth-17 DnCNN starts from the first 15 middle layers of a
depth-20 one. A layer whose kernel differs only in the image channels is *inflated*: a gray first
convolution ``(k, k, 1, F)`` becomes ``(k, k, 3, F)`` with a third of the kernel on each channel, a
gray last convolution ``(k, k, F, 1)`` is repeated for each colour channel (so the colour model
starts by treating each channel as the gray model treats the mean image). Anything else that
differs is an error naming both layers.

That colour start is weak: it removes the noise of the channel mean and leaves the rest (with
independent noise per channel, two thirds of its variance). Measured on two 160x160 CBSD68 crops
at sigma 25: noisy 21.04 / 22.85 dB, the inflated ``dncnn-b`` 21.82 / 24.56 dB, while the gray
``dncnn-b`` applied to each channel separately gives 26.59 / 36.20 dB. Gray -> gray starts
(fine-tuning, a shallower copy) keep what the source learned.
"""

from __future__ import annotations

import os

import numpy as np


def _weighted_layers(model) -> list:
    """Layers that hold weights, in model order (Sequential and functional models)."""
    return [layer for layer in model.layers if layer.weights]


def source_model(source: str | os.PathLike):
    """The model to copy from: shipped weights name, run folder (best weights), or ``.keras`` file."""
    from . import pretrained, zoo

    name = str(source)
    try:
        kind = zoo.model_kind(name)
    except ValueError:
        kind = None
    if kind in (None, "classical"):
        raise ValueError(
            f"init_weights {name!r} is neither shipped weights {pretrained.available()}, a run folder nor a .keras file"
        )
    if kind == "reference":
        raise ValueError(
            f"init_weights {name!r} is a paper's own network (denoise_tf.reference): this package's models train "
            "from a random start or from its own weights, never from the papers' networks"
        )
    return zoo.load_model(name)


def _inflate(value: np.ndarray, shape: tuple, role: str) -> np.ndarray | None:
    """``value`` reshaped to ``shape`` by spreading a 1-channel image axis, or None if impossible."""
    if value.shape == shape:
        return value
    if value.ndim == 4 and role == "first" and value.shape[:2] + value.shape[3:] == shape[:2] + shape[3:] and value.shape[2] == 1:
        return np.repeat(value, shape[2], axis=2) / shape[2]
    if role == "last" and value.ndim == 4 and value.shape[:3] == shape[:3] and value.shape[3] == 1:
        return np.repeat(value, shape[3], axis=3)
    if role == "last" and value.ndim == 1 and value.shape == (1,):
        return np.repeat(value, shape[0])
    return None


def copy_weights(target, source) -> dict:
    """Copy ``source``'s weights into ``target`` (both Keras models); see the module docstring.

    Returns
    -------
    dict
        ``copied`` and ``inflated`` layer counts and ``skipped_source``: source middle layers
        with no counterpart (a deeper source).

    Raises
    ------
    ValueError
        Different layer types at a paired position, a shape that cannot be inflated, or a
        target with more middle layers than the source.
    """
    if isinstance(source, (str, os.PathLike)):
        source = source_model(source)
    targets, sources = _weighted_layers(target), _weighted_layers(source)
    if not targets or not sources:
        raise ValueError("init_weights: both models need layers with weights")
    if len(targets) > len(sources):
        raise ValueError(
            f"init_weights: the target has {len(targets)} layers with weights, the source only {len(sources)}; "
            "start from a model at least as deep"
        )
    pairs = [(targets[0], sources[0], "first")]
    pairs += [(t, s, "middle") for t, s in zip(targets[1:-1], sources[1:-1])]
    if len(targets) > 1:
        pairs.append((targets[-1], sources[-1], "last"))
    copied = inflated = 0
    for t_layer, s_layer, role in pairs:
        if type(t_layer).__name__ != type(s_layer).__name__:
            raise ValueError(
                f"init_weights: layer {t_layer.name!r} ({type(t_layer).__name__}) pairs with source layer "
                f"{s_layer.name!r} ({type(s_layer).__name__}): the models differ in structure"
            )
        values = []
        for t_var, s_var in zip(t_layer.weights, s_layer.weights):
            value = _inflate(np.asarray(s_var), tuple(t_var.shape), role)
            if value is None:
                raise ValueError(
                    f"init_weights: cannot map {s_layer.name!r} {tuple(s_var.shape)} onto {t_layer.name!r} {tuple(t_var.shape)}"
                )
            values.append(value)
        inflated += any(tuple(np.asarray(s).shape) != tuple(t.shape) for s, t in zip(s_layer.weights, t_layer.weights))
        t_layer.set_weights(values)
        copied += 1
    return {"copied": copied, "inflated": inflated, "skipped_source": len(sources) - len(targets)}
