"""Patch pipelines: clean images -> batches of ``(noisy, clean)`` patches with fresh noise.

Two paths with the same crops, augmentation and noise semantics:

* :class:`PatchDataset`, a ``keras.utils.PyDataset`` over NumPy (no TensorFlow needed: the JAX
  backend trains with it on a CUDA machine that has no TensorFlow);
* :func:`tf_patch_dataset`, a ``tf.data.Dataset`` (TensorFlow backend).

Patches are cut once (DnCNN: 40x40, stride 10, at scales 1 / 0.9 / 0.8 / 0.7, bicubic), then
every epoch draws a fresh permutation, one of the 8 flip/rotate modes per patch and fresh noise.
All randomness derives from ``(seed, epoch, batch index)``, so a resumed run sees the batches
an uninterrupted run would have seen.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import noise as noise_lib

#: The 8 dihedral modes: ``mode = 4 * flip + k`` where ``k`` is the number of 90 degree turns.
AUGMENT_MODES = tuple(range(8))


def augment(image: np.ndarray, mode: int) -> np.ndarray:
    """Apply one of the 8 flip/rotate modes to ``(H, W, C)`` or ``(N, H, W, C)`` arrays.

    ``mode`` in ``0..7``: ``k = mode % 4`` quarter turns, then a vertical flip if ``mode >= 4``.
    Mode 0 is the identity; :func:`deaugment` inverts.
    """
    if mode not in AUGMENT_MODES:
        raise ValueError(f"augmentation mode must be in 0..7, got {mode}")
    axes = (0, 1) if image.ndim == 3 else (1, 2)
    out = np.rot90(image, k=mode % 4, axes=axes)
    if mode >= 4:
        out = np.flip(out, axis=axes[0])
    return out


def deaugment(image: np.ndarray, mode: int) -> np.ndarray:
    """Inverse of :func:`augment`."""
    axes = (0, 1) if image.ndim == 3 else (1, 2)
    out = np.flip(image, axis=axes[0]) if mode >= 4 else image
    return np.rot90(out, k=-(mode % 4), axes=axes)


def augment_batch(batch: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """Apply ``modes[i]`` to square patch ``batch[i]`` of an ``(N, P, P, C)`` batch."""
    out = np.empty_like(batch)
    for mode in np.unique(modes):
        index = modes == mode
        out[index] = augment(batch[index], int(mode))
    return out


def grid_patches(
    images: Sequence[np.ndarray],
    patch_size: int = 40,
    stride: int = 10,
    scales: Sequence[float] = (1.0, 0.9, 0.8, 0.7),
) -> np.ndarray:
    """Cut every image, at every scale (bicubic resize), into strided square patches.

    Returns
    -------
    ndarray
        ``(N, patch_size, patch_size, C)`` float32 in [0, 1].
    """
    import cv2

    patches = []
    for image in images:
        h, w = image.shape[:2]
        for scale in scales:
            hs, ws = int(h * scale), int(w * scale)
            scaled = image if scale == 1 else cv2.resize(image, (ws, hs), interpolation=cv2.INTER_CUBIC)
            scaled = np.clip(scaled.reshape(hs, ws, -1), 0.0, 1.0)
            for y in range(0, hs - patch_size + 1, stride):
                for x in range(0, ws - patch_size + 1, stride):
                    patches.append(scaled[y : y + patch_size, x : x + patch_size])
    if not patches:
        raise ValueError(f"no {patch_size}x{patch_size} patch fits in the images (smallest is smaller)")
    return np.ascontiguousarray(np.stack(patches).astype(np.float32))


def random_patches(images: Sequence[np.ndarray], patch_size: int, count: int, seed=0) -> np.ndarray:
    """``count`` random square crops, images drawn uniformly. Returns ``(count, P, P, C)``."""
    rng = noise_lib.as_rng(seed)
    small = [im.shape[:2] for im in images if min(im.shape[:2]) < patch_size]
    if small:
        raise ValueError(f"patch_size {patch_size} is larger than an image of size {small[0]}")
    out = []
    for k in rng.integers(0, len(images), size=count):
        image = images[k]
        y = rng.integers(0, image.shape[0] - patch_size + 1)
        x = rng.integers(0, image.shape[1] - patch_size + 1)
        out.append(image[y : y + patch_size, x : x + patch_size])
    return np.stack(out).astype(np.float32)


def _keras_pydataset():
    import keras

    return keras.utils.PyDataset


class PatchDataset(_keras_pydataset()):
    """TensorFlow-free training batches: ``(noisy, clean)`` or ``((noisy, level), clean)``.

    Parameters
    ----------
    patches : ndarray
        ``(N, P, P, C)`` float32 clean patches in [0, 1] (see :func:`grid_patches`).
    noise : str, dict or NoiseSpec
        Noise applied per patch, fresh every epoch (see :mod:`denoise_tf.noise`).
    batch_size : int
    steps_per_epoch : int or None
        Batches per epoch; default ``N // batch_size``. Each epoch uses the first
        ``steps * batch_size`` patches of a fresh permutation (wrapping if needed).
    seed : int
    augment : bool
        Draw one of the 8 flip/rotate modes per patch.
    with_level : bool
        Inputs are ``(noisy, level)`` with ``level`` of shape ``(B, 1)`` (noise-level-map models).
    epoch : int
        Epoch of the first batch (a resumed run starts where it stopped).
    """

    def __init__(
        self,
        patches: np.ndarray,
        noise,
        batch_size: int = 128,
        steps_per_epoch: int | None = None,
        seed: int = 0,
        augment: bool = True,
        with_level: bool = False,
        epoch: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        patches = noise_lib.check_images(patches)
        if patches.ndim != 4:
            raise ValueError(f"patches must be (N, P, P, C), got shape {patches.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.patches = patches
        self.noise = noise_lib.parse(noise)
        self.batch_size = batch_size
        self.steps = steps_per_epoch or max(1, len(patches) // batch_size)
        self.seed = seed
        self.augment = augment
        self.with_level = with_level
        self.epoch = epoch
        self._order = (None, None)

    def __len__(self) -> int:
        return self.steps

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._order[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            needed = self.steps * self.batch_size
            reps = -(-needed // len(self.patches))
            order = np.concatenate([rng.permutation(len(self.patches)) for _ in range(reps)])
            self._order = (epoch, order[:needed])
        return self._order[1]

    def batch(self, epoch: int, index: int):
        """The batch ``index`` of ``epoch`` (pure function of seed, epoch and index)."""
        if not 0 <= index < self.steps:
            raise IndexError(f"batch index {index} out of range [0, {self.steps})")
        order = self._permutation(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, epoch, index, 1])
        clean = self.patches[np.sort(order)]
        if self.augment:
            clean = augment_batch(clean, rng.integers(0, 8, size=len(clean)))
        noisy, level = noise_lib.apply(clean, self.noise, seed=rng, return_level=True)
        if self.with_level:
            return (noisy, level.reshape(-1, 1).astype(np.float32)), clean
        return noisy, clean

    def __getitem__(self, index: int):
        return self.batch(self.epoch, index)

    def on_epoch_end(self):
        self.epoch += 1


def validation_pairs(images: Sequence[np.ndarray], noise, seed: int = 0, with_level: bool = False):
    """Fixed-noise validation data: a list of ``(inputs, clean)`` with batch axis 1.

    Image ``k`` gets noise from ``default_rng([seed, k])``, so every epoch and every run
    validates on the same noisy images.
    """
    spec = noise_lib.parse(noise)
    pairs = []
    for k, image in enumerate(images):
        noisy, level = noise_lib.apply(image[None], spec, seed=[seed, k], return_level=True)
        inputs = (noisy, level.reshape(1, 1).astype(np.float32)) if with_level else noisy
        pairs.append((inputs, image[None]))
    return pairs


def tf_patch_dataset(
    patches: np.ndarray,
    noise,
    batch_size: int = 128,
    steps_per_epoch: int | None = None,
    seed: int = 0,
    augment: bool = True,
    with_level: bool = False,
    epoch: int = 0,
):
    """``tf.data`` version of :class:`PatchDataset` (same batches for the same seed).

    Batches are produced by the NumPy path inside ``tf.data`` (``from_generator``) so both paths
    give identical patches, modes and noise; ``prefetch`` overlaps them with the training step.
    One pass over the returned dataset is one epoch; call it once per epoch or use ``repeat``.
    """
    import tensorflow as tf

    source = PatchDataset(patches, noise, batch_size, steps_per_epoch, seed, augment, with_level, epoch)
    size, channels = patches.shape[1], patches.shape[3]
    image_spec = tf.TensorSpec((None, size, size, channels), tf.float32)
    inputs_spec = (image_spec, tf.TensorSpec((None, 1), tf.float32)) if with_level else image_spec

    def generate():
        while True:
            for index in range(source.steps):
                yield source.batch(source.epoch, index)
            source.epoch += 1

    dataset = tf.data.Dataset.from_generator(generate, output_signature=(inputs_spec, image_spec))
    options = tf.data.Options()
    options.autotune.enabled = False  # avoids a 10-20 s stall when fit() returns (see issue 7)
    return dataset.prefetch(4).with_options(options)
