"""Custom layers shared by the model families (``keras.ops`` only: TF and JAX backends)."""

from __future__ import annotations

import keras
from keras import ops

#: Dtype of every model's last convolution and output layer. Under a mixed precision policy
#: (``TrainConfig.precision: mixed_bfloat16``) the other layers compute in bfloat16 while these,
#: the residual subtraction and so the loss stay in float32; BatchNormalization computes its
#: statistics in float32 by itself. Under the default float32 policy it changes nothing.
OUTPUT_DTYPE = "float32"


@keras.saving.register_keras_serializable(package="denoise_tf")
class PixelUnshuffle(keras.layers.Layer):
    """``(N, H, W, C) -> (N, ceil(H/b), ceil(W/b), C*b*b)``; odd sizes are reflect-padded first."""

    def __init__(self, block_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block_size = block_size
        self.downscale = block_size

    def call(self, x):
        b = self.block_size
        shape = ops.shape(x)
        h, w, c = shape[1], shape[2], x.shape[-1]
        x = ops.pad(x, [[0, 0], [0, b - 1], [0, b - 1], [0, 0]], mode="symmetric")
        hb, wb = (h + b - 1) // b, (w + b - 1) // b
        x = x[:, : hb * b, : wb * b, :]
        x = ops.reshape(x, (-1, hb, b, wb, b, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, hb, wb, b * b * c))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        b = self.block_size
        return (n, None if h is None else -(-h // b), None if w is None else -(-w // b), c * b * b)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


@keras.saving.register_keras_serializable(package="denoise_tf")
class PixelShuffle(keras.layers.Layer):
    """Inverse of :class:`PixelUnshuffle`: ``[features, reference] -> (N, H, W, C)`` cropped to the reference's H, W."""

    def __init__(self, block_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block_size = block_size

    def call(self, inputs):
        x, reference = inputs
        b = self.block_size
        shape = ops.shape(x)
        hb, wb = shape[1], shape[2]
        c = x.shape[-1] // (b * b)
        x = ops.reshape(x, (-1, hb, wb, b, b, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        x = ops.reshape(x, (-1, hb * b, wb * b, c))
        ref_shape = ops.shape(reference)
        return x[:, : ref_shape[1], : ref_shape[2], :]

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[-1] // (self.block_size**2))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


@keras.saving.register_keras_serializable(package="denoise_tf")
class NoiseLevelMap(keras.layers.Layer):
    """``[features (N, h, w, F), level (N, 1)] -> (N, h, w, F + 1)``: the level broadcast as a channel."""

    def call(self, inputs):
        x, level = inputs
        level = ops.cast(ops.reshape(level, (-1, 1, 1, 1)), x.dtype)
        return ops.concatenate([x, ops.ones_like(x[..., :1]) * level], axis=-1)

    def compute_output_shape(self, input_shapes):
        x_shape = input_shapes[0]
        return (*x_shape[:-1], x_shape[-1] + 1)
