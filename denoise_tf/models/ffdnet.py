"""FFDNet-style denoiser (Zhang et al., TIP 2018): one network for all noise levels.

The image is pixel-unshuffled to half resolution (4 sub-images per channel), a noise-level map
(sigma / 255, constant over the image) is appended as a channel, a plain conv stack with BN
predicts the clean sub-images, and pixel shuffle puts them back. The user turns sigma as a knob.
Inputs: ``[noisy (N, H, W, C), level (N, 1)]`` with level = sigma / 255; output ``(N, H, W, C)``.

:func:`load_matconvnet` builds it from the FFDNet paper's published MatConvNet networks.
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
    batch_norm: bool = True,
    name: str | None = None,
) -> keras.Model:
    """FFDNet: noise-level map input, pixel (un)shuffle; gray 15 x 64, colour 12 x 96 by default.

    Parameters
    ----------
    depth, filters : int or None
        Conv layers and feature channels (None: the paper's 15 x 64 gray, 12 x 96 colour).
    channels : int
        Image channels: 1 gray, 3 colour.
    batch_norm : bool
        BN after the middle convs (False gives biased convs, the layout of the published
        MATLAB weights where BN is merged into the convs).
    """
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
        x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(epsilon=1e-4, momentum=0.95, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.Conv2D(4 * channels, 3, padding="same", name=f"conv{depth}", dtype=OUTPUT_DTYPE)(x)
    outputs = PixelShuffle(2, name="denoised", dtype=OUTPUT_DTYPE)([x, noisy])
    return keras.Model([noisy, level], outputs, name=name or f"ffdnet_{'gray' if channels == 1 else 'color'}")


def matconvnet_order(channels: int):
    """Where each sub-image channel of :class:`PixelUnshuffle` sits in a MatConvNet FFDNet.

    Returns an index array ``order`` of length ``4 * channels``: channel ``r`` of this project's
    unshuffled image (``r = (2 * i + j) * channels + c`` for row offset ``i``, column offset ``j``,
    colour channel ``c``) is channel ``order[r] = 4 * c + 2 * j + i`` of the published network's
    ``SubP`` layer (MATLAB's column-major order: row offset fastest, then column offset, then
    colour); its pixel shuffle back uses the same order. Fixed by the published figures: on
    BSD68 / CBSD68 crops at sigma 25 every other order loses 2 dB (gray) to 8 dB (colour).
    """
    import numpy as np

    return np.asarray([4 * c + 2 * j + i for i in range(2) for j in range(2) for c in range(channels)])


def read_matconvnet(path) -> list[tuple]:
    """The conv layers of an FFDNet MatConvNet file: ``[(kernel (3, 3, in, out), bias (out,)), ...]``.

    Checks the layer sequence: ``SubP`` (scale 1/2), ``concat``, conv/relu pairs, a last conv,
    ``SubP`` (scale 2).

    Raises
    ------
    ValueError
        The file is not such a network.
    """
    import h5py
    import numpy as np

    with h5py.File(path, "r") as handle:
        if "net" not in handle or "layers" not in handle["net"]:
            raise ValueError(f"{path}: expected a MatConvNet file with net/layers")
        kinds, convs = [], []
        for ref in handle["net"]["layers"][()].ravel():
            layer = handle[ref]
            kind = "".join(chr(c) for c in layer["type"][()].ravel())
            kinds.append(kind)
            if kind == "conv":
                kernel_ref, bias_ref = layer["weights"][()].ravel()[:2]
                kernel = np.asarray(handle[kernel_ref], dtype=np.float32)
                bias = np.asarray(handle[bias_ref], dtype=np.float32).ravel()
                convs.append((np.transpose(kernel if kernel.ndim == 4 else kernel[None], (3, 2, 1, 0)), bias))
            elif kind == "SubP":
                kinds[-1] = f"SubP{float(np.asarray(layer['scale']).ravel()[0]):g}"
    body = kinds[2:-1]
    expected_body = ["conv", "relu"] * (len(convs) - 1) + ["conv"]
    if kinds[:2] != ["SubP0.5", "concat"] or kinds[-1:] != ["SubP2"] or body != expected_body:
        raise ValueError(
            f"{path}: expected an FFDNet MatConvNet network (SubP 1/2, concat, conv/relu..., conv, SubP 2), "
            f"got layers {kinds}"
        )
    return convs


def load_matconvnet(path) -> keras.Model:
    """Build an FFDNet from the FFDNet paper's MatConvNet weights (``.mat``, MATLAB v7.3).

    BatchNorm is merged into the published convolutions, so the model is built with
    ``batch_norm=False``; depth, width and channels come from the file. The first conv's input
    channels and the last conv's output channels are permuted from MatConvNet's sub-image order
    to :class:`PixelUnshuffle`'s (:func:`matconvnet_order`); the noise-level channel stays last.
    Such weights are the paper's reference networks, not this project's models.

    Raises
    ------
    ValueError
        The file does not hold an FFDNet MatConvNet network.
    """
    import numpy as np

    convs = read_matconvnet(path)
    first, last = convs[0][0], convs[-1][0]
    channels = last.shape[3] // 4
    if last.shape[3] != 4 * channels or first.shape[2] != 4 * channels + 1 or channels not in (1, 3):
        raise ValueError(f"{path}: conv shapes {first.shape} ... {last.shape} are not those of a gray or colour FFDNet")
    order = matconvnet_order(channels)
    convs[0] = (first[:, :, np.append(order, 4 * channels)], convs[0][1])
    convs[-1] = (last[..., order], convs[-1][1][order])
    model = ffdnet(depth=len(convs), filters=first.shape[3], channels=channels, batch_norm=False)
    for i, (kernel, bias) in enumerate(convs, start=1):
        model.get_layer(f"conv{i}").set_weights([kernel, bias])
    return model
