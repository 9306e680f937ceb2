"""Patch pipelines: clean images -> batches of ``(noisy, clean)`` patches with fresh noise.

Two paths with the same crops, augmentation and noise semantics:

* :class:`PatchDataset`, a ``keras.utils.PyDataset`` over NumPy (no TensorFlow needed: the JAX
  backend trains with it on a CUDA machine that has no TensorFlow);
* :func:`tf_patch_dataset`, a ``tf.data.Dataset`` (TensorFlow backend) wrapping the NumPy path
  (``from_generator``: identical batches);
* :func:`patch_dataset`, a native ``tf.data`` pipeline (random crops, flip/rotate modes and noise
  in TF ops, parallel ``map``, ``prefetch``; seeded, but other values than the NumPy path).

Patches are cut once (DnCNN: 40x40, stride 10, at scales 1 / 0.9 / 0.8 / 0.7, bicubic), then
every epoch draws a fresh permutation, one of the 8 flip/rotate modes per patch and fresh noise.
All randomness derives from ``(seed, epoch, batch index)``, so a resumed run sees the batches
an uninterrupted run would have seen.

Two more ``PyDataset`` s crop fresh random windows from whole images for every batch instead of
cutting patches in advance: :class:`CropPatchDataset` (clean images + synthetic noise, for large
colour sets whose patch grid would not fit in memory) and :class:`PairedPatchDataset` (real
noisy/clean pairs such as SIDD: the same window and flip/rotate mode for both images).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import noise as noise_lib
from .transforms import augment_batch


def scaled_images(images: Sequence[np.ndarray], scales: Sequence[float]) -> list[np.ndarray]:
    """Each image at each scale (bicubic, clipped to [0, 1]; scale 1 is the image itself).

    ``images``: ``(H, W, C)`` float in [0, 1]. Returns ``len(images) * len(scales)`` float32
    ``(int(H * scale), int(W * scale), C)`` images, image-major.
    """
    import cv2

    out = []
    for image in images:
        h, w = image.shape[:2]
        for scale in scales:
            hs, ws = int(h * scale), int(w * scale)
            scaled = image if scale == 1 else cv2.resize(image, (ws, hs), interpolation=cv2.INTER_CUBIC)
            out.append(np.clip(scaled.reshape(hs, ws, -1), 0.0, 1.0).astype(np.float32))
    return out


def grid_patches(
    images: Sequence[np.ndarray],
    patch_size: int = 40,
    stride: int = 10,
    scales: Sequence[float] = (1.0, 0.9, 0.8, 0.7),
) -> np.ndarray:
    """Cut every image, at every scale (:func:`scaled_images`), into strided square patches.

    Returns
    -------
    ndarray
        ``(N, patch_size, patch_size, C)`` float32 in [0, 1].
    """
    patches = []
    for scaled in scaled_images(images, scales):
        hs, ws = scaled.shape[:2]
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


class SeededBatches(_keras_pydataset()):
    """Base of the TF-free datasets: ``steps`` batches per epoch, each a pure function of
    ``(seed, epoch, index)`` given by the subclass's ``batch(epoch, index)``; the epoch advances
    at each epoch end (and is set by the training loop on resume)."""

    steps: int
    epoch: int = 0

    def __len__(self) -> int:
        return self.steps

    def setup(self, count: int, batch_size: int, steps_per_epoch, seed: int, augment: bool, epoch: int, **sizes) -> None:
        """Common settings: ``steps_per_epoch`` defaults to ``count // batch_size`` (at least 1).

        ``sizes`` (``patch_size=...``) are checked with ``batch_size``: each must be >= 1.
        """
        sizes = {"batch_size": batch_size, **sizes}
        if any(value < 1 for value in sizes.values()):
            raise ValueError(f"{' and '.join(sizes)} must be >= 1, got {', '.join(str(v) for v in sizes.values())}")
        self.batch_size = batch_size
        self.steps = steps_per_epoch or max(1, count // batch_size)
        self.seed = seed
        self.augment = augment
        self.epoch = epoch

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.steps:
            raise IndexError(f"batch index {index} out of range [0, {self.steps})")

    def noisy_batch(self, clean: np.ndarray, rng: np.random.Generator):
        """Clean crops ``(B, P, P, C)`` -> the batch: one flip/rotate mode each (``augment``), then
        ``self.noise`` drawn from ``rng``; ``(noisy, clean)``, or ``((noisy, level (B, 1)), clean)``
        with ``self.with_level`` (noise-level-map models)."""
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


class PatchDataset(SeededBatches):
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
        self.setup(len(patches), batch_size, steps_per_epoch, seed, augment, epoch)
        self.patches = patches
        self.noise = noise_lib.parse(noise)
        self.with_level = with_level
        self._order = (None, None)

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
        self.check_index(index)
        order = self._permutation(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, epoch, index, 1])
        return self.noisy_batch(self.patches[np.sort(order)], rng)



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


def tf_patch_dataset(patches: np.ndarray, noise, *args, **kwargs):
    """``tf.data`` version of :class:`PatchDataset` (same arguments, same batches for the same seed).

    Batches are produced by the NumPy path inside ``tf.data`` (``from_generator``) so both paths
    give identical patches, modes and noise; ``prefetch`` overlaps them with the training step.
    One pass over the returned dataset is one epoch; call it once per epoch or use ``repeat``.
    """
    import tensorflow as tf

    source = PatchDataset(patches, noise, *args, **kwargs)
    size, channels = source.patches.shape[1], source.patches.shape[3]
    image_spec = tf.TensorSpec((None, size, size, channels), tf.float32)
    inputs_spec = (image_spec, tf.TensorSpec((None, 1), tf.float32)) if source.with_level else image_spec

    def generate():
        while True:
            for index in range(source.steps):
                yield source.batch(source.epoch, index)
            source.epoch += 1

    dataset = tf.data.Dataset.from_generator(generate, output_signature=(inputs_spec, image_spec))
    options = tf.data.Options()
    options.autotune.enabled = False  # avoids a 10-20 s stall when fit() returns
    return dataset.prefetch(4).with_options(options)


def patch_dataset(
    images,
    noise,
    patch_size: int = 40,
    batch_size: int = 128,
    steps_per_epoch: int | None = None,
    seed: int = 0,
    augment: bool = True,
    with_level: bool = False,
    epoch: int = 0,
    num_parallel_calls=None,
):
    """Native ``tf.data`` training pipeline: random crops of in-memory images with TF ops.

    Per epoch ``e`` (counting from ``epoch``): the image order is a seeded shuffle of all
    images (``argsort`` of ``stateless_uniform`` keys seeded by ``(seed, e)``; fresh
    permutations are concatenated until the epoch's
    ``steps_per_epoch * batch_size`` crops are drawn, so every image is used about equally);
    batch ``j`` of the epoch crops a random ``patch_size`` window of each of its images
    (``tf.random.stateless_uniform`` corners, one ``gather_nd``), applies one of the 8
    flip/rotate modes of :func:`augment` per window (same mode numbering) and adds fresh noise
    with :func:`denoise_tf.noise.tf_apply`, all seeded by ``(seed, e, j)`` and vectorised over
    the batch. Batches are made in ``map(num_parallel_calls=AUTOTUNE, deterministic=True)``
    and prefetched, so a seed gives the same batches
    whatever the thread scheduling, and a run resumed at ``epoch`` sees the batches an
    uninterrupted one would. The values differ from the NumPy path's (other generators); the
    distributions are the same.

    Parameters
    ----------
    images : ndarray or sequence of ndarray
        ``(N, H, W, C)`` or a list of ``(H, W, C)`` images (sizes may differ; they are padded
        into one tensor, crops stay inside each image), float32 in [0, 1] or ``uint8``.
        Pre-cut patches (``patch_size`` = their size) give :class:`PatchDataset`'s setting.
    noise : str, dict or NoiseSpec
    patch_size, batch_size : int
    steps_per_epoch : int or None
        Batches per epoch; default ``max(1, N // batch_size)``.
    seed : int
    augment : bool
    with_level : bool
        Inputs are ``(noisy, level (B, 1))``.
    epoch : int
        First epoch (resume).

    Returns
    -------
    tf.data.Dataset
        Endless: ``steps_per_epoch`` batches per epoch, one epoch after the other; pass
        ``steps_per_epoch`` to ``fit``. Its element spec is
        ``(float32 (B, P, P, C), float32 (B, P, P, C))`` (or ``((noisy, level), clean)``).
    """
    import tensorflow as tf

    images = _check_crop_images(list(images) if not isinstance(images, np.ndarray) or images.ndim == 4 else [images], patch_size, "patch_dataset")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    spec = noise_lib.parse(noise)
    count, channels, p = len(images), images[0].shape[-1], patch_size
    steps = steps_per_epoch or max(1, count // batch_size)
    per_epoch = steps * batch_size
    reps = -(-per_epoch // count)
    sizes = np.array([im.shape[:2] for im in images], dtype=np.int32)
    height, width = sizes.max(axis=0)
    dtype = np.uint8 if all(im.dtype == np.uint8 for im in images) else np.float32
    stack = np.zeros((count, height, width, channels), dtype)
    for k, image in enumerate(images):
        stack[k, : image.shape[0], : image.shape[1]] = image if dtype == np.uint8 or image.dtype != np.uint8 else image / 255.0
    stack = tf.constant(stack)
    sizes = tf.constant(sizes)
    base = tf.constant([seed, 0x7A7C], tf.int64)
    calls = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls

    steps_range = tf.range(p)

    def make_batch(epoch_seed, index, ks):
        """Batch ``index`` of an epoch: windows of images ``ks``, modes and noise, all vectorised."""
        seeds = tf.unstack(tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(epoch_seed, index), 4))
        size = tf.gather(sizes, ks)
        n = tf.shape(ks)[0]

        def corner(bound, seed):  # uniform in [0, bound)
            u = tf.random.stateless_uniform([n], seed)
            return tf.minimum(tf.cast(u * tf.cast(bound, tf.float32), tf.int32), bound - 1)

        y, x = corner(size[:, 0] - p + 1, seeds[0]), corner(size[:, 1] - p + 1, seeds[1])
        rows = (y[:, None] + steps_range)[:, :, None]
        cols = (x[:, None] + steps_range)[:, None, :]
        kk = tf.broadcast_to(ks[:, None, None], [n, p, p])
        index_grid = tf.stack([kk, tf.broadcast_to(rows, [n, p, p]), tf.broadcast_to(cols, [n, p, p])], axis=-1)
        clean = tf.gather_nd(stack, index_grid)
        clean = tf.cast(clean, tf.float32) / 255.0 if dtype == np.uint8 else clean
        if augment:
            # mode = 4 * flip + k (see augment): k quarter turns, then a flip of the rows
            mode = tf.random.stateless_uniform([n], seeds[2], 0, 8, dtype=tf.int32)
            turned = [tf.image.rot90(clean, k=k) for k in range(4)]
            candidates = tf.stack(turned + [tf.reverse(t, axis=[1]) for t in turned])
            clean = tf.gather_nd(candidates, tf.stack([mode, tf.range(n)], axis=1))
        clean = tf.ensure_shape(clean, [batch_size, p, p, channels])
        noisy, level = noise_lib.tf_apply(clean, spec, seeds[3], return_level=True)
        if with_level:
            return (noisy, level[:, None]), clean
        return noisy, clean

    def one_epoch(e):
        epoch_seed = tf.random.experimental.stateless_fold_in(base, e)
        # A stateless shuffle: fresh permutations of the images, concatenated up to the epoch's crops.
        keys = tf.random.stateless_uniform([reps, count], tf.random.experimental.stateless_fold_in(epoch_seed, 2))
        order = tf.reshape(tf.cast(tf.argsort(keys, axis=1), tf.int32), [-1])[:per_epoch]
        return (
            tf.data.Dataset.from_tensor_slices(tf.reshape(order, [steps, batch_size]))
            .enumerate()
            .map(lambda j, ks: make_batch(epoch_seed, j, ks), num_parallel_calls=calls, deterministic=True)
        )

    dataset = tf.data.Dataset.range(epoch, 2**62).flat_map(one_epoch)
    return dataset.prefetch(tf.data.AUTOTUNE)


# -------------------------------------------------------------------------------------------
# Fresh random crops of whole images: clean images + synthetic noise, or real noisy/clean pairs


def compact_image(image: np.ndarray) -> np.ndarray:
    """``uint8`` copy of a float image in [0, 1] when that is lossless (an 8-bit file), else float32.

    The crop datasets below accept both and return float32 ``code / 255`` crops, the values
    :func:`denoise_tf.datasets.read_image` gives, so storing 8-bit images as ``uint8`` cuts their
    memory by 4 (a full-size SIDD pair is about 100 MB as ``uint8``) without changing a batch.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    codes = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if np.array_equal(codes.astype(np.float32) / 255.0, image):
        return codes
    return image.astype(np.float32, copy=False)


def _check_crop_images(images, patch_size: int, what: str) -> list:
    images = list(images)
    if not images:
        raise ValueError(f"{what}: no images")
    out = []
    for k, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] not in (1, 3):
            raise ValueError(f"{what}: image {k} must be (H, W, 1) or (H, W, 3), got shape {image.shape}")
        if image.dtype != np.uint8:
            image = noise_lib.check_images(image)
        if min(image.shape[:2]) < patch_size:
            raise ValueError(f"{what}: patch_size {patch_size} is larger than image {k} of size {image.shape[:2]}")
        out.append(image)
    if len({im.shape[-1] for im in out}) != 1:
        raise ValueError(f"{what}: images mix gray and colour")
    return out


