"""Run a Keras denoising model on images of any size: batching, tiling, multi-pass, self-ensemble.

``denoise(model, image, ...)`` takes one image ``(H, W, C)`` or a batch ``(N, H, W, C)``, float32
in [0, 1] (noisy values may leave the range), gray or colour as the model expects, and returns
float32 of the same shape clipped to [0, 1].

* **Compiled call.** The model runs through one graph-compiled function cached per model: on
  JAX ``jax.jit`` of ``model.stateless_call`` (the current weights are passed in on every call,
  so later weight loads are seen); on TensorFlow ``tf.function(reduce_retracing=True)`` around
  ``model(x, training=False)``. Other backends use ``model.predict_on_batch``, which can also
  be chosen with ``runner="predict_on_batch"`` (see ``benchmarks/bench_inference.py``).
* **Tiling.** ``tile=T`` cuts images larger than ``T x T`` into overlapping tiles (``overlap``
  pixels shared by neighbours), runs them ``batch_size`` at a time and blends them back with
  weights that are 0 for the first ``margin`` pixels at a tile's inner edge, rise along a raised
  cosine over the rest of the shared stretch and are 1 inside; the weights of neighbouring
  tiles sum to 1 (the last tile of a row or column is shifted to end at the border, so it may
  share more than ``overlap`` pixels; its ramp then is wider). With
  ``margin = min(receptive radius, overlap // 4)`` the pixels a tile computes wrongly (those
  whose receptive field crosses the tile edge) get weight 0 when ``overlap >= 4 * radius``,
  and the tiled output equals the untiled one; with less overlap the error is small (trained
  DnCNN-S, radius 17, tile 96, overlap 32: 87 dB PSNR between tiled and untiled output).
  Memory is bounded by the output image plus ``batch_size`` tiles (a 4000x3000 photo runs in
  tiles of 512); a colour photo through a gray model also holds its gray channels (3 or 5
  image-sized planes, see below).
  Tile positions are multiples of the model's down-sampling factor (2 for FFDNet), so every
  tile sees the pixel grid the whole image would.
* **Noise level.** Models with two inputs (FFDNet: ``[noisy, level]``) get
  ``level = sigma / 255``; ``sigma`` is then required. One-input models ignore ``sigma``.
* **Multi-pass.** ``passes=n`` applies the model ``n`` times (output clipped between passes).
* **Self-ensemble.** ``self_ensemble=True`` averages the 8 flip/rotate versions (x8 geometric
  ensemble, :func:`denoise_tf.transforms.augment` / ``deaugment``).
* **Colour images, gray models.** A gray model (1 input channel) given an RGB image denoises it
  along a colour path (:mod:`denoise_tf.colour`, ``color_mode``; default
  :data:`denoise_tf.colour.DEFAULT` = ``"opponent"``): the image goes to one luminance and two
  chroma channels in which independent RGB noise of std ``sigma`` stays independent (std
  ``sigma / sqrt3`` in the luminance, ``sigma`` in the chroma), each channel is denoised as a
  gray image, and the result goes back to RGB. Level-taking models get each channel's own level
  (``sigma`` times :func:`denoise_tf.colour.noise_factors`). ``"opponent-rgb-luma"`` (best for
  fixed-sigma models; :func:`denoise_tf.zoo.make_denoiser` picks it for them) takes the
  luminance from R, G and B denoised one by one; ``"rgb"`` is the plain per-channel path, kept
  for comparison. Passes and clipping apply to the RGB result; the self-ensemble runs on the
  gray channels.
* **Gray images, colour models.** A colour model given a gray image gets it repeated to RGB;
  the result is converted back to gray (ITU-R 601 weights, which sum to 1).
* **Input check.** Non-finite values (NaN, +-inf) are refused with a ``ValueError`` that counts
  the pixels holding them; so are 0-255 images (see :func:`denoise_tf.images.check_image`).

:class:`NeuralDenoiser` wraps a model and these options behind ``.denoise(image)`` and ``.name``,
the interface of :func:`denoise_tf.classical.get`; given an export of the model
(``exported=``, :func:`denoise_tf.export.fast_model`) it runs the export's call instead of the
Keras one, with the same tiling, passes and colour paths (:func:`denoise_tf.zoo.make_denoiser`
chooses it with ``backend="auto"``).
"""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np

from .images import check_image
from .transforms import AUGMENT_MODES, augment, deaugment

