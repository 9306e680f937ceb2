"""DnCNN (Zhang et al., TIP 2017): a plain conv stack with BatchNorm that predicts the noise.

``output = input - net(input)`` (residual learning), so a loss on the output image is the
paper's loss on the noise. DnCNN-S: ``depth=17`` (one sigma), DnCNN-B / CDnCNN-B: ``depth=20``
(blind, sigma in [0, 55]).
"""

from __future__ import annotations

import keras
from keras import layers

from . import register
from .layers import OUTPUT_DTYPE, BatchToChannels, ChannelsToBatch, ChromaPhases, OpponentTransform, PhasesToOpponent


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
    noise = _noise_estimate(inputs, depth, filters, channels, batch_norm)
    outputs = layers.Subtract(name="denoised", dtype=OUTPUT_DTYPE)([inputs, noise]) if residual else noise
    return keras.Model(inputs, outputs, name=name or f"dncnn{depth}_{'gray' if channels == 1 else 'color'}")


def _stack(depth: int, filters: int, channels: int, batch_norm: bool, frozen_statistics: bool = False) -> list:
    """The DnCNN conv stack as a chain of layers (conv1, (conv, [bn,] relu) x (depth - 2), conv<depth>)."""
    chain = [layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")]
    for i in range(2, depth):
        chain.append(layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"conv{i}"))
        if batch_norm:
            chain.append(
                layers.BatchNormalization(epsilon=1e-4, momentum=0.95, name=f"bn{i}", trainable=not frozen_statistics)
            )
        chain.append(layers.ReLU(name=f"relu{i}"))
    return chain + [layers.Conv2D(channels, 3, padding="same", name=f"conv{depth}", dtype=OUTPUT_DTYPE)]


def _apply(chain: list, x):
    """``x`` through a chain of layers."""
    for layer in chain:
        x = layer(x)
    return x


def _noise_estimate(x, depth: int, filters: int, channels: int, batch_norm: bool, frozen_statistics: bool = False):
    """The DnCNN conv stack on tensor ``x`` (``(N, H, W, channels)``): its last conv's output."""
    return _apply(_stack(depth, filters, channels, batch_norm, frozen_statistics), x)


@register("dncnn_opponent")
def dncnn_opponent(
    depth: int = 20,
    filters: int = 64,
    channels: int = 3,
    frozen_statistics: bool = True,
    chroma_stride: int = 1,
    name: str | None = None,
) -> keras.Model:
    """Colour DnCNN in opponent space: one gray DnCNN shared by the luminance and the two chroma channels.

    ``(N, H, W, 3)`` RGB in [0, 1] -> the opponent channels of :mod:`denoise_tf.colour` (in which
    independent RGB noise stays independent) -> each channel denoised as a gray image by the
    same residual gray DnCNN -> back to RGB. Its layers with weights are those of
    ``dncnn(depth, filters, channels=1)`` in the same order, so gray DnCNN weights load into it
    unchanged (``init_weights: dncnn-b``) and it then starts exactly as the gray model's
    opponent colour path; training on colour images teaches the shared net the chroma
    channels' statistics. Costs three gray passes per RGB image; :func:`opponent_luminance`
    is the shared net alone, which denoises a gray image in one pass.

    Parameters
    ----------
    depth, filters : int
        The gray DnCNN's conv layers and feature channels (20 and 64 for DnCNN-B).
    channels : int
        3 (RGB); 1 builds the shared gray DnCNN alone (the same weights, for gray images).
    frozen_statistics : bool
        BatchNorm layers keep their moving statistics and scale/offset during training (they run
        as at inference): a fine-tuned start then changes only through its convolutions, and a
        batch mixing luminance and chroma patches never replaces the gray statistics.
    chroma_stride : int
        1: the chroma channels are denoised as they are. ``s > 1``: pixel-shuffle down-sampling
        of the chroma channels (:class:`~denoise_tf.models.layers.ChromaPhases`): the shared net
        denoises each of their ``s*s`` phases, whose neighbouring pixels are ``s`` apart, so
        low-frequency chroma noise (camera noise, ``iso:``) reaches it nearly white; the
        luminance stays at full resolution. Same weights as ``chroma_stride=1``.
    """
    if depth < 3:
        raise ValueError(f"dncnn_opponent depth must be >= 3, got {depth}")
    if chroma_stride < 1:
        raise ValueError(f"dncnn_opponent chroma_stride must be >= 1, got {chroma_stride}")
    if channels not in (1, 3):
        raise ValueError(f"dncnn_opponent channels must be 3 (RGB) or 1 (gray), got {channels}")
    if channels == 1:  # a gray image is its own luminance: the shared gray DnCNN alone, same weights
        inputs = keras.Input((None, None, 1), name="noisy")
        noise = _noise_estimate(inputs, depth, filters, 1, True, frozen_statistics)
        outputs = layers.Subtract(name="denoised", dtype=OUTPUT_DTYPE)([inputs, noise])
        return keras.Model(inputs, outputs, name=name or f"dncnn{depth}_opponent_gray")
    inputs = keras.Input((None, None, 3), name="noisy")
    channels = OpponentTransform(name="to_opponent")(inputs)
    if chroma_stride > 1:  # one chain of layers, called on the luminance and on the chroma phases
        chain = _stack(depth, filters, 1, True, frozen_statistics)
        luminance, phases = ChromaPhases(chroma_stride, name="channels_to_batch")(channels)
        luminance = layers.Subtract(name="denoised_gray", dtype=OUTPUT_DTYPE)([luminance, _apply(chain, luminance)])
        phases = layers.Subtract(name="denoised_phases", dtype=OUTPUT_DTYPE)([phases, _apply(chain, phases)])
        channels = PhasesToOpponent(chroma_stride, name="batch_to_channels", dtype=OUTPUT_DTYPE)([luminance, phases, channels])
        outputs = OpponentTransform(inverse=True, name="denoised", dtype=OUTPUT_DTYPE)(channels)
        return keras.Model(inputs, outputs, name=name or f"dncnn{depth}_opponent_pd{chroma_stride}")
    gray = ChannelsToBatch(name="channels_to_batch")(channels)
    noise = _noise_estimate(gray, depth, filters, 1, True, frozen_statistics)
    gray = layers.Subtract(name="denoised_gray", dtype=OUTPUT_DTYPE)([gray, noise])
    channels = BatchToChannels(name="batch_to_channels", dtype=OUTPUT_DTYPE)([gray, inputs])
    outputs = OpponentTransform(inverse=True, name="denoised", dtype=OUTPUT_DTYPE)(channels)
    return keras.Model(inputs, outputs, name=name or f"dncnn{depth}_opponent")


