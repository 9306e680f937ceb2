"""The Keras noise layer: :class:`NoiseLayer` adds noise while training, on any Keras 3 backend.

This module imports Keras (the package :mod:`denoise_tf.noise` imports it only when the name
``NoiseLayer`` is first used). Inputs are ``(N, H, W, C)`` float batches in ``[0, 1]``.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .spec import parse

#: Kinds :class:`NoiseLayer` supports.
LAYER_KINDS = ("gaussian", "salt_and_pepper", "speckle")


@keras.saving.register_keras_serializable(package="denoise_tf")
class NoiseLayer(keras.layers.Layer):
    """Adds noise during training only (identity at inference), on any Keras 3 backend.

    Parameters
    ----------
    spec : str, dict or NoiseSpec
        A spec of a kind in :data:`LAYER_KINDS`: ``gaussian`` (fixed sigma or a blind range,
        ``per_channel``, ``clip``), ``salt_and_pepper`` or ``speckle``.
    seed : int or None
        Seed of the layer's ``keras.random.SeedGenerator``: two layers with the same seed
        draw the same noise sequence.

    Notes
    -----
    Inputs are ``(N, H, W, C)`` float batches; the noise follows the model of
    :func:`denoise_tf.noise.apply` for the same spec (statistics, not values). Deserialising
    needs the class registered: importing this module (or using ``denoise_tf.noise.NoiseLayer``)
    does it.
    """

    def __init__(self, spec="gaussian:sigma=25", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.spec = parse(spec)
        if self.spec.kind not in LAYER_KINDS:
            raise NotImplementedError(
                f"NoiseLayer supports kinds {list(LAYER_KINDS)}, got {self.spec.kind!r}: "
                f"use denoise_tf.noise.apply / tf_apply in the data pipeline for it"
            )
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.supports_masking = True

    def _per_image(self, value, batch, ndim, scale=1.0):
        shape = (batch,) + (1,) * (ndim - 1)
        if isinstance(value, tuple):
            return keras.random.uniform(
                shape, minval=value[0] / scale, maxval=value[1] / scale, seed=self.seed_generator
            )
        return float(value) / scale

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = ops.cast(inputs, "float32")
        shape = ops.shape(x)
        ndim = len(x.shape)
        params = self.spec.params
        if self.spec.kind == "gaussian":
            sigma = self._per_image(params["sigma"], shape[0], ndim, 255.0)
            noise_shape = tuple(shape) if params["per_channel"] else tuple(shape[:-1]) + (1,)
            out = x + keras.random.normal(noise_shape, seed=self.seed_generator) * sigma
            if params["clip"]:
                out = ops.clip(out, 0.0, 1.0)
        elif self.spec.kind == "speckle":
            sigma = self._per_image(params["sigma"], shape[0], ndim, 255.0)
            noise = keras.random.normal(tuple(shape), seed=self.seed_generator) * sigma
            out = ops.clip(x * (1.0 + noise), 0.0, 1.0)
        else:  # salt_and_pepper
            amount = self._per_image(params["amount"], shape[0], ndim)
            u = keras.random.uniform(tuple(shape[:-1]) + (1,), seed=self.seed_generator)
            salt_limit = amount * params["salt_ratio"]
            out = ops.where(u < salt_limit, 1.0, ops.where(u < amount, 0.0, x))
        return ops.cast(out, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"spec": str(self.spec), "seed": self.seed})
        return config
