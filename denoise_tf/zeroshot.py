"""Zero-shot denoising of one image: a small network fitted to the image's own down-sampled pairs.

Zero-Shot Noise2Noise (Mansour & Heckel, CVPR 2023). Two fixed 2x2 diagonal filters with stride 2
split a noisy image ``y`` into two half-size images ``D1(y)`` and ``D2(y)`` whose pixels are
neighbours in ``y``: their clean content is nearly the same and, for pixel-independent noise, their
noises are independent, so they form a Noise2Noise pair. A tiny network ``f`` (two 3x3
convolutions of ``width`` channels with LeakyReLU(0.2), a 1x1 convolution; 21,313 parameters for
gray, 22,275 for RGB) predicts the noise, ``x = y - f(y)``, and is fitted with

* the residual loss ``1/2 (|D1 - f(D1) - D2|^2 + |D2 - f(D2) - D1|^2)`` (each half denoised
  towards the other), and
* the consistency loss ``1/2 (|D1 - f(D1) - D1(y - f(y))|^2 + |D2 - f(D2) - D2(y - f(y))|^2)``
  (denoising then down-sampling agrees with down-sampling then denoising),

with Adam (``1e-3``, halved every 1,000 steps as in the paper), then applied once to the full
image. Nothing but the noisy image is used: no clean image, no noise level, no training set.

CPU budget: the paper fits the whole image at every step (on a GPU). Here each step fits a random
``patch`` x ``patch`` crop of the image (even offsets, so the pairs are the paper's), which makes a
step cost the same for any image size; ``patch=0`` fits the whole image at every step. ``steps``
bounds the steps and ``max_seconds`` the fitting time (checked after each step); whichever comes
first ends the fit, and the denoiser's ``last_fit`` says which.

Images are float32 in [0, 1] (noisy values may leave it), ``(H, W, C)`` with C 1 or 3, ``(H, W)``
or a batch ``(N, H, W, C)`` (each image fitted on its own), at least :data:`MIN_SIDE` pixels a
side. Built from ``keras.layers`` / ``keras.ops`` and fitted with ``Model.fit`` (the loss in an
overridden ``compute_loss``), so it runs on any Keras backend.
"""

from __future__ import annotations

import time

import numpy as np

from .images import check_image

#: Smallest image side: the half-size pair must cover the network's 5x5 receptive field.
MIN_SIDE = 10
#: Defaults (the paper's network, learning rate and schedule; crops and a time cap for CPUs).
STEPS = 2000
LEARNING_RATE = 1e-3
WIDTH = 48
PATCH = 32
MAX_SECONDS = 120.0
#: The learning rate is halved every this many steps (the paper's schedule).
DECAY_STEPS = 1000

#: The two 2x2 filters: ``D1`` averages the anti-diagonal pixels, ``D2`` the diagonal ones.
FILTERS = (
    np.array([[0.0, 0.5], [0.5, 0.0]], dtype=np.float32),
    np.array([[0.5, 0.0], [0.0, 0.5]], dtype=np.float32),
)


def pair_downsample(batch):
    """The two half-size images ``D1(y), D2(y)`` of an ``(N, H, W, C)`` batch (keras ops, stride 2).

    Each output pixel ``(i, j)`` averages two diagonal neighbours of the ``2x2`` block at
    ``(2i, 2j)``: ``D1`` the anti-diagonal pair, ``D2`` the diagonal one, channel by channel.
    Odd sides drop their last row or column.
    """
    from keras import ops

    channels = int(batch.shape[-1])
    out = []
    for kernel in FILTERS:
        depthwise = np.repeat(kernel[:, :, None, None], channels, axis=2)  # (2, 2, C, 1)
        out.append(ops.depthwise_conv(batch, depthwise, strides=2, padding="valid"))
    return out[0], out[1]


