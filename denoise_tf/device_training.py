"""Device-resident training on the JAX backend: batches are made on the accelerator, k steps per call.

The NumPy :class:`~denoise_tf.pipeline.PatchDataset` feeds one batch per step from the host; on a
GPU that leaves the device waiting. Here the clean training images (at the config's patch
scales, resized once on the host) live on the device, and one compiled call runs ``k`` optimizer
steps (``jax.lax.scan``), each of which draws its own batch inside the call:

* ``batch_size`` random ``patch_size`` windows, the image (and scale) of each drawn in proportion
  to its grid patches (``patch_mode: grid``; the same mix of scales as the patch grid, every
  position a candidate) or uniformly (``crop`` / ``random``);
* one of the 8 flip/rotate modes per window (numbered as :func:`denoise_tf.transforms.augment`);
* Gaussian noise at the config's sigma, or one sigma per window drawn uniformly from its range
  (``gaussian:sigma=0-55``); models with a noise-level input (FFDNet) get ``sigma / 255``;
* the forward and backward pass through ``model.stateless_call`` and the optimizer update through
  ``optimizer.stateless_apply`` (Keras 3), in the config's precision (``mixed_bfloat16``: bfloat16
  compute, float32 weights, float32 last convolution, output and loss).

All randomness of step ``j`` of epoch ``e`` comes from ``fold_in(fold_in(PRNGKey(seed), e), j)``,
so the batches do not depend on how the steps are split into calls, and a resumed run sees the
batches an uninterrupted run would have seen.

Run folders are the standard ones (see :mod:`denoise_tf.runs`): ``config.json``, ``log.csv``
(``epoch,loss,val_psnr``), ``best.weights.h5`` and ``last.weights.h5`` (model weights only),
``summary.json`` (written by :class:`denoise_tf.callbacks.RunSummary`), ``samples/epoch_NNN.png``
and ``backup/`` in the layout of Keras' ``BackupAndRestore`` (``latest.weights.h5`` with the model
and optimizer variables, ``training_metadata.json`` with the epochs done, their checksums and the
backup before as ``.bkp``), written at every epoch end by :func:`denoise_tf.runs.write_backup`
(atomic files, the checksum file last). So a run folder moves freely between this loop and
``python -m denoise_tf train --resume`` (both resume from either's backups, Keras' own included),
and a run killed mid-epoch loses that epoch only.

Several runs train in one process (:func:`train_many`): their calls are queued one after the
other without waiting (JAX dispatches asynchronously), so the device never idles between runs,
and runs of the same architecture and batch shape share one compiled step.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import runs
from .config import RESUMABLE_CHANGES, TrainConfig, learning_rate_at

#: Most optimizer steps one compiled call runs (the epoch is split into equal calls of at most this many).
DEFAULT_STEPS_PER_CALL = 200
#: The same on a CPU, where the steps of a call are unrolled into straight-line code (XLA's CPU
#: backend runs convolutions inside a compiled loop far slower, 70 to 100x here, than outside
#: one), so compile time grows with it.
CPU_STEPS_PER_CALL = 4
#: Name of the trainer in ``summary.json``'s placement.
TRAINER = "device_training"
#: Validation images drawn in ``samples/epoch_NNN.png`` (as :class:`denoise_tf.callbacks.ImageSamples`).
SAMPLE_COUNT = 3


# -------------------------------------------------------------------------------------------
# Data on the device


@dataclass(frozen=True)
class GaussianNoise:
    """The Gaussian noise of a config: sigma range on the 0-255 scale (``low == high``: fixed)."""

    low: float
    high: float
    per_channel: bool = True
    clip: bool = False


def gaussian_noise(spec) -> GaussianNoise:
    """The :class:`GaussianNoise` of a noise spec (``"gaussian:sigma=25"``, ``"gaussian:sigma=0-55"``).

    Raises
    ------
    ValueError
        The spec is not Gaussian noise (the device loop makes Gaussian noise only; other kinds
        train with ``python -m denoise_tf train``).
    """
    from . import noise as noise_lib

    parsed = noise_lib.parse(spec)
    if parsed.kind != "gaussian":
        raise ValueError(
            f"the device training loop makes Gaussian noise only, got noise {str(parsed)!r}: "
            "train this config with `python -m denoise_tf train`"
        )
    sigma = parsed.params.get("sigma", 25.0)
    low, high = (sigma, sigma) if not isinstance(sigma, tuple) else sigma
    return GaussianNoise(float(low), float(high), bool(parsed.params.get("per_channel", True)), bool(parsed.params.get("clip", False)))


class DeviceImages(NamedTuple):
    """Clean training images stacked for the device (a JAX pytree: passed to compiled calls).

    ``images``: ``(M, H, W, C)`` float32 (each image top-left, zero padded to the largest);
    ``sizes``: ``(M, 2)`` int32 true heights and widths; ``logits``: ``(M,)`` float32 log of each
    image's sampling weight.
    """

    images: object
    sizes: object
    logits: object


def stack_images(images, patch_size: int, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad ``(H, W, C)`` images to one ``(M, Hmax, Wmax, C)`` float32 array (host side).

    ``weights`` (``(M,)``, > 0) are the relative chances of drawing each image; default equal.
    Returns ``(images, sizes, logits)``.

    Raises
    ------
    ValueError
        No images, mixed channel counts, or an image smaller than ``patch_size``.
    """
    images = [np.asarray(im, dtype=np.float32) for im in images]
    if not images:
        raise ValueError("stack_images: no training images")
    small = [im.shape[:2] for im in images if min(im.shape[:2]) < patch_size]
    if small:
        raise ValueError(f"stack_images: patch_size {patch_size} is larger than an image of size {small[0]}")
    if len({im.shape[-1] for im in images}) != 1:
        raise ValueError("stack_images: images mix gray and colour")
    height, width = max(im.shape[0] for im in images), max(im.shape[1] for im in images)
    stack = np.zeros((len(images), height, width, images[0].shape[-1]), np.float32)
    for k, im in enumerate(images):
        stack[k, : im.shape[0], : im.shape[1]] = im
    sizes = np.array([im.shape[:2] for im in images], np.int32)
    weights = np.ones(len(images)) if weights is None else np.asarray(weights, np.float64)
    if weights.shape != (len(images),) or np.any(weights <= 0):
        raise ValueError(f"stack_images: weights must be {len(images)} positive numbers")
    return stack, sizes, np.log(weights / weights.sum()).astype(np.float32)


