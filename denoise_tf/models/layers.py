"""Custom layers shared by the model families (``keras.ops`` only: TF and JAX backends)."""

from __future__ import annotations

import keras
from keras import ops

#: Dtype of every model's last convolution and output layer. Under a mixed precision policy
#: (:attr:`denoise_tf.config.TrainConfig.precision` ``mixed_bfloat16``) the other layers compute
#: in bfloat16 while these, the residual subtraction and so the loss stay in float32;
#: BatchNormalization computes its statistics in float32 by itself. Under the default float32
#: policy it changes nothing.
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


@keras.saving.register_keras_serializable(package="denoise_tf")
class OpponentTransform(keras.layers.Layer):
    """RGB ``(N, H, W, 3)`` -> opponent channels (or back with ``inverse=True``), a fixed linear map.

    The transform of :data:`denoise_tf.colour.TRANSFORMS` ``["opponent"]`` (luminance, then two
    chroma channels at 0.5 for gray pixels); no weights.
    """

    def __init__(self, inverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.inverse = inverse
        import numpy as np

        from ..colour import TRANSFORMS

        matrix, offset = TRANSFORMS["opponent"]
        self._matrix = (np.linalg.inv(matrix).T if inverse else matrix.T).astype("float32")
        self._offset = offset.astype("float32")

    def call(self, x):
        matrix = ops.convert_to_tensor(self._matrix, dtype=x.dtype)
        offset = ops.convert_to_tensor(self._offset, dtype=x.dtype)
        if self.inverse:
            return ops.matmul(x - offset, matrix)
        return ops.matmul(x, matrix) + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "inverse": self.inverse}


@keras.saving.register_keras_serializable(package="denoise_tf")
class ChannelsToBatch(keras.layers.Layer):
    """``(N, H, W, C) -> (C*N, H, W, 1)``: each channel becomes a gray image (channel-major order)."""

    def call(self, x):
        shape = ops.shape(x)
        x = ops.transpose(x, (3, 0, 1, 2))
        return ops.reshape(x, (-1, shape[1], shape[2], 1))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (None if n is None or c is None else n * c, h, w, 1)


@keras.saving.register_keras_serializable(package="denoise_tf")
class BatchToChannels(keras.layers.Layer):
    """Inverse of :class:`ChannelsToBatch`: ``[(C*N, H, W, 1), reference (N, H, W, C)] -> (N, H, W, C)``."""

    def call(self, inputs):
        x, reference = inputs
        shape = ops.shape(reference)
        channels = reference.shape[-1]
        x = ops.reshape(x, (channels, shape[0], shape[1], shape[2]))
        return ops.transpose(x, (1, 2, 3, 0))

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


@keras.saving.register_keras_serializable(package="denoise_tf")
class ChromaPhases(keras.layers.Layer):
    """Opponent ``(N, H, W, 3)`` -> luminance ``(N, H, W, 1)`` and chroma phases ``(2*s*s*N, h, w, 1)``.

    Pixel-shuffle down-sampling (Zhou et al., 2020) of the two chroma channels: ``h, w =
    ceil(H/s), ceil(W/s)``; phase ``(i, j)`` of a channel holds pixels ``(s*y + i, s*x + j)``, so
    neighbouring pixels of a phase are ``s`` apart in the image and noise correlated over fewer
    than ``s`` pixels is nearly white on it. Sides are reflect-padded to multiples of ``s`` first.
    Order: channel, row phase, column phase, then image.
    """

    def __init__(self, stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.stride = int(stride)

    def call(self, x):
        s = self.stride
        shape = ops.shape(x)
        h, w = (shape[1] + s - 1) // s, (shape[2] + s - 1) // s
        chroma = ops.pad(x[..., 1:], [[0, 0], [0, s - 1], [0, s - 1], [0, 0]], mode="symmetric")
        chroma = ops.reshape(chroma[:, : h * s, : w * s, :], (-1, h, s, w, s, 2))
        chroma = ops.transpose(chroma, (5, 2, 4, 0, 1, 3))  # (2, s, s, N, h, w)
        return x[..., :1], ops.reshape(chroma, (-1, h, w, 1))

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.stride
        side = lambda v: None if v is None else -(-v // s)  # noqa: E731
        return (n, h, w, 1), (None if n is None else 2 * s * s * n, side(h), side(w), 1)

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="denoise_tf")
class PhasesToOpponent(keras.layers.Layer):
    """Inverse of :class:`ChromaPhases`: ``[luminance, phases, reference (N, H, W, 3)] -> (N, H, W, 3)``."""

    def __init__(self, stride: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.stride = int(stride)

    def call(self, inputs):
        luminance, phases, reference = inputs
        s = self.stride
        shape, ref = ops.shape(phases), ops.shape(reference)
        h, w = shape[1], shape[2]
        chroma = ops.reshape(phases, (2, s, s, -1, h, w))
        chroma = ops.reshape(ops.transpose(chroma, (3, 4, 1, 5, 2, 0)), (-1, h * s, w * s, 2))
        return ops.concatenate([luminance, chroma[:, : ref[1], : ref[2], :]], axis=-1)

    def compute_output_shape(self, input_shapes):
        return input_shapes[2]

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}