def random_windows(sizes, patch_size: int, count: int, rng: np.random.Generator):
    """``count`` random square windows: image indices (drawn uniformly) and top-left ``y``, ``x``.

    ``sizes`` is a sequence of ``(H, W)``; every side must be at least ``patch_size``.
    """
    sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
    index = rng.integers(0, len(sizes), size=count)
    ys = rng.integers(0, sizes[index, 0] - patch_size + 1)
    xs = rng.integers(0, sizes[index, 1] - patch_size + 1)
    return index, ys, xs


def _crop(images, index, ys, xs, patch_size: int) -> np.ndarray:
    p = patch_size
    out = np.stack([images[k][y : y + p, x : x + p] for k, y, x in zip(index, ys, xs)])
    if out.dtype == np.uint8:
        return out.astype(np.float32) / 255.0
    return out.astype(np.float32, copy=False)


class CropPatchDataset(SeededBatches):
    """Like :class:`PatchDataset`, but every batch crops fresh random windows from whole images.

    Nothing is cut in advance, so memory is the images' own (a grid of 50x50 colour patches of
    CBSD432 at stride 10 and 4 scales would take about 47 GB). Per batch: ``batch_size`` windows
    of ``patch_size`` (images drawn uniformly, positions uniform), one of the 8 flip/rotate modes
    each, fresh noise; all drawn from ``default_rng([seed, epoch, index, 3])``, so a resumed run
    sees the batches an uninterrupted run would have seen. ``images`` may be float32 in [0, 1] or
    ``uint8`` (see :func:`compact_image`); sizes may differ.

    ``steps_per_epoch`` defaults to ``max(1, len(images) // batch_size)``.
    """

    def __init__(
        self,
        images,
        noise,
        patch_size: int = 40,
        batch_size: int = 128,
        steps_per_epoch: int | None = None,
        seed: int = 0,
        augment: bool = True,
        with_level: bool = False,
        epoch: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.images = _check_crop_images(images, patch_size, "CropPatchDataset")
        self.setup(len(self.images), batch_size, steps_per_epoch, seed, augment, epoch, patch_size=patch_size)
        self.sizes = [im.shape[:2] for im in self.images]
        self.noise = noise_lib.parse(noise)
        self.patch_size = patch_size
        self.with_level = with_level

    def batch(self, epoch: int, index: int):
        """The batch ``index`` of ``epoch`` (pure function of seed, epoch and index)."""
        self.check_index(index)
        rng = np.random.default_rng([self.seed, epoch, index, 3])
        return self.noisy_batch(_crop(self.images, *random_windows(self.sizes, self.patch_size, self.batch_size, rng), self.patch_size), rng)



class PairedPatchDataset(SeededBatches):
    """TensorFlow-free batches ``(noisy, clean)`` of real noisy/clean image pairs (SIDD, DIV2K noisy).

    Every batch crops ``batch_size`` random windows of ``patch_size``: the SAME window of a
    pair's noisy and clean image (pairs drawn uniformly, positions uniform), then the same one of
    the 8 flip/rotate modes on both, so ``noisy - clean`` is the pair's own noise, moved with the
    pixels. Randomness comes from ``default_rng([seed, epoch, index, 2])`` (as
    :class:`PatchDataset`: a resumed run continues the same batch sequence).

    Parameters
    ----------
    noisy, clean : sequence of ndarray
        ``(H, W, C)`` images, float32 in [0, 1] or ``uint8`` (see :func:`compact_image`);
        ``noisy[i]`` and ``clean[i]`` have the same shape; pairs may differ in size.
    patch_size, batch_size : int
    steps_per_epoch : int or None
        Batches per epoch; default ``max(1, len(pairs) // batch_size)``.
    seed : int
    augment : bool
        Draw one of the 8 flip/rotate modes per window (applied to both images).
    noise : str, dict, NoiseSpec or None
        Extra synthetic noise added to the noisy crops after augmentation (augmentation of the
        real noise, e.g. ``"gaussian:sigma=0-5"``); ``None`` adds nothing.
    epoch : int
        Epoch of the first batch.
    """

    def __init__(
        self,
        noisy,
        clean,
        patch_size: int = 256,
        batch_size: int = 8,
        steps_per_epoch: int | None = None,
        seed: int = 0,
        augment: bool = True,
        noise=None,
        epoch: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.noisy = _check_crop_images(noisy, patch_size, "PairedPatchDataset noisy")
        self.clean = _check_crop_images(clean, patch_size, "PairedPatchDataset clean")
        if len(self.noisy) != len(self.clean):
            raise ValueError(f"PairedPatchDataset: {len(self.noisy)} noisy but {len(self.clean)} clean images")
        for k, (a, b) in enumerate(zip(self.noisy, self.clean)):
            if a.shape != b.shape:
                raise ValueError(f"PairedPatchDataset: pair {k} has noisy shape {a.shape} but clean shape {b.shape}")
        self.setup(len(self.clean), batch_size, steps_per_epoch, seed, augment, epoch, patch_size=patch_size)
        self.sizes = [im.shape[:2] for im in self.clean]
        self.noise = None if noise is None else noise_lib.parse(noise)
        self.patch_size = patch_size

    def batch(self, epoch: int, index: int):
        """The batch ``index`` of ``epoch`` (pure function of seed, epoch and index)."""
        self.check_index(index)
        rng = np.random.default_rng([self.seed, epoch, index, 2])
        windows = random_windows(self.sizes, self.patch_size, self.batch_size, rng)
        noisy = _crop(self.noisy, *windows, self.patch_size)
        clean = _crop(self.clean, *windows, self.patch_size)
        if self.augment:
            modes = rng.integers(0, 8, size=len(clean))
            noisy, clean = augment_batch(noisy, modes), augment_batch(clean, modes)
        if self.noise is not None:
            noisy = noise_lib.apply(noisy, self.noise, seed=rng)
        return noisy, clean



def paired_validation_pairs(noisy: Sequence[np.ndarray], clean: Sequence[np.ndarray], crop: int | None = None):
    """Validation data of real pairs: a list of ``(noisy, clean)`` with batch axis 1, float32.

    ``crop`` keeps the top-left ``crop x crop`` window of each pair (as ``val_crop`` does for
    synthetic validation).
    """
    pairs = []
    for a, b in zip(noisy, clean):
        if crop:
            a, b = a[:crop, :crop], b[:crop, :crop]
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32, copy=False)
        b = b.astype(np.float32) / 255.0 if b.dtype == np.uint8 else b.astype(np.float32, copy=False)
        pairs.append((a[None], b[None]))
    return pairs
