"""Two small baseline CNNs from the write-ups: ``simple_cnn`` and ``sequential_cnn``.

Both predict the clean image directly (no residual learning), which is what their write-ups
do; they are baselines to compare with the residual models (DnCNN, ``dilated_residual``,
``unet``).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from . import register
from .layers import OUTPUT_DTYPE


def _check_channels(model: str, channels: int) -> None:
    if channels not in (1, 3):
        raise ValueError(f"{model} channels must be 1 (gray) or 3 (colour), got {channels}")


def _check_widths(model: str, widths: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(int(w) for w in widths)
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"{model} widths must be a non-empty list of positive ints, got {widths!r}")
    return widths


@register("simple_cnn")
def simple_cnn(
    widths: Sequence[int] = (8, 16, 8, 4),
    channels: int = 1,
    residual: bool = False,
    name: str | None = None,
) -> keras.Model:
    """Simple CNN (seed 002): 3x3 ReLU convs of widths 8-16-8-4, then a linear 3x3 output conv.

    The write-up's ``cnn4dn_mdl``: every conv is 3x3 with ``same`` padding; the hidden convs
    use ReLU and the output conv has **no activation** (``activation=None``: linear output, so
    predictions can leave [0, 1]; clip for display). It predicts the clean image directly.
    5 convs of 3x3 give a receptive field of 11 x 11 pixels; 2,737 weights for gray.

    Parameters
    ----------
    widths : sequence of int
        Filters of the hidden ReLU convs (the write-up's ``layer_width=(8, 16, 8, 4)``).
    channels : int
        1 gray (the write-up's setting) or 3 colour; the output conv has ``channels`` filters
        (the write-up's single output filter for gray).
    residual : bool
        Not in the write-up (default False). True makes the output ``input - net(input)``.
    """
    _check_channels("simple_cnn", channels)
    widths = _check_widths("simple_cnn", widths)
    inputs = keras.Input((None, None, channels), name="noisy")
    x = inputs
    for i, width in enumerate(widths, start=1):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    x = layers.Conv2D(channels, 3, padding="same", activation=None, name=f"conv{len(widths) + 1}", dtype=OUTPUT_DTYPE)(x)
    outputs = layers.Subtract(name="denoised", dtype=OUTPUT_DTYPE)([inputs, x]) if residual else x
    return keras.Model(inputs, outputs, name=name or f"simple_cnn_{'gray' if channels == 1 else 'color'}")


@register("sequential_cnn")
def sequential_cnn(
    widths: Sequence[int] = (64, 64, 64),
    channels: int = 3,
    kernel_size: int = 3,
    name: str | None = None,
) -> keras.Model:
    """Sequential CNN (seed 001): a ``keras.Sequential`` stack of ReLU convs with a sigmoid output.

    The write-up (SIDD smartphone images, paired real noisy / clean RGB images resized to
    256 x 256, Adam + MSE) states the layout - a Sequential CNN, ReLU hidden layers, a sigmoid
    output layer - but **not** the number of layers or their widths. ``widths=(64, 64, 64)``
    (three 3x3 ReLU convs, then a 3x3 sigmoid conv to ``channels``) is our choice, not the
    write-up's. The sigmoid keeps the output in (0, 1) (it can never reach exactly 0 or 1),
    and the net predicts the clean image directly (a ``Sequential`` model has no skip path).
    Receptive field with the defaults: 9 x 9 pixels.

    Parameters
    ----------
    widths : sequence of int
        Filters of the hidden ReLU convs.
    channels : int
        3 colour (the write-up's RGB setting) or 1 gray.
    kernel_size : int
        Kernel of every conv (odd).
    """
    _check_channels("sequential_cnn", channels)
    widths = _check_widths("sequential_cnn", widths)
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"sequential_cnn kernel_size must be a positive odd int, got {kernel_size}")
    stack = [keras.Input((None, None, channels), name="noisy")]
    for i, width in enumerate(widths, start=1):
        stack.append(layers.Conv2D(width, kernel_size, padding="same", activation="relu", name=f"conv{i}"))
    stack.append(
        layers.Conv2D(channels, kernel_size, padding="same", activation="sigmoid", name=f"conv{len(widths) + 1}", dtype=OUTPUT_DTYPE)
    )
    return keras.Sequential(stack, name=name or f"sequential_cnn_{'gray' if channels == 1 else 'color'}")