RUNNERS = ("compiled", "predict_on_batch")

#: id(model) -> (weak reference to the model, compiled callable); entries die with the model.
_COMPILED: dict[int, tuple] = {}


# --------------------------------------------------------------------------------------------
# Model inspection and the compiled call


def _model_inputs(model) -> list:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        name = getattr(model, "name", model)
        raise ValueError(f"model {name!r} has no defined inputs: build it on a known input shape first")
    return list(inputs)


def model_channels(model) -> int | None:
    """Image channels the model expects (last axis of its first input), or None if unknown."""
    channels = _model_inputs(model)[0].shape[-1]
    return None if channels is None else int(channels)


def takes_level(model) -> bool:
    """True for models with a second ``level`` input (FFDNet-style noise-level map)."""
    return len(_model_inputs(model)) == 2


def tile_geometry(model) -> tuple[int, int]:
    """``(alignment, receptive radius)``: total down-sampling factor and half receptive field."""
    if getattr(model, "geometry", None) is not None:  # denoise_tf.export.ExportedModel stores its own
        return tuple(model.geometry)
    from keras import layers as klayers

    step, align = 1.0, 1
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "downscale", None):
            step *= layer.downscale
        elif isinstance(layer, (klayers.MaxPooling2D, klayers.AveragePooling2D)):
            step *= layer.strides[0]
        elif isinstance(layer, klayers.Conv2DTranspose):
            step /= layer.strides[0]
        elif isinstance(layer, klayers.UpSampling2D):
            step /= layer.size[0]
        elif getattr(layer, "kernel_size", None) is not None and len(layer.kernel_size) == 2:
            step *= getattr(layer, "strides", (1, 1))[0]
        align = max(align, int(round(step)))
    try:
        from .models import receptive_field

        radius = receptive_field(model) // 2
    except Exception:  # unknown layer layout: no exactness guarantee, margin from overlap only
        radius = 1 << 30
    return align, radius


def _predict_on_batch(model) -> Callable:
    def call(*inputs):
        return np.asarray(model.predict_on_batch(list(inputs) if len(inputs) > 1 else inputs[0]))

    return call