def training_images(config: TrainConfig) -> tuple[list, np.ndarray]:
    """The clean images a config trains on, at its patch scales, and their sampling weights.

    ``patch_mode: grid``: each image at each of ``patch_scales``, weighted by its number of grid
    patches (so scales mix as in :func:`~denoise_tf.pipeline.grid_patches`); ``crop`` / ``random``:
    the images at scale 1, equally likely.

    Raises
    ------
    ValueError
        ``paired_data`` configs (real noisy/clean pairs; not supported by the device loop).
    """
    from . import pipeline, training_data

    if config.paired_data:
        raise ValueError("the device training loop trains on clean images with synthetic noise; "
                         f"config {config.name!r} names paired_data: train it with `python -m denoise_tf train`")
    base = training_data.load_training_images(config)
    if config.patch_mode != "grid":
        return base, np.ones(len(base))
    images = pipeline.scaled_images(base, config.patch_scales)
    p, s = config.patch_size, config.patch_stride
    counts = np.array([max(0, (im.shape[0] - p) // s + 1) * max(0, (im.shape[1] - p) // s + 1) for im in images], np.float64)
    keep = counts > 0
    if not keep.any():
        raise ValueError(f"no {p}x{p} patch fits in the training images of {config.name!r}")
    return [im for im, k in zip(images, keep) if k], counts[keep]


def augment_modes(batch, modes):
    """Apply flip/rotate mode ``modes[i]`` (0..7) to square patch ``batch[i]``: ``(B, P, P, C)`` JAX arrays.

    Mode ``m``: ``m % 4`` quarter turns, then a vertical flip when ``m >= 4`` (the numbering of
    :func:`denoise_tf.transforms.augment`).
    """
    import jax.numpy as jnp

    turned = [jnp.rot90(batch, k, axes=(1, 2)) for k in range(4)]
    candidates = jnp.stack(turned + [jnp.flip(t, axis=1) for t in turned])
    return candidates[modes, jnp.arange(batch.shape[0])]


def make_batch(key, data: DeviceImages, patch_size: int, batch_size: int, noise: GaussianNoise, augment: bool = True, sigma=None):
    """One training batch drawn on the device (traceable inside ``jit``).

    Parameters
    ----------
    key : jax PRNG key
    data : DeviceImages
        Device arrays (see :func:`stack_images`).
    patch_size, batch_size : int
    noise : GaussianNoise
    augment : bool
        Draw one of the 8 flip/rotate modes per window.
    sigma : (2,) array or None
        ``(low, high)`` sigma on the 0-255 scale; default ``(noise.low, noise.high)`` (an array
        here lets runs that differ only in sigma share one compiled step).

    Returns
    -------
    noisy : ``(B, P, P, C)`` float32, ``clean + sigma / 255 * N(0, 1)`` (clipped when ``noise.clip``)
    level : ``(B, 1)`` float32, sigma / 255 of each window
    clean : ``(B, P, P, C)`` float32 in [0, 1]
    """
    import jax
    import jax.numpy as jnp

    p, b = patch_size, batch_size
    k_image, k_y, k_x, k_mode, k_sigma, k_noise = jax.random.split(key, 6)
    index = jax.random.categorical(k_image, data.logits, shape=(b,))
    sizes = data.sizes[index]
    ys = jax.random.randint(k_y, (b,), 0, sizes[:, 0] - p + 1)
    xs = jax.random.randint(k_x, (b,), 0, sizes[:, 1] - p + 1)
    channels = data.images.shape[-1]

    def window(i, y, x):
        return jax.lax.dynamic_slice(data.images, (i, y, x, 0), (1, p, p, channels))[0]

    clean = jax.vmap(window)(index, ys, xs)
    if augment:
        clean = augment_modes(clean, jax.random.randint(k_mode, (b,), 0, 8))
    low, high = (noise.low, noise.high) if sigma is None else (sigma[0], sigma[1])
    sigmas = jax.random.uniform(k_sigma, (b,), jnp.float32, low, high) / 255.0
    shape = (b, p, p, channels if noise.per_channel else 1)
    noisy = clean + jax.random.normal(k_noise, shape, jnp.float32) * sigmas[:, None, None, None]
    if noise.clip:
        noisy = jnp.clip(noisy, 0.0, 1.0)
    return noisy, sigmas[:, None], clean


def step_key(seed: int, epoch, step):
    """PRNG key of one training step: ``fold_in(fold_in(PRNGKey(seed), epoch), step)``."""
    import jax

    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), epoch), step)


