"""Dilated residual denoiser (seed 000, "CNN-based Image Denoiser").

Layout, as in the write-up's diagram (input -> conv blocks x N with residual connections ->
BatchNorm + ReLU -> final conv -> denoised image) and its example parameters (64 feature
channels, kernel 3, ``layers = 5``, ``dilation = [1, 1, 1, 2, 1, 1, 1]``)::

    conv_in (d[0]) -> act
    -> block_1 (d[1]) -> ... -> block_N (d[N])        N = blocks
    -> conv_out (d[N + 1]) = predicted noise
    output = input - noise                              (global residual, ``residual=True``)

    block(d): y = act(x + BN(conv_d(act(BN(conv_d(x))))))

The dilation schedule has one entry per conv position: the input conv, each block and the
output conv, hence ``blocks + 2`` entries (7 for the write-up's 5 layers). The write-up does
not say whether the network predicts the image or the noise; like DnCNN we predict the noise
(global residual), ``residual=False`` predicts the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from . import register
from .layers import OUTPUT_DTYPE

_ACTIVATIONS = ("relu", "leaky_relu")


def default_dilations(blocks: int) -> list[int]:
    """``[1] + blocks entries (a 2 in the middle block, 1 elsewhere) + [1]``; 5 blocks: [1, 1, 1, 2, 1, 1, 1]."""
    return [1] + [2 if i == blocks // 2 else 1 for i in range(blocks)] + [1]


def _activation(kind: str, name: str):
    if kind == "relu":
        return layers.ReLU(name=name)
    return layers.LeakyReLU(negative_slope=0.2, name=name)


@register("dilated_residual")
def dilated_residual(
    blocks: int = 5,
    filters: int = 64,
    kernel_size: int = 3,
    dilations: Sequence[int] | int | None = None,
    activation: str = "relu",
    batch_norm: bool = True,
    channels: int = 3,
    residual: bool = True,
    output_init: str = "zeros",
    name: str | None = None,
) -> keras.Model:
    """Dilated residual CNN (seed 000): residual conv blocks with BN, dilation schedule, global residual.

    The write-up's examples were processed in **two passes** (the denoiser applied to its own
    output a second time). That is an inference-time setting, not part of the network:
    ``denoise_tf.inference`` runs a model ``passes`` times; this builder returns one pass.

    Parameters
    ----------
    blocks : int
        Number of residual blocks (the write-up's ``layers = 5``).
    filters : int
        Feature channels (64 in the write-up).
    kernel_size : int
        3 or 5 (the write-up's "3x3 / 5x5 convolution layers").
    dilations : sequence of int, int or None
        Dilation of [input conv, block 1 .. block ``blocks``, output conv]: ``blocks + 2``
        entries; an int uses it everywhere; None gives :func:`default_dilations` (the
        write-up's ``[1, 1, 1, 2, 1, 1, 1]`` for 5 blocks).
    activation : str
        ``"relu"`` or ``"leaky_relu"`` (negative slope 0.2).
    batch_norm : bool
        BatchNormalization after each block conv (the write-up's BatchNorm).
    channels : int
        3 colour (the write-up's DSLR photos) or 1 gray.
    residual : bool
        Output ``input - net(input)`` (the net predicts the noise); False predicts the image.
    output_init : str
        Initializer of the output conv. ``"zeros"`` (default) starts a residual model at the
        identity (output = input), as residual denoisers are usually started; with a random
        start (``"glorot_uniform"``, Keras' default) the untrained model's output differs from
        its input by an rms of about 0.44 (inference) and 2.4 (training mode) on random 96x96
        images, far more than the noise it is to remove.

    Receptive field: ``1 + (k - 1) * (d_in + d_out + 2 * sum(block dilations))``: 29 pixels
    with the defaults, 57 with ``kernel_size=5``.
    """
    if blocks < 1:
        raise ValueError(f"dilated_residual blocks must be >= 1, got {blocks}")
    if kernel_size not in (3, 5):
        raise ValueError(f"dilated_residual kernel_size must be 3 or 5, got {kernel_size}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"dilated_residual activation must be one of {_ACTIVATIONS}, got {activation!r}")
    if channels not in (1, 3):
        raise ValueError(f"dilated_residual channels must be 1 (gray) or 3 (colour), got {channels}")
    if dilations is None:
        dilations = default_dilations(blocks)
    elif isinstance(dilations, int):
        dilations = [dilations] * (blocks + 2)
    dilations = [int(d) for d in dilations]
    if len(dilations) != blocks + 2 or any(d < 1 for d in dilations):
        raise ValueError(
            f"dilated_residual dilations must be blocks + 2 = {blocks + 2} positive ints "
            f"(input conv, each block, output conv), got {dilations}"
        )

    inputs = keras.Input((None, None, channels), name="noisy")
    x = layers.Conv2D(filters, kernel_size, padding="same", dilation_rate=dilations[0], name="conv_in")(inputs)
    x = _activation(activation, "act_in")(x)
    for b, d in enumerate(dilations[1:-1], start=1):
        skip = x
        for j in (1, 2):
            x = layers.Conv2D(
                filters,
                kernel_size,
                padding="same",
                dilation_rate=d,
                use_bias=not batch_norm,
                name=f"block{b}_conv{j}",
            )(x)
            if batch_norm:
                x = layers.BatchNormalization(epsilon=1e-4, momentum=0.95, name=f"block{b}_bn{j}")(x)
            if j == 1:
                x = _activation(activation, f"block{b}_act1")(x)
        x = layers.Add(name=f"block{b}_add")([skip, x])
        x = _activation(activation, f"block{b}_act2")(x)
    x = layers.Conv2D(channels, kernel_size, padding="same", dilation_rate=dilations[-1], name="conv_out", kernel_initializer=output_init, dtype=OUTPUT_DTYPE)(x)
    outputs = layers.Subtract(name="denoised", dtype=OUTPUT_DTYPE)([inputs, x]) if residual else x
    return keras.Model(
        inputs, outputs, name=name or f"dilated_residual{blocks}_{'gray' if channels == 1 else 'color'}"
    )
