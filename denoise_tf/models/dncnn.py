"""DnCNN (Zhang et al., TIP 2017): a plain conv stack with BatchNorm that predicts the noise.

``output = input - net(input)`` (residual learning), so a loss on the output image is the
paper's loss on the noise. DnCNN-S: ``depth=17`` (one sigma), DnCNN-B / CDnCNN-B: ``depth=20``
(blind, sigma in [0, 55]).
"""

from __future__ import annotations

import keras
from keras import layers

from . import register


@register("dncnn")
def dncnn(
    depth: int = 17,
    filters: int = 64,
    channels: int = 1,
    batch_norm: bool = True,
    residual: bool = True,
    name: str | None = None,
) -> keras.Model:
    """DnCNN: ``depth`` 3x3 conv layers, BN + ReLU in the middle, residual output.

    Parameters
    ----------
    depth : int
        Number of conv layers (17 for DnCNN-S, 20 for DnCNN-B).
    filters : int
        Feature channels (64 in the paper).
    channels : int
        Image channels: 1 gray, 3 colour.
    batch_norm : bool
        BN after the middle convs (False gives biased convs, the layout of the published
        MATLAB weights where BN is merged into the convs).
    residual : bool
        Output ``input - net(input)``; False makes the net predict the image directly.
    """
    if depth < 3:
        raise ValueError(f"dncnn depth must be >= 3, got {depth}")
    if channels not in (1, 3):
        raise ValueError(f"dncnn channels must be 1 (gray) or 3 (colour), got {channels}")
    inputs = keras.Input((None, None, channels), name="noisy")
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")(inputs)
    for i in range(2, depth):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(epsilon=1e-4, momentum=0.95, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.Conv2D(channels, 3, padding="same", name=f"conv{depth}")(x)
    outputs = layers.Subtract(name="denoised")([inputs, x]) if residual else x
    return keras.Model(inputs, outputs, name=name or f"dncnn{depth}_{'gray' if channels == 1 else 'color'}")