def steps_per_call(steps_per_epoch: int, most: int = DEFAULT_STEPS_PER_CALL) -> int:
    """The largest divisor of ``steps_per_epoch`` that is at most ``most`` (every call has the same length)."""
    if steps_per_epoch < 1 or most < 1:
        raise ValueError(f"steps_per_epoch and steps per call must be >= 1, got {steps_per_epoch}, {most}")
    return max(d for d in range(1, min(most, steps_per_epoch) + 1) if steps_per_epoch % d == 0)


# -------------------------------------------------------------------------------------------
# Compiled functions, shared by runs of one architecture


def build_model(config: TrainConfig):
    """``config``'s model under exactly ``config.precision`` (the global dtype policy is restored).

    Unlike :func:`denoise_tf.train.build_model` there is no float32 fallback on CPUs without
    bfloat16 instructions: this loop is for accelerators, and on a CPU it trains as a GPU would.
    """
    import keras

    from . import models

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        return models.build(config.model, **config.model_options)
    finally:
        keras.config.set_dtype_policy(previous)


def conv_compute_dtypes(model) -> dict:
    """How many convolutions of ``model`` compute in each dtype, e.g. ``{"bfloat16": 16, "float32": 1}``."""
    import keras

    counts: dict = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Conv2D):
            counts[layer.compute_dtype] = counts.get(layer.compute_dtype, 0) + 1
    return dict(sorted(counts.items()))


def make_optimizer(config: TrainConfig, learning_rate: float):
    """The config's Keras optimizer with a float learning rate (a variable the loop sets per epoch)."""
    import keras

    return keras.optimizers.get({"class_name": config.optimizer, "config": {"learning_rate": learning_rate}})


def signature(config: TrainConfig, data_shape: tuple, length: int) -> str:
    """What a compiled training call depends on: runs with equal signatures share one."""
    noise = gaussian_noise(config.noise)
    keys = {
        "model": config.model,
        "model_options": config.model_options,
        "precision": config.precision,
        "optimizer": config.optimizer,
        "loss": config.loss,
        "patch_size": config.patch_size,
        "batch_size": config.batch_size,
        "augment": config.augment,
        "noise": [noise.per_channel, noise.clip],
        "data": list(data_shape),
        "length": length,
    }
    return json.dumps(keys, sort_keys=True)


def default_steps_per_call() -> int:
    """:data:`DEFAULT_STEPS_PER_CALL` on an accelerator, :data:`CPU_STEPS_PER_CALL` on the CPU backend."""
    import jax

    return CPU_STEPS_PER_CALL if jax.default_backend() == "cpu" else DEFAULT_STEPS_PER_CALL


