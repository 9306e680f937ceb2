"""A small U-Net denoiser with a residual output.

Encoder: at each of ``levels`` scales two 3x3 conv + ReLU, then 2x2 max-pooling; a bottleneck
of two convs; decoder: 2x2 stride-2 transposed conv, concatenation with the encoder features
of the same scale (skip connection), two convs. A 1x1 conv predicts the noise and the output
is ``input - noise``. Filters double at each scale (32-64-128 with the defaults).

Any H x W works: the input is symmetric-padded inside the model to a multiple of
``2 ** levels`` (:class:`PadToMultiple`) and the output cropped back (:class:`CropLike`), both
with ``keras.ops`` only, so the model runs on the TensorFlow and the JAX backend.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from . import register
from .layers import OUTPUT_DTYPE


@keras.saving.register_keras_serializable(package="denoise_tf")
class PadToMultiple(keras.layers.Layer):
    """``(N, H, W, C) -> (N, ceil(H/m)*m, ceil(W/m)*m, C)``, symmetric (mirror) padding at the bottom/right.

    Pads ``m - 1`` pixels then slices (static pad widths, as :class:`PixelUnshuffle` does), so
    each side must be at least ``m - 1`` pixels (mirror padding cannot pad more than the size).
    """

    def __init__(self, multiple: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x):
        m = self.multiple
        if m == 1:
            return x
        shape = ops.shape(x)
        h, w = shape[1], shape[2]
        x = ops.pad(x, [[0, 0], [0, m - 1], [0, m - 1], [0, 0]], mode="symmetric")
        hm, wm = (h + m - 1) // m * m, (w + m - 1) // m * m
        return x[:, :hm, :wm, :]

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        m = self.multiple
        return (n, None if h is None else -(-h // m) * m, None if w is None else -(-w // m) * m, c)

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="denoise_tf")
class CropLike(keras.layers.Layer):
    """``[x (N, H', W', C), reference (N, H, W, C')] -> x[:, :H, :W, :]``."""

    def call(self, inputs):
        x, reference = inputs
        shape = ops.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[-1])


def _conv_pair(x, filters: int, batch_norm: bool, prefix: str):
    for j in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"{prefix}_conv{j}")(x)
        if batch_norm:
            x = layers.BatchNormalization(epsilon=1e-4, momentum=0.95, name=f"{prefix}_bn{j}")(x)
        x = layers.ReLU(name=f"{prefix}_relu{j}")(x)
    return x


@register("unet")
def unet(
    levels: int = 2,
    filters: int = 32,
    channels: int = 1,
    batch_norm: bool = False,
    residual: bool = True,
    name: str | None = None,
) -> keras.Model:
    """Small U-Net: ``levels`` poolings, filters ``filters * 2**i``, residual output (predicts the noise).

    Parameters
    ----------
    levels : int
        Number of 2x down-samplings (1 to 4); 2 gives scales 1, 1/2, 1/4 with 32-64-128 filters.
        Inputs are padded inside the model to a multiple of ``2 ** levels`` and cropped back;
        each side must be at least ``2 ** levels - 1`` pixels.
    filters : int
        Filters at full resolution; doubled at each coarser scale.
    channels : int
        1 gray or 3 colour.
    batch_norm : bool
        BatchNormalization after every 3x3 conv (convs then have no bias).
    residual : bool
        Output ``input - net(input)``; False predicts the image.

    Receptive field: 44 pixels for ``levels=2``, 96 for ``levels=3``.
    """
    if not 1 <= levels <= 4:
        raise ValueError(f"unet levels must be 1..4, got {levels}")
    if filters < 1:
        raise ValueError(f"unet filters must be positive, got {filters}")
    if channels not in (1, 3):
        raise ValueError(f"unet channels must be 1 (gray) or 3 (colour), got {channels}")
    inputs = keras.Input((None, None, channels), name="noisy")
    x = PadToMultiple(2**levels, name="pad")(inputs)
    skips = []
    for i in range(levels):
        x = _conv_pair(x, filters * 2**i, batch_norm, f"enc{i}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = _conv_pair(x, filters * 2**levels, batch_norm, "mid")
    for i in reversed(range(levels)):
        x = layers.Conv2DTranspose(filters * 2**i, 2, strides=2, padding="same", name=f"up{i}")(x)
        x = layers.Concatenate(name=f"cat{i}")([x, skips[i]])
        x = _conv_pair(x, filters * 2**i, batch_norm, f"dec{i}")
    x = layers.Conv2D(channels, 1, name="conv_out", dtype=OUTPUT_DTYPE)(x)
    x = CropLike(name="crop", dtype=OUTPUT_DTYPE)([x, inputs])
    outputs = layers.Subtract(name="denoised", dtype=OUTPUT_DTYPE)([inputs, x]) if residual else x
    return keras.Model(inputs, outputs, name=name or f"unet{levels}_{'gray' if channels == 1 else 'color'}")