def _build_compiled(model) -> Callable:
    numpy_call = getattr(model, "numpy_call", None)  # exported models run outside Keras
    if numpy_call is not None:
        return numpy_call
    import keras

    backend = keras.backend.backend()
    ref = weakref.ref(model)
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def graph(*inputs):
            return ref()(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

        def call(*inputs):
            return graph(*inputs).numpy()

        return call
    if backend == "jax":
        import jax

        def pure(trainable, non_trainable, *inputs):
            x = list(inputs) if len(inputs) > 1 else inputs[0]
            outputs, _ = ref().stateless_call(trainable, non_trainable, x, training=False)
            return outputs

        jitted = jax.jit(pure)

        def call(*inputs):
            m = ref()
            trainable = [v.value for v in m.trainable_variables]
            non_trainable = [v.value for v in m.non_trainable_variables]
            return np.asarray(jitted(trainable, non_trainable, *inputs))

        return call
    return _predict_on_batch(model)


def compiled_call(model) -> Callable:
    """The cached graph-compiled ``f(noisy[, level]) -> ndarray`` for ``model`` (built on first use).

    ``noisy``: ``(N, H, W, C)`` float32; ``level``: ``(N, 1)`` float32 (two-input models).
    Returns the raw ``(N, H, W, C)`` float32 output (not clipped).
    """
    key = id(model)
    entry = _COMPILED.get(key)
    if entry is not None and entry[0]() is model:
        return entry[1]
    function = _build_compiled(model)
    _COMPILED[key] = (weakref.ref(model), function)
    weakref.finalize(model, _COMPILED.pop, key, None)
    return function


def _runner(model, runner) -> Callable:
    if callable(runner):
        return runner
    if runner == "compiled":
        return compiled_call(model)
    if runner == "predict_on_batch":
        return _predict_on_batch(model)
    raise ValueError(f"runner must be one of {RUNNERS} or a function f(noisy[, level]) -> ndarray, got {runner!r}")


# --------------------------------------------------------------------------------------------
# Tiling


def _positions(length: int, tile: int, overlap: int, align: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the tiles along one axis; starts are multiples of ``align``."""
    if length <= tile:
        return [(0, length)]
    step = max(align, (tile - overlap) // align * align)
    last = (length - tile) // align * align
    starts = list(range(0, last, step)) + [last]
    return [(s, length if s == last else s + tile) for s in starts]


def _ramp(n: int, before: int, after: int, margin: int) -> np.ndarray:
    """1-D blending weights of an ``n``-pixel tile sharing ``before`` / ``after`` pixels with its neighbours.

    Over a shared stretch of ``o`` pixels the weight is 0 for the ``margin`` pixels next to the
    tile's edge, then rises along a raised cosine to 1 over ``o - 2 * margin`` pixels; the
    neighbour's weight mirrors it, so the two sum to 1 at every pixel.
    """
    weights = np.ones(n, dtype=np.float64)
    t = np.arange(n, dtype=np.float64)
    for shared, flip in ((before, False), (after, True)):
        if shared <= 0:
            continue
        m = min(margin, shared // 2)
        width = max(shared - 2 * m, 1e-6)  # m = shared / 2: a hard cut in the middle
        rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - m + 0.5) / width, 0.0, 1.0))
        weights *= rise[::-1] if flip else rise
    return weights


def _axis_weights(positions: list[tuple[int, int]], margin: int) -> list[np.ndarray]:
    """Blending weights of each tile along one axis (see :func:`_ramp`)."""
    out = []
    for i, (start, end) in enumerate(positions):
        before = positions[i - 1][1] - start if i > 0 else 0
        after = end - positions[i + 1][0] if i + 1 < len(positions) else 0
        out.append(_ramp(end - start, before, after, margin))
    return out


def _as_pair(tile, name: str) -> tuple[int, int]:
    values = (tile, tile) if np.isscalar(tile) else tuple(tile)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in values):
        raise ValueError(f"{name} must be a positive int or a pair (height, width) of them, got {tile!r}")
    return int(values[0]), int(values[1])


class _Run:
    """One ``denoise`` call: the model function, settings and the progress bar."""

    def __init__(self, function, tile, overlap, align, radius, batch_size, bar, pad_batches=False):
        self.function = function
        self.tile = tile
        self.overlap = overlap
        self.align = align
        self.margin = min(radius, overlap // 4)
        self.batch_size = batch_size
        self.bar = bar
        self.pad_batches = pad_batches

    def call(self, batch: np.ndarray, levels: np.ndarray | None) -> np.ndarray:
        n = len(batch)
        if self.pad_batches and n < self.batch_size:
            # jax.jit compiles once per input shape: pad a short batch to a power of two (at most
            # batch_size) so a run compiles for a few batch sizes only.
            size = min(self.batch_size, 1 << (n - 1).bit_length())
            batch = np.concatenate([batch, np.repeat(batch[-1:], size - n, axis=0)])
            levels = None if levels is None else np.concatenate([levels, np.repeat(levels[-1:], size - n)])
        inputs = (batch,) if levels is None else (batch, levels.reshape(-1, 1))
        out = np.asarray(self.function(*inputs), dtype=np.float32)
        if out.shape != batch.shape:
            raise ValueError(f"model output shape {out.shape} differs from its input shape {batch.shape}")
        return out[:n]

    def batch(self, images: np.ndarray, levels: np.ndarray | None) -> np.ndarray:
        """Model output for ``(N, H, W, C)`` images (tiled where larger than a tile)."""
        n, h, w, _ = images.shape
        if self.tile is None or (h <= self.tile[0] and w <= self.tile[1]):
            out = np.empty_like(images)
            for i in range(0, n, self.batch_size):
                part = slice(i, i + self.batch_size)
                out[part] = self.call(images[part], None if levels is None else levels[part])
                self.bar.update(len(images[part]))
            return out
        return np.stack([self.tiled(images[i], None if levels is None else levels[i : i + 1]) for i in range(n)])

    def tiled(self, image: np.ndarray, level: np.ndarray | None) -> np.ndarray:
        h, w, _ = image.shape
        th, tw = self.tile
        rows = _positions(h, th, self.overlap, self.align)
        cols = _positions(w, tw, self.overlap, self.align)
        out = np.zeros(image.shape, dtype=np.float32)
        total = np.zeros((h, w, 1), dtype=np.float32)
        pending: dict[tuple, list] = {}

        def flush(shape):
            boxes = pending.pop(shape)
            batch = np.stack([image[y0:y1, x0:x1] for (y0, y1, x0, x1), _ in boxes])
            levels = None if level is None else np.repeat(level, len(boxes))
            result = self.call(batch, levels)
            for ((y0, y1, x0, x1), weight), tile_out in zip(boxes, result):
                out[y0:y1, x0:x1] += tile_out * weight
                total[y0:y1, x0:x1] += weight
            self.bar.update(len(boxes))

        row_weights = _axis_weights(rows, self.margin)
        col_weights = _axis_weights(cols, self.margin)
        for (y0, y1), wy in zip(rows, row_weights):
            for (x0, x1), wx in zip(cols, col_weights):
                weight = (wy[:, None] * wx[None, :]).astype(np.float32)[..., None]
                shape = (y1 - y0, x1 - x0)
                pending.setdefault(shape, []).append(((y0, y1, x0, x1), weight))
                if len(pending[shape]) == self.batch_size:
                    flush(shape)
        for shape in list(pending):
            flush(shape)
        return out / total


# --------------------------------------------------------------------------------------------
# Public API


#: (model channels, image channels) pairs :func:`denoise` adapts (see the module docstring).
ADAPTED_CHANNELS = ((1, 3), (3, 1))


def _check_image(image, channels: int | None) -> np.ndarray:
    """The checked ``(H, W, C)`` / ``(N, H, W, C)`` float32 image, for a model of ``channels`` channels."""
    image = check_image(image, channels=None, min_side=1)
    have = image.shape[-1]
    if channels is not None and have != channels and (channels, have) not in ADAPTED_CHANNELS:
        kind = {1: " (gray)", 3: " (colour)"}.get(channels, "")
        raise ValueError(
            f"model expects {channels} channel{'s' if channels != 1 else ''}{kind}, got {have} "
            f"(image shape {image.shape}, channels last; gray models also take RGB, colour models also take gray)"
        )
    return image


def resolve_color_mode(color_mode: str | None) -> str:
    """The colour path a gray model takes on RGB images: ``color_mode``, or the default when None.

    Raises
    ------
    ValueError
        ``color_mode`` is not one of :data:`denoise_tf.colour.MODES`.
    """
    from . import colour

    if color_mode is None:
        return colour.DEFAULT
    if color_mode not in colour.MODES:
        raise ValueError(f"color_mode must be one of {colour.available()} (or None: {colour.DEFAULT!r}), got {color_mode!r}")
    return color_mode


def colour_path(model, image_channels: int, color_mode: str | None = None) -> str | None:
    """How ``model`` meets images with ``image_channels`` channels: the colour path, or None.

    A gray model on RGB images returns the colour path it takes (``color_mode`` resolved:
    ``"opponent"``, ``"opponent-rgb-luma"``, ``"rgb"``); every other pairing (the model's own
    channels, a colour model on gray images) returns None.
    """
    if model_channels(model) == 1 and image_channels == 3:
        return resolve_color_mode(color_mode)
    return None


class _Channels:
    """How a batch meets the model's channels: ``encode`` to the model's input, ``decode`` back.

    ``mode`` None: the image has the model's channels (identity). A colour path of
    :data:`denoise_tf.colour.MODES`: a gray model on RGB, each image becomes several gray images
    with their own levels (:func:`denoise_tf.colour.split` / ``merge``). ``"repeat"``: a colour
    model on gray images (repeated to RGB, back to gray by ITU-R 601).
    """

    def __init__(self, mode: str | None):
        self.mode = mode

    def inputs(self, n: int) -> int:
        """Model inputs per pass for ``n`` images."""
        if self.mode is None or self.mode == "repeat":
            return n
        from . import colour

        return n * len(colour.noise_factors(self.mode))

    def encode(self, batch: np.ndarray, levels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        if self.mode is None:
            return batch, levels
        if self.mode == "repeat":
            return np.repeat(batch, 3, axis=-1), levels
        from . import colour

        return colour.split(batch, self.mode, levels)

    def decode(self, out: np.ndarray) -> np.ndarray:
        if self.mode is None:
            return out
        if self.mode == "repeat":
            from .datasets import convert_channels

            return np.stack([convert_channels(image, False) for image in out])
        from . import colour

        return colour.merge(out, self.mode)


def _levels(sigma, n: int, model) -> np.ndarray:
    if sigma is None:
        raise ValueError(
            f"model {model.name!r} takes a noise level input: pass sigma (noise standard deviation on the 0-255 scale)"
        )
    sigmas = np.asarray(sigma, dtype=np.float64).reshape(-1)
    if sigmas.size == 1:
        sigmas = np.repeat(sigmas, n)
    if sigmas.size != n:
        raise ValueError(f"sigma must be one number or one per image ({n}), got {sigmas.size} values")
    if not np.all(np.isfinite(sigmas)) or np.any(sigmas < 0):
        raise ValueError(f"sigma must be finite and >= 0 (0-255 scale), got {sigma!r}")
    return (sigmas / 255.0).astype(np.float32)


def denoise(
    model,
    image,
    sigma=None,
    tile=None,
    overlap: int = 32,
    passes: int = 1,
    self_ensemble: bool = False,
    batch_size: int = 8,
    progress: bool = False,
    runner: str = "compiled",
    color_mode: str | None = None,
) -> np.ndarray:
    """Denoise an image or a batch with a Keras model.

    Parameters
    ----------
    model : keras.Model
        Takes ``(N, H, W, C)`` float32 (or ``[noisy, level (N, 1)]`` for FFDNet-style models)
        and returns ``(N, H, W, C)``.
    image : ndarray
        ``(H, W, C)`` or ``(N, H, W, C)`` float32 in [0, 1], finite; ``C`` the model's channel
        count, or 3 (RGB) for a gray model, or 1 for a colour model (module docstring).
    sigma : float, sequence of float or None
        Noise level on the 0-255 scale (of each RGB channel for colour images), one number or
        one per image; required for models with a level input (passed as ``sigma / 255``, times
        the channel's noise factor in the colour path), ignored by the others.
    tile : int, (int, int) or None
        Tile height and width; None runs whole images. Images no larger than a tile run whole.
    overlap : int
        Pixels shared by neighbouring tiles (blended); ``0 <= overlap <= min(tile) // 2``.
    passes : int
        Apply the model this many times (>= 1).
    self_ensemble : bool
        Average over the 8 flip/rotate modes (8x the compute).
    batch_size : int
        Images (untiled) or tiles (tiled) per model call.
    progress : bool
        Show a tqdm progress bar over model inputs (images or tiles).
    runner : {"compiled", "predict_on_batch"} or callable
        The cached compiled function (default), ``model.predict_on_batch``, or a function
        ``f(noisy[, level]) -> ndarray`` that stands in for the model's call (the
        ``numpy_call`` of an export of ``model``, :func:`denoise_tf.export.fast_model`); the
        model still gives the channels and tiling geometry.
    color_mode : str or None
        Colour path of a gray model on RGB images (:data:`denoise_tf.colour.MODES`:
        ``"opponent"``, ``"opponent-rgb-luma"``, ``"rgb"`` channel by channel); None:
        :data:`denoise_tf.colour.DEFAULT`. Unused when the image has the model's channels.

    Returns
    -------
    ndarray
        float32, the shape of ``image``, clipped to [0, 1].

    Raises
    ------
    ValueError
        Wrong rank, channel count the model cannot take, non-finite values, missing ``sigma``
        for a level-input model, bad ``tile`` / ``overlap`` / ``passes`` / ``batch_size`` /
        ``color_mode``.
    """
    channels = model_channels(model)
    image = _check_image(image, channels)
    if not (isinstance(passes, (int, np.integer)) and passes >= 1):
        raise ValueError(f"passes must be an int >= 1, got {passes!r}")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if tile is not None:
        tile = _as_pair(tile, "tile")
        if not (isinstance(overlap, (int, np.integer)) and 0 <= overlap <= min(tile) // 2):
            raise ValueError(f"overlap must be an int in [0, {min(tile) // 2}] (half the tile), got {overlap!r}")
    mode = resolve_color_mode(color_mode)
    function = _runner(model, runner)
    single = image.ndim == 3
    batch = image[None] if single else image
    levels = _levels(sigma, len(batch), model) if takes_level(model) else None
    align, radius = tile_geometry(model)
    have = batch.shape[-1]
    adapter = _Channels(mode if (channels, have) == (1, 3) else "repeat" if (channels, have) == (3, 1) else None)

    from tqdm.auto import tqdm

    modes = AUGMENT_MODES if self_ensemble else (0,)
    n, h, w, _ = batch.shape
    inputs = adapter.inputs(n)  # model inputs per pass
    per_pass = 0
    for augment_mode in modes:
        hh, ww = (w, h) if augment_mode % 2 else (h, w)
        per_pass += inputs * (1 if tile is None else tile_count(hh, ww, tile, overlap, align))
    unit = "tile" if tile else "image"
    with tqdm(total=per_pass * passes, desc=f"denoise {model.name}", unit=unit, disable=not progress) as bar:
        import keras

        pad_batches = tile is not None and isinstance(runner, str) and runner == "compiled" and keras.backend.backend() == "jax"
        run = _Run(function, tile, overlap, align, radius, batch_size, bar, pad_batches)
        out = batch
        for _ in range(passes):
            encoded, encoded_levels = adapter.encode(out, levels)
            if self_ensemble:
                acc = np.zeros_like(encoded)
                for augment_mode in modes:
                    acc += deaugment(run.batch(np.ascontiguousarray(augment(encoded, augment_mode)), encoded_levels), augment_mode)
                result = acc / len(modes)
            else:
                result = run.batch(encoded, encoded_levels)
            out = np.clip(adapter.decode(result), 0.0, 1.0)
    out = out.astype(np.float32, copy=False)
    return out[0] if single else out


_DENOISE_OPTIONS = ("tile", "overlap", "passes", "self_ensemble", "batch_size", "progress", "runner", "color_mode")


class NeuralDenoiser:
    """A Keras model with fixed inference settings: ``.denoise(image)`` and ``.name``.

    Parameters
    ----------
    model : keras.Model
    sigma : float or None
        Noise level (0-255) for level-input models (FFDNet); ignored by the others.
    name : str or None
        Display name; default ``model.name``.
    exported : ExportedModel or None
        An export of ``model`` to run instead of its Keras call (the fast path,
        :func:`denoise_tf.export.fast_model`); ``model`` still gives channels and geometry.
    **options
        :func:`denoise` options: ``tile``, ``overlap``, ``passes``, ``self_ensemble``,
        ``batch_size``, ``progress``, ``runner``, ``color_mode`` (a gray model on RGB images).

    Attributes
    ----------
    backend : str
        The path that runs: the export's format (``"tflite"``; ``"bf16"`` for the bfloat16 path of
        :mod:`denoise_tf.lowprecision`), else ``"keras"``.
    """

    def __init__(self, model, sigma=None, name: str | None = None, exported=None, **options):
        unknown = sorted(set(options) - set(_DENOISE_OPTIONS))
        if unknown:
            expected = list(_DENOISE_OPTIONS)
            raise ValueError(f"NeuralDenoiser got unknown option(s) {unknown}: expected some of {expected}")
        if takes_level(model) and sigma is None:
            raise ValueError(f"model {model.name!r} takes a noise level input: pass sigma (0-255 scale)")
        if options.get("color_mode") is not None:
            resolve_color_mode(options["color_mode"])  # an unknown transform fails now, not at the first image
        if exported is not None and options.get("runner", "compiled") != "compiled":
            raise ValueError(f"an exported model runs on its own call: leave runner out (got {options['runner']!r})")
        self.model = model
        self.sigma = sigma
        self.options = dict(options)
        self.name = name or model.name
        self.exported = exported
        self.backend = "keras" if exported is None else str(getattr(exported, "format", None) or "exported")

    def denoise(self, image) -> np.ndarray:
        """Denoise ``(H, W, C)`` or ``(N, H, W, C)`` float32 in [0, 1]; float32, same shape, in [0, 1].

        A gray model takes RGB images too (in the ``color_mode`` colour space, :func:`denoise`).
        """
        options = self.options if self.exported is None else {**self.options, "runner": self.exported.numpy_call}
        return denoise(self.model, image, sigma=self.sigma, **options)

    __call__ = denoise

    def __repr__(self) -> str:
        options = "".join(f", {k}={v!r}" for k, v in self.options.items())
        backend = "" if self.exported is None else f", backend={self.backend!r}"
        return f"NeuralDenoiser({self.name!r}, sigma={self.sigma!r}{options}{backend})"


def tile_count(height: int, width: int, tile, overlap: int = 32, align: int = 1) -> int:
    """Number of tiles :func:`denoise` cuts an ``height x width`` image into."""
    th, tw = _as_pair(tile, "tile")
    return len(_positions(height, th, overlap, align)) * len(_positions(width, tw, overlap, align))


__all__ = [
    "denoise", "NeuralDenoiser", "compiled_call", "model_channels", "takes_level", "tile_count", "RUNNERS",
    "colour_path", "resolve_color_mode",
]