class CompiledStep:
    """``run(state, data, seed, epoch, start, sigma) -> (state, losses)``: ``length`` steps in one ``jit`` call.

    ``state`` is ``(trainable, non_trainable, optimizer_variables)`` (lists of arrays, donated);
    ``losses`` is ``(length,)`` float32. Built from a template model and optimizer of the
    architecture: any run of the same :func:`signature` passes its own variable values.
    ``unroll``: steps per loop iteration of the ``scan`` (default 1; on the CPU backend all of
    them, as straight-line code without a loop, see :data:`CPU_STEPS_PER_CALL`).
    """

    def __init__(self, model, optimizer, config: TrainConfig, length: int, unroll: int | None = None):
        import jax
        import jax.numpy as jnp
        import keras

        if unroll is None:
            unroll = length if jax.default_backend() == "cpu" else 1
        self.model, self.optimizer, self.length, self.unroll = model, optimizer, length, unroll
        self.with_level = len(model.inputs) == 2
        self.noise = gaussian_noise(config.noise)
        self.patch_size, self.batch_size, self.augment = config.patch_size, config.batch_size, config.augment
        loss_fn = keras.losses.get(config.loss)

        def loss_of(trainable, non_trainable, inputs, clean):
            output, non_trainable = model.stateless_call(trainable, non_trainable, inputs, training=True)
            return jnp.mean(loss_fn(clean, output)), non_trainable

        grad_fn = jax.value_and_grad(loss_of, has_aux=True)

        def run(state, data, seed, epoch, start, sigma):
            def body(carry, j):
                trainable, non_trainable, opt_vars = carry
                key = step_key(seed, epoch, start + j)
                noisy, level, clean = make_batch(key, data, self.patch_size, self.batch_size, self.noise, self.augment, sigma)
                inputs = [noisy, level] if self.with_level else noisy
                (loss, non_trainable), grads = grad_fn(trainable, non_trainable, inputs, clean)
                trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
                return (trainable, non_trainable, opt_vars), loss

            if self.unroll >= self.length:  # straight-line code (a scan of length 1 stays a loop on XLA's CPU backend)
                losses = []
                for j in range(self.length):
                    state, loss = body(state, jnp.asarray(j, jnp.int32))
                    losses.append(loss)
                return state, jnp.stack(losses)
            return jax.lax.scan(body, state, jnp.arange(self.length, dtype=jnp.int32), unroll=self.unroll)

        #: The pure function of the call (for ``jax.vmap`` over stacked runs, see benchmarks/bench_device_step.py).
        self.function = run
        self._jit = jax.jit(run, donate_argnums=(0,))
        self._executable = None

        def infer(trainable, non_trainable, inputs):
            output, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
            return output

        self._infer = jax.jit(infer)
        self._inference: dict = {}

    @staticmethod
    def _shapes(inputs) -> tuple:
        import jax

        return tuple((tuple(x.shape), str(x.dtype)) for x in jax.tree_util.tree_leaves(inputs))

    def lower_inference(self, trainable, non_trainable, inputs):
        """Trace inference for inputs of this shape, or None when it is compiled already."""
        if self._shapes(inputs) in self._inference:
            return None
        return self._infer.lower(trainable, non_trainable, inputs)

    def add_inference(self, inputs, executable) -> None:
        """Keep a compiled inference (from :meth:`lower_inference`) for inputs of this shape."""
        self._inference.setdefault(self._shapes(inputs), executable)

    def infer(self, trainable, non_trainable, inputs):
        """The model's output (inference mode) for ``inputs``, compiled once per input shape."""
        lowered = self.lower_inference(trainable, non_trainable, inputs)
        if lowered is not None:
            self.add_inference(inputs, lowered.compile())
        return self._inference[self._shapes(inputs)](trainable, non_trainable, inputs)

    def lower(self, *args):
        """Trace the call for ``args`` (the arguments of :meth:`run`); ``.compile()`` of the result may run in a thread."""
        return self._jit.lower(*args)

    @property
    def compiled(self) -> bool:
        return self._executable is not None

    def set_executable(self, executable) -> None:
        """Use ``executable`` (``lower(...).compile()``, made elsewhere) for :meth:`run`."""
        self._executable = executable

    def compile(self, *args) -> None:
        """Compile the call for ``args`` ahead of the first :meth:`run` (no-op when compiled)."""
        if self._executable is None:
            self._executable = self.lower(*args).compile()

    def run(self, state, data, seed, epoch, start, sigma):
        """``length`` training steps from ``state``; returns ``(state, losses)`` without waiting for the device."""
        self.compile(state, data, seed, epoch, start, sigma)
        return self._executable(state, data, seed, epoch, start, sigma)


_COMPILED: dict[str, CompiledStep] = {}


def compiled_step(config: TrainConfig, model, optimizer, data_shape: tuple, length: int, unroll: int | None = None) -> CompiledStep:
    """The :class:`CompiledStep` of ``config``'s signature (made once per process, from this model)."""
    key = signature(config, data_shape, length) + f"/unroll={unroll}"
    if key not in _COMPILED:
        _COMPILED[key] = CompiledStep(model, optimizer, config, length, unroll)
    return _COMPILED[key]


# -------------------------------------------------------------------------------------------
# Run folder (the files and their atomic writes are those of :mod:`denoise_tf.runs`)