#: Layers of a 3-channel :func:`dncnn_opponent` model around its shared gray DnCNN.
_OPPONENT_LAYERS = ("to_opponent", "channels_to_batch", "denoised_gray", "batch_to_channels", "denoised")


def opponent_luminance(model) -> keras.Model | None:
    """The shared gray DnCNN of a 3-channel :func:`dncnn_opponent` model, for gray images.

    A gray image ``g`` (noise included) repeated to RGB has opponent luminance
    ``(g + g + g) / 3 = g``, with the same noise std ``sigma`` as ``g`` (the three copies share
    one noise draw, so the mean does not reduce it), and both chroma channels exactly 0.5 with
    no noise. Running this model on ``g`` gives the luminance that the colour model computes for
    the repeated image, in one gray pass instead of three. The two passes it skips only return
    the colour model's response to a flat, noise-free 0.5 plane (``0.5 + d``, ``|d|`` about
    3e-4 inside and up to 4e-3 at the borders for ``cdncnn-opponent``), which the colour path
    turns into a small colour cast.

    Returns
    -------
    keras.Model or None
        ``(N, H, W, 1) -> (N, H, W, 1)`` float32, input in [0, 1] (noisy values may leave it),
        output ``input - net(input)``. It calls ``model``'s own layers, so it shares their weight
        variables (weights loaded into ``model`` later are seen). None when ``model`` is not a
        3-channel :func:`dncnn_opponent` model.
    """
    names = [layer.name for layer in model.layers]
    if not all(name in names for name in _OPPONENT_LAYERS) or model.inputs[0].shape[-1] != 3:
        return None
    body = model.layers[names.index("channels_to_batch") + 1 : names.index("denoised_gray")]
    inputs = keras.Input((None, None, 1), name="noisy")
    x = inputs
    for layer in body:  # conv1, (conv, bn, relu) x (depth - 2), conv<depth>: a chain
        x = layer(x)
    outputs = layers.Subtract(name="denoised", dtype=OUTPUT_DTYPE)([inputs, x])
    return keras.Model(inputs, outputs, name=f"{model.name}_luminance")


def load_matconvnet(path) -> keras.Model:
    """Build a DnCNN from MatConvNet weights (the DnCNN paper's ``.mat`` files, MATLAB v7.3).

    The published networks have BatchNorm merged into the convolutions, so the model is built
    with ``batch_norm=False`` (biased convs); depth and channel count come from the file. Used to
    check this project's architecture and evaluation protocol against the published figures;
    such weights are reference material, not this project's models.

    Raises
    ------
    ValueError
        The file does not hold a conv/relu MatConvNet network.
    """
    import h5py
    import numpy as np

    with h5py.File(path, "r") as handle:
        if "net" not in handle or "layers" not in handle["net"]:
            raise ValueError(f"{path}: expected a MatConvNet file with net/layers")
        convs = []
        for ref in handle["net"]["layers"][()].ravel():
            layer = handle[ref]
            kind = "".join(chr(c) for c in layer["type"][()].ravel())
            if kind == "conv":
                kernel_ref, bias_ref = layer["weights"][()].ravel()[:2]
                kernel = np.asarray(handle[kernel_ref], dtype=np.float32)
                bias = np.asarray(handle[bias_ref], dtype=np.float32).ravel()
                kernel = np.transpose(kernel if kernel.ndim == 4 else kernel[None], (3, 2, 1, 0))
                convs.append((kernel, bias))
            elif kind != "relu":
                raise ValueError(f"{path}: unexpected layer type {kind!r} (expected conv or relu)")
    channels = convs[0][0].shape[2]
    model = dncnn(depth=len(convs), filters=convs[0][0].shape[3], channels=channels, batch_norm=False)
    for i, (kernel, bias) in enumerate(convs, start=1):
        layer = model.get_layer(f"conv{i}")
        layer.set_weights([kernel.reshape(layer.kernel.shape), bias])
    return model
