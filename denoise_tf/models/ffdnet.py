"""FFDNet-style denoiser (Zhang et al., TIP 2018): one network for all noise levels.

The image is pixel-unshuffled to half resolution (4 sub-images per channel), a noise-level map
(sigma / 255, constant over the image) is appended as a channel, a plain conv stack with BN
predicts the clean sub-images, and pixel shuffle puts them back. The user turns sigma as a knob.
Inputs: ``[noisy (N, H, W, C), level (N, 1)]`` with level = sigma / 255; output ``(N, H, W, C)``.
"""

from __future__ import annotations

import keras
from keras import layers

from . import register
from .layers import OUTPUT_DTYPE, NoiseLevelMap, PixelShuffle, PixelUnshuffle


@register("ffdnet")
def ffdnet(
    depth: int | None = None,
    filters: int | None = None,
    channels: int = 1,
    name: str | None = None,
) -> keras.Model:
    """FFDNet: noise-level map input, pixel (un)shuffle; gray 15 x 64, colour 12 x 96 by default."""
    if channels not in (1, 3):
        raise ValueError(f"ffdnet channels must be 1 (gray) or 3 (colour), got {channels}")
    depth = depth or (15 if channels == 1 else 12)
    filters = filters or (64 if channels == 1 else 96)
    if depth < 3:
        raise ValueError(f"ffdnet depth must be >= 3, got {depth}")
    noisy = keras.Input((None, None, channels), name="noisy")
    level = keras.Input((1,), name="level")
    x = PixelUnshuffle(2, name="unshuffle")(noisy)
    x = NoiseLevelMap(name="level_map")([x, level])
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")(x)
    for i in range(2, depth):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(epsilon=1e-4, momentum=0.95, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.Conv2D(4 * channels, 3, padding="same", name=f"conv{depth}", dtype=OUTPUT_DTYPE)(x)
    outputs = PixelShuffle(2, name="denoised", dtype=OUTPUT_DTYPE)([x, noisy])
    return keras.Model([noisy, level], outputs, name=name or f"ffdnet_{'gray' if channels == 1 else 'color'}")