def save_model_weights(model, path: Path) -> Path:
    """Write ``model``'s weights without its optimizer's variables to ``path`` atomically.

    The Keras ``.weights.h5`` layout an uncompiled model saves (about a third of the size of
    the file with optimizer state); :func:`denoise_tf.runs.load_run_model` reads it.
    """
    path = Path(path)
    if getattr(model, "optimizer", None) is None:
        return runs.save_weights(model, path)
    try:
        from keras.src.saving import saving_lib
    except ImportError:  # another Keras layout: weights with optimizer state (larger, still loadable)
        return runs.save_weights(model, path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        saving_lib.save_weights_only(model, str(tmp), objects_to_skip=[model.optimizer])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_config(config: TrainConfig, run_dir: Path, trained: bool, resume: bool) -> None:
    """Refuse to overwrite a trained run folder, or to resume one whose saved config differs in what it learns.

    As :func:`denoise_tf.train.train`.

    Raises
    ------
    FileExistsError
        ``run_dir`` holds a trained run and ``resume`` is false.
    ValueError
        ``config.json`` differs in keys outside :data:`denoise_tf.config.RESUMABLE_CHANGES`.
    """
    if trained and not resume:
        raise FileExistsError(f"run folder {run_dir} exists: pass resume=True (--resume) to continue it, or choose another name")
    saved = run_dir / runs.CONFIG
    if resume and trained and saved.exists():
        previous = runs.read_json(saved)
        current = config.to_dict()
        changed = {k for k in previous if k not in RESUMABLE_CHANGES and previous.get(k) != current.get(k)}
        if changed:
            raise ValueError(f"cannot resume {run_dir}: config differs from the saved one in {sorted(changed)}")


def validation_psnr(predict, pairs) -> tuple[float, list]:
    """Mean PSNR (dB) of ``predict(inputs)`` clipped to [0, 1] over validation ``pairs``, and the outputs.

    As :class:`denoise_tf.callbacks.ValidationPSNR`: ``pairs`` from
    :func:`denoise_tf.training_data.load_validation`, images run one by one.
    """
    from . import metrics

    scores, outputs = [], []
    for inputs, clean in pairs:
        output = np.asarray(predict(inputs), dtype=np.float32)
        outputs.append(output)
        finite = bool(np.all(np.isfinite(output)))  # non-finite weights: no score (training stops)
        scores.append(metrics.psnr(clean, np.clip(output, 0.0, 1.0)) if finite else float("nan"))
    return float(np.mean(scores)), outputs


def write_samples(run_dir: Path, epoch: int, pairs, outputs, size: int = 128) -> Path:
    """``samples/epoch_NNN.png``: noisy | denoised | clean of the first validation images (as ImageSamples)."""
    import cv2

    from .callbacks import sample_grid

    rows = []
    for (inputs, clean), output in zip(pairs[:SAMPLE_COUNT], outputs[:SAMPLE_COUNT]):
        noisy = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        rows.append([noisy[0], output[0], clean[0]])
    grid = sample_grid(rows, size)
    folder = Path(run_dir) / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    image = np.rint(grid * 255.0).astype(np.uint8)
    image = image[..., ::-1] if image.shape[-1] == 3 else image[..., 0]
    path = folder / f"epoch_{epoch + 1:03d}.png"
    cv2.imwrite(str(path), image)
    return path


# -------------------------------------------------------------------------------------------
# One run


class DeviceRun:
    """One config trained by the device loop, epoch by epoch, in its standard run folder.

    Build, then alternate :meth:`begin_epoch`, :meth:`dispatch` (until :attr:`epoch_dispatched`)
    and :meth:`end_epoch`; :meth:`close` writes the final summary. :func:`train_many` drives
    several of these. As :func:`denoise_tf.train.train`, everything that can fail at start (the
    config, the backup to resume from, the model, the data) is checked before the run folder is
    created or changed.

    Parameters
    ----------
    config : TrainConfig
        Gaussian-noise configs on clean images (``patch_mode`` grid, random or crop).
    resume : bool
        Continue ``config.run_dir`` from its backup (this loop's or Keras' ``BackupAndRestore``,
        chosen by :func:`denoise_tf.runs.plan_resume`).
    most_steps_per_call : int or None
        Upper bound of the steps one compiled call runs (see :func:`steps_per_call`); default
        :func:`default_steps_per_call`.
    shared : dict or None
        Device image arrays by data key, shared between runs of one process.
    log : callable
        Receives one line per epoch.
    dry_run : bool
        Only check: build the model, load the backup, the data and the validation images, then
        stop before the run folder is changed (nothing can be trained).
    unroll : int or None
        Steps per loop iteration of a call (see :class:`CompiledStep`).

    Raises
    ------
    FileExistsError
        The run folder holds a trained run and ``resume`` is false.
    ValueError
        Noise other than Gaussian, paired data, a resumed config that differs in what it
        learns, or no usable backup.
    """

    def __init__(self, config: TrainConfig, resume: bool = False, most_steps_per_call: int | None = None,
                 shared: dict | None = None, log=print, dry_run: bool = False, unroll: int | None = None):
        import jax
        import jax.numpy as jnp
        import keras

        from . import training_data
        from .callbacks import RunSummary

        if keras.backend.backend() != "jax":
            raise RuntimeError(f"the device training loop needs KERAS_BACKEND=jax, the backend is {keras.backend.backend()!r}")
        config.validate()
        noise = gaussian_noise(config.noise)
        self.config, self.log = config, log
        run_dir = self.run_dir = config.run_dir
        trained = runs.has_trained(run_dir)
        check_config(config, run_dir, trained, resume)
        plan = runs.plan_resume(run_dir) if resume else runs.ResumePlan(run_dir, 0, None)
        self.epoch = plan.epoch
        self.stopped = None
        self._began = False
        if self.finished:  # nothing to train: nothing is changed
            return

        # Build everything first.
        keras.utils.set_random_seed(config.seed)
        self.model = build_model(config)
        self.with_level = len(self.model.inputs) == 2
        self.optimizer = make_optimizer(config, learning_rate_at(config, self.epoch))
        self.model.compile(optimizer=self.optimizer, loss=keras.losses.get(config.loss))
        self.optimizer.build(self.model.trainable_variables)
        self.lr_index = next(i for i, v in enumerate(self.optimizer.variables) if v is self.optimizer._learning_rate)
        files = {}
        if plan.source is None and config.init_weights:
            from .warmstart import copy_weights

            files["init_weights.json"] = {"source": config.init_weights, **copy_weights(self.model, config.init_weights)}
        if training_data.uses_holdout(config):
            files["holdout.json"] = training_data.holdout_names(config)
        shared = {} if shared is None else shared
        data_key = json.dumps([config.train_data, config.train_limit, config.data_root, config.color, config.patch_mode,
                               config.patch_scales, config.patch_size, config.patch_stride, config.val_holdout,
                               config.test_holdout], sort_keys=True)
        if data_key not in shared:
            images, weights = training_images(config)
            stack, sizes, logits = stack_images(images, config.patch_size, weights)
            # Patches of an epoch without steps_per_epoch: the grid's count, or one per image (as the datasets).
            count = int(weights.sum()) if config.patch_mode == "grid" else len(images)
            shared[data_key] = (DeviceImages(jnp.asarray(stack), jnp.asarray(sizes), jnp.asarray(logits)), count)
        self.data, count = shared[data_key]
        self.val_pairs = training_data.load_validation(config, self.with_level)
        self.steps = config.steps_per_epoch or max(1, count // config.batch_size)
        self.length = steps_per_call(self.steps, most_steps_per_call or default_steps_per_call())
        self.compiled = compiled_step(config, self.model, self.optimizer, tuple(self.data.images.shape), self.length, unroll)
        self.sigma = jnp.asarray([noise.low, noise.high], jnp.float32)
        self.seed = jnp.asarray(config.seed, jnp.uint32)

        if plan.source is not None:  # the planned backup: weights and optimizer state
            import warnings

            weights = runs.BackupFiles.of(run_dir / runs.BACKUP, previous=plan.source == "previous").weights
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*optimizer.*")
                self.model.load_weights(str(weights))
        self.resumed_from = plan.source
        if dry_run:
            return

        # Now the run folder is created or changed.
        previous, problem = runs.read_summary(run_dir, self.epoch) if resume else ({}, None)
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            runs.apply_resume(plan)
            runs.trim_log(run_dir / runs.LOG, self.epoch)
            if problem and (run_dir / runs.SUMMARY).exists():
                runs.keep_damaged_summary(run_dir)
        runs.write_json(run_dir / runs.CONFIG, config.to_dict())
        for name, value in files.items():
            runs.write_json(run_dir / name, value)
        self.state = (
            [v.value for v in self.model.trainable_variables],
            [v.value for v in self.model.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
        )
        self.columns = ["epoch", "loss"] + (["val_psnr"] if self.val_pairs else [])
        log_path = run_dir / runs.LOG
        if not log_path.exists() or not log_path.read_text().strip():
            runs.write_text(log_path, ",".join(self.columns) + "\n")
        # A resumed run only replaces best.weights.h5 when it beats the best of earlier sessions.
        self.best = previous.get("best_val_psnr") if self.val_pairs else None
        devices = [f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in jax.devices()[:1]]
        self.placement = {"data_parallel": "single", "devices": devices, "replicas": 1, "trainer": TRAINER,
                          "steps_per_call": self.length, "precision": config.precision,
                          "conv_compute_dtypes": conv_compute_dtypes(self.model)}
        self.summary = RunSummary(run_dir, config, self.placement, previous=previous, start_epoch=self.epoch)
        self.summary.set_model(self.model)
        self.epoch_seconds = None
        self._losses, self._dispatched, self._epoch_start = [], 0, None

    # ---------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """All planned epochs done, or stopped (non-finite loss or weights)."""
        return self.epoch >= self.config.epochs or self.stopped is not None

    @property
    def epoch_dispatched(self) -> bool:
        """Every step of the current epoch has been queued."""
        return self._dispatched >= self.steps

    def begin_epoch(self) -> None:
        """Set the epoch's learning rate in the optimizer state and start its clock."""
        import jax.numpy as jnp

        if not self._began:  # a session entry in summary.json only for runs that train
            self.summary.on_train_begin()
            self._began = True
        lr = learning_rate_at(self.config, self.epoch)
        opt_vars = list(self.state[2])
        opt_vars[self.lr_index] = jnp.asarray(lr, dtype=opt_vars[self.lr_index].dtype)
        self.state = (self.state[0], self.state[1], opt_vars)
        self._losses, self._dispatched, self._epoch_start = [], 0, time.time()

    def call_args(self) -> tuple:
        """The arguments of the next compiled call: state, data, seed, epoch, first step, sigma range."""
        import jax.numpy as jnp

        epoch, start = jnp.asarray(self.epoch, jnp.int32), jnp.asarray(self._dispatched, jnp.int32)
        return self.state, self.data, self.seed, epoch, start, self.sigma

    def dispatch(self) -> None:
        """Queue the next compiled call of the epoch (returns without waiting for the device)."""
        self.state, losses = self.compiled.run(*self.call_args())
        self._losses.append(losses)
        self._dispatched += self.length

    def predict(self, inputs):
        """The model's output for validation ``inputs`` from the current device state."""
        return self.compiled.infer(self.state[0], self.state[1], inputs)

    def sync_model(self) -> None:
        """Copy the device state into the Keras model's and optimizer's variables (for saving)."""
        for variables, values in zip((self.model.trainable_variables, self.model.non_trainable_variables, self.optimizer.variables), self.state):
            for variable, value in zip(variables, values):
                variable.assign(value)

    def end_epoch(self) -> dict:
        """Wait for the epoch, validate, then write weights, log row, samples, summary and backup.

        In the order of :func:`denoise_tf.train.train`'s callbacks; an epoch with a non-finite
        loss or non-finite weights is not saved and stops the run (as ``StopOnNaN``). Returns
        the epoch's logs (``loss``, ``val_psnr``, ``learning_rate``).
        """
        from .callbacks import weights_finite

        loss = float(np.mean(np.concatenate([np.asarray(x) for x in self._losses])))
        logs = {"loss": loss}
        epoch, run_dir = self.epoch, self.run_dir
        outputs = []
        if self.val_pairs:
            logs["val_psnr"], outputs = validation_psnr(self.predict, self.val_pairs)
        self.sync_model()
        healthy = math.isfinite(loss) and weights_finite(self.model, optimizer=True)
        if healthy:
            value = logs.get("val_psnr", loss)
            if math.isfinite(value) and (self.best is None or (value > self.best if self.val_pairs else value < self.best)):
                self.best = value
                save_model_weights(self.model, run_dir / runs.BEST)
            save_model_weights(self.model, run_dir / runs.LAST)
        with open(run_dir / runs.LOG, "a") as handle:
            handle.write(",".join([str(epoch)] + [repr(float(logs[c])) for c in self.columns[1:]]) + "\n")
        logs["learning_rate"] = learning_rate_at(self.config, epoch)
        if healthy and outputs and self.config.tensorboard:
            write_samples(run_dir, epoch, self.val_pairs, outputs)
        self.summary.on_epoch_end(epoch, logs)
        if healthy:
            runs.write_backup(self.model, run_dir / runs.BACKUP, epoch + 1, 0, keep_previous=True)
            self.epoch += 1
        else:
            self.stopped = f"the loss ({loss}) or the weights became non-finite in epoch {epoch + 1}"
        self.epoch_seconds = time.time() - self._epoch_start
        psnr = f", val_psnr {logs['val_psnr']:.3f} dB" if "val_psnr" in logs else ""
        self.log(f"{self.config.name} epoch {epoch + 1}/{self.config.epochs}: loss {loss:.6g}{psnr}, "
                 f"{self.epoch_seconds:.1f} s ({self.steps} steps, {1000 * self.epoch_seconds / self.steps:.1f} ms/step)"
                 + (f"; stopped: {self.stopped}" if self.stopped else ""))
        return logs

    def close(self) -> dict:
        """Write the final ``summary.json`` (status finished / stopped early) and return it."""
        if self._began:
            self.summary.on_train_end()
        path = self.run_dir / runs.SUMMARY
        return runs.read_json(path) if path.exists() else {"name": self.config.name, "epochs_done": self.epoch}


# -------------------------------------------------------------------------------------------
# Several runs in one process


def train_many(configs, resume: bool = True, max_minutes: float | None = None,
               most_steps_per_call: int | None = None, log=print, dry_run: bool = False,
               unroll: int | None = None) -> list[dict]:
    """Train several configs in one process on the default JAX device; returns their summaries.

    Each epoch's calls of every run are queued in turn, so the device runs them back to back.
    ``max_minutes`` is a budget: a run does not start an epoch that its last epoch's duration
    says would end after it (the first epoch always starts), so every run stops at an epoch
    end, its backup current. Runs already finished are skipped. ``dry_run`` builds every run
    (config, backup, data; see :class:`DeviceRun`), says what it would train and changes nothing;
    ``unroll``: steps per loop iteration of the compiled calls (see :class:`CompiledStep`).
    """
    start = time.time()
    deadline = start + 60.0 * max_minutes if max_minutes else None
    shared: dict = {}
    trainers = [DeviceRun(config, resume=resume, most_steps_per_call=most_steps_per_call, shared=shared, log=log,
                          dry_run=dry_run, unroll=unroll) for config in configs]
    if dry_run:
        out = []
        for run in trainers:
            config = run.config
            if run.finished:
                log(f"{config.name}: at epoch {run.epoch}/{config.epochs}, nothing to train")
            else:
                log(f"{config.name}: would train epochs {run.epoch + 1}..{config.epochs} from "
                    f"{run.resumed_from or 'scratch'} ({run.steps} steps of {config.batch_size} patches of "
                    f"{config.patch_size}x{config.patch_size}, {run.length} per call, {config.precision}; training images "
                    f"{tuple(run.data.images.shape)}, {len(run.val_pairs)} validation images)")
            out.append({"name": config.name, "epochs_done": run.epoch, "epochs_planned": config.epochs})
        return out
    active = []
    for run in trainers:
        if run.finished:
            log(f"{run.config.name}: already at epoch {run.epoch}/{run.config.epochs}")
        else:
            run.begin_epoch()
            active.append(run)
    if active:
        seconds = compile_ahead(active)
        log(f"compiled {len({id(r.compiled) for r in active})} training step(s) and their validation in {seconds:.1f} s")
        for run in active:  # the first epoch's clock starts after compiling (the budget uses epoch times)
            run.begin_epoch()
    while active:
        for run in active:
            if not run.epoch_dispatched:
                run.dispatch()
        for run in list(active):
            if not run.epoch_dispatched:
                continue
            run.end_epoch()
            over = deadline is not None and time.time() + (run.epoch_seconds or 0.0) > deadline
            if run.finished or over:
                active.remove(run)
                if over and not run.finished:
                    log(f"{run.config.name}: stopped at epoch {run.epoch}/{run.config.epochs} (time budget of {max_minutes} min)")
            else:
                run.begin_epoch()
    return [run.close() for run in trainers]


def compile_ahead(runs_to_compile, threads: int | None = None) -> float:
    """Compile the training calls and validation shapes of ``runs_to_compile`` in parallel threads.

    Tracing runs one at a time (Python); XLA's compilations then run side by side (they release
    the GIL), so runs of several architectures start sooner. Returns the seconds it took.
    """
    from concurrent.futures import ThreadPoolExecutor

    start = time.time()
    jobs = []  # (lowered, store)
    seen = set()
    for run in runs_to_compile:
        step = run.compiled
        if id(step) not in seen and not step.compiled:
            seen.add(id(step))
            jobs.append((step.lower(*run.call_args()), step.set_executable))
        for inputs, _ in run.val_pairs:
            lowered = step.lower_inference(run.state[0], run.state[1], inputs)
            key = (id(step), step._shapes(inputs))
            if lowered is not None and key not in seen:
                seen.add(key)
                jobs.append((lowered, lambda executable, step=step, inputs=inputs: step.add_inference(inputs, executable)))
    with ThreadPoolExecutor(max_workers=threads or min(8, max(1, len(jobs)))) as pool:
        for (_, store), executable in zip(jobs, pool.map(lambda job: job[0].compile(), jobs)):
            store(executable)
    return time.time() - start


def train(config: TrainConfig, resume: bool = False, max_minutes: float | None = None,
          most_steps_per_call: int | None = None, log=print) -> tuple[dict, Path]:
    """Train one config with the device loop; returns ``(summary, run_dir)``."""
    summary = train_many([config], resume=resume, max_minutes=max_minutes, most_steps_per_call=most_steps_per_call, log=log)[0]
    return summary, config.run_dir