def build_network(channels: int, width: int = WIDTH, seed: int = 0):
    """The noise predictor ``f``: 3x3 conv (``width``), LeakyReLU(0.2), 3x3 conv, LeakyReLU, 1x1 conv.

    Fully convolutional (any image size), ``channels`` in and out, weights drawn from ``seed``.
    """
    import keras
    from keras import layers

    def init(offset):
        return keras.initializers.GlorotUniform(seed=int(seed) * 3 + offset)

    return keras.Sequential(
        [
            keras.Input((None, None, channels)),
            layers.Conv2D(width, 3, padding="same", kernel_initializer=init(0), name="conv1"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(width, 3, padding="same", kernel_initializer=init(1), name="conv2"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(channels, 1, kernel_initializer=init(2), name="conv3"),
        ],
        name="zero_shot_noise2noise",
    )


def pair_loss(network, noisy):
    """Residual + consistency loss of ``network`` on an ``(N, H, W, C)`` noisy batch (keras ops).

    Returns ``(total, residual, consistency)``, each a scalar (means over pixels).
    """
    from keras import ops

    def mse(a, b):
        return ops.mean(ops.square(a - b))

    first, second = pair_downsample(noisy)
    clean_first = first - network(first)
    clean_second = second - network(second)
    residual = 0.5 * (mse(clean_first, second) + mse(clean_second, first))
    down_first, down_second = pair_downsample(noisy - network(noisy))
    consistency = 0.5 * (mse(clean_first, down_first) + mse(clean_second, down_second))
    return residual + consistency, residual, consistency


def check_input(image, name: str = "image") -> np.ndarray:
    """``image`` as float32 ``(H, W, C)`` / ``(N, H, W, C)``, or an error saying what is wrong.

    :func:`denoise_tf.images.check_image` (``TypeError`` for integer arrays; ``ValueError`` for
    shapes other than ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)`` with C 1 or 3, NaN/inf and
    0-255 values), then sides of at least :data:`MIN_SIDE`. ``(H, W)`` comes back ``(H, W, 1)``.
    """
    array = check_image(image, f"zero-shot: {name}", ranks=(2, 3, 4))
    if array.ndim == 2:
        array = array[..., None]
    height, width = array.shape[-3:-1]
    if min(height, width) < MIN_SIDE:
        raise ValueError(
            f"zero-shot: {name} is {height}x{width} pixels, too small for its 2x down-sampled pairs: "
            f"it needs at least {MIN_SIDE}x{MIN_SIDE} (half-size images that cover the network's 5x5 receptive field)"
        )
    return array


def _check_options(steps, learning_rate, width, patch, max_seconds) -> None:
    def positive_int(value, what):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"zero-shot: {what} must be a positive int, got {value!r}")

    positive_int(steps, "steps")
    positive_int(width, "width")
    if isinstance(patch, bool) or not isinstance(patch, (int, np.integer)) or patch < 0 or patch % 2 or 0 < patch < MIN_SIDE:
        raise ValueError(
            f"zero-shot: patch must be 0 (the whole image) or an even int >= {MIN_SIDE} (crop side in pixels), got {patch!r}"
        )
    if not (isinstance(learning_rate, (int, float)) and np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"zero-shot: learning_rate must be a number > 0, got {learning_rate!r}")
    if isinstance(max_seconds, bool) or not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise ValueError(f"zero-shot: max_seconds must be a number of seconds > 0 (inf: no cap), got {max_seconds!r}")


def crop_offsets(shape, patch: int, steps: int, seed: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Top-left corners ``(steps, 2)`` (even, int32) of the random crops, and the crop size.

    ``patch`` 0, or a patch not smaller than the image, crops the whole image (its sides rounded
    down to even) at every step.
    """
    height, width = int(shape[0]) // 2 * 2, int(shape[1]) // 2 * 2
    size = (min(patch, height), min(patch, width)) if patch else (height, width)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, (height - size[0]) // 2 + 1, steps) * 2
    cols = rng.integers(0, (width - size[1]) // 2 + 1, steps) * 2
    return np.stack([rows, cols], axis=1).astype(np.int32), size


def _fit_model(network, image: np.ndarray, size):
    """A ``keras.Model`` whose ``fit`` on crop corners fits ``network`` to crops of ``image``."""
    import keras
    from keras import ops

    class PairFit(keras.Model):
        def __init__(self):
            super().__init__()
            self.network = network
            self.noisy = keras.Variable(image[None], trainable=False, name="noisy")
            self.loss_tracker = keras.metrics.Mean(name="loss")

        def call(self, corners):
            corner = ops.cast(corners[0], "int32")
            zero = ops.zeros((1,), "int32")
            start = ops.concatenate([zero, corner, zero])
            return ops.slice(self.noisy, start, (1, size[0], size[1], image.shape[-1]))

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            total, _, _ = pair_loss(self.network, y_pred)
            self.loss_tracker.update_state(total)
            return total

        @property
        def metrics(self):
            return [self.loss_tracker]

    return PairFit()


def _callback(steps: int, max_seconds: float | None, start: float, progress: bool, label: str):
    """Stops the fit at ``max_seconds`` after ``start`` and draws a tqdm bar; ``.steps``, ``.capped``, ``.loss``."""
    import keras

    class Watch(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps, self.capped, self.loss, self.bar = 0, False, float("nan"), None

        def on_train_begin(self, logs=None):
            if progress:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=steps, desc=label, unit="step", leave=False)

        def on_train_batch_end(self, batch, logs=None):
            self.steps = batch + 1
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])
            if self.bar is not None:
                self.bar.update(self.steps - self.bar.n)
                self.bar.set_postfix(loss=f"{self.loss:.3g}", refresh=False)
            if max_seconds is not None and time.monotonic() - start >= max_seconds and self.steps < steps:
                self.capped = True
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.bar is not None:
                self.bar.close()

    return Watch()


def fit_one(
    image: np.ndarray,
    steps: int = STEPS,
    learning_rate: float = LEARNING_RATE,
    width: int = WIDTH,
    patch: int = PATCH,
    max_seconds: float | None = MAX_SECONDS,
    seed: int = 0,
    progress: bool = True,
):
    """Fit the network to one checked ``(H, W, C)`` image; ``(network, info)``.

    ``info`` has ``steps`` (done), ``capped`` (stopped by ``max_seconds``), ``loss`` (last
    step's), ``seconds`` (fitting time) and ``parameters``.
    """
    import keras

    start = time.monotonic()
    network = build_network(image.shape[-1], width=width, seed=seed)
    corners, size = crop_offsets(image.shape, patch, steps, seed)
    model = _fit_model(network, image, size)
    schedule = keras.optimizers.schedules.ExponentialDecay(learning_rate, DECAY_STEPS, 0.5, staircase=True)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    watch = _callback(steps, max_seconds, start, progress, f"zero-shot {image.shape[0]}x{image.shape[1]}")
    model.fit(corners, batch_size=1, epochs=1, shuffle=False, verbose=0, callbacks=[watch])
    info = {
        "steps": watch.steps,
        "capped": watch.capped,
        "loss": watch.loss,
        "seconds": time.monotonic() - start,
        "parameters": int(network.count_params()),
    }
    return network, info


def apply(network, image: np.ndarray) -> np.ndarray:
    """``image - network(image)`` for one ``(H, W, C)`` image, float32 clipped to [0, 1]."""
    from keras import ops

    noise = ops.convert_to_numpy(network(image[None], training=False))[0]
    return np.clip(image - noise, 0.0, 1.0).astype(np.float32)


class ZeroShotDenoiser:
    """Zero-Shot Noise2Noise with fixed settings: ``.denoise(image)``, ``.name``; no noise level.

    Every parameter left None takes its default.

    Parameters
    ----------
    steps : int
        Most Adam steps per image (default 2,000).
    learning_rate : float
        Adam's first learning rate, halved every 1,000 steps (default 1e-3).
    width : int
        Channels of the two hidden convolutions (default 48, about 21k parameters).
    patch : int
        Side of the random crop fitted at each step (even, default 32); 0 fits the whole image.
    max_seconds : float or None
        Time cap on fitting one image (default 120 s); ``float("inf")``: no cap.
    seed : int
        Seeds the weights and the crops: the same image and settings give the same output.
    progress : bool
        A tqdm progress bar per image.

    Attributes
    ----------
    last_fit : dict or None
        What the last image's fit did (:func:`fit_one`).
    """

    name = "zero-shot"

    def __init__(
        self,
        steps: int | None = None,
        learning_rate: float | None = None,
        width: int | None = None,
        patch: int | None = None,
        max_seconds: float | None = None,
        seed: int | None = None,
        progress: bool | None = None,
    ):
        # None takes the module default, read now (so the defaults live in one place)
        steps = STEPS if steps is None else steps
        learning_rate = LEARNING_RATE if learning_rate is None else learning_rate
        width = WIDTH if width is None else width
        patch = PATCH if patch is None else patch
        max_seconds = MAX_SECONDS if max_seconds is None else max_seconds
        _check_options(steps, learning_rate, width, patch, max_seconds)
        self.options = dict(
            steps=int(steps),
            learning_rate=float(learning_rate),
            width=int(width),
            patch=int(patch),
            max_seconds=None if max_seconds == float("inf") else float(max_seconds),
            seed=0 if seed is None else int(seed),
            progress=True if progress is None else bool(progress),
        )
        self.last_fit = None

    def denoise(self, image) -> np.ndarray:
        """Denoise ``(H, W)``, ``(H, W, C)`` or ``(N, H, W, C)``; float32, same shape, in [0, 1]."""
        two_d = np.ndim(image) == 2
        array = check_input(image)
        batch = array if array.ndim == 4 else array[None]
        out = []
        for one in batch:
            network, self.last_fit = fit_one(one, **self.options)
            out.append(apply(network, one))
        result = np.stack(out) if array.ndim == 4 else out[0]
        return result[..., 0] if two_d else result

    __call__ = denoise

    def __repr__(self) -> str:
        return "ZeroShotDenoiser(" + ", ".join(f"{k}={v!r}" for k, v in self.options.items()) + ")"


def denoise(image, **options) -> np.ndarray:
    """Denoise ``image`` with :class:`ZeroShotDenoiser` ``(**options)``: float32, same shape, in [0, 1]."""
    return ZeroShotDenoiser(**options).denoise(image)
