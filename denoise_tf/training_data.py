"""The data of a :class:`~denoise_tf.config.TrainConfig`: held-out images, patches, validation, real pairs.

Files and pairs come from :mod:`denoise_tf.datasets`, batches from :mod:`denoise_tf.pipeline`.
``val_holdout`` / ``test_holdout`` hold images (or pairs) of the training set out by
:func:`denoise_tf.datasets.split` with a fixed seed, so runs with other seeds hold out the same ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import datasets
from .pipeline import compact_image, grid_patches, paired_validation_pairs, random_patches, validation_pairs

if TYPE_CHECKING:
    from .config import TrainConfig

#: Seed of the shuffle that picks held-out images (fixed: runs with other seeds hold out the same ones).
HOLDOUT_SEED = 0


def holdout_split(items, val: int, test: int = 0, seed: int = HOLDOUT_SEED) -> tuple[list, list, list]:
    """Split ``items`` into ``(train, val, test)``: ``val`` + ``test`` items picked by a seeded shuffle.

    :func:`denoise_tf.datasets.split` with ``counts=(val, test, rest)`` and ``keep_order``: each
    part keeps the input order; the same ``len(items)``, counts and seed give the same parts.
    """
    n = len(items)
    if val + test >= n:
        raise ValueError(f"cannot hold out {val} + {test} of {n} items: nothing would be left to train on")
    held_val, held_test, train = datasets.split(items, seed=seed, counts=(val, test, n - val - test), keep_order=True)
    return train, held_val, held_test


def uses_holdout(config: TrainConfig) -> bool:
    return bool(config.val_holdout or config.test_holdout)


def holdout_files(config: TrainConfig) -> tuple[list, list, list]:
    """``(train, val, test)`` files of ``train_data`` under the config's ``val_holdout`` / ``test_holdout``."""
    files = datasets.image_files(config.train_data, config.data_root)
    return holdout_split(files, config.val_holdout, config.test_holdout)


def holdout_names(config: TrainConfig) -> dict:
    """The held-out file names, ``{"val": [...], "test": [...]}`` (a run folder's ``holdout.json``)."""
    _, val, test = holdout_files(config)
    return {"val": [f.name for f in val], "test": [f.name for f in test]}


def load_training_images(config: TrainConfig) -> list:
    """Clean training images of the config (without held-out ones), float32 ``(H, W, C)``."""
    if not uses_holdout(config):
        images, _ = datasets.load(config.train_data, color=config.color, limit=config.train_limit, data_root=config.data_root)
        return images
    files = holdout_files(config)[0][: config.train_limit]
    return [datasets.read_image(f, config.color) for f in files]


def load_training_patches(config: TrainConfig) -> np.ndarray:
    """Clean training patches ``(N, P, P, C)`` of the config's data (``grid`` / ``random`` patch modes)."""
    if config.patch_mode == "crop":
        raise ValueError("patch_mode 'crop' cuts no patches in advance: use load_training_images")
    images = load_training_images(config)
    if config.patch_mode == "grid":
        return grid_patches(images, config.patch_size, config.patch_stride, config.patch_scales)
    count = config.random_patches or config.batch_size * (config.steps_per_epoch or 1)
    return random_patches(images, config.patch_size, count, seed=config.seed)


def load_validation(config: TrainConfig, with_level: bool):
    """Fixed-noise validation pairs of the config (held-out images, or ``val_data``), cropped to ``val_crop``."""
    if config.val_holdout:
        files = holdout_files(config)[1][: config.val_limit]
        images = [datasets.read_image(f, config.color) for f in files]
    elif not config.val_data:
        return []
    else:
        images, _ = datasets.load(config.val_data, color=config.color, limit=config.val_limit, data_root=config.data_root)
    if config.val_crop:
        c = config.val_crop
        images = [im[:c, :c] for im in images]
    return validation_pairs(images, config.noise, seed=10_000 + config.seed, with_level=with_level)


def paired_root(config: TrainConfig) -> Path:
    """Folder of ``paired_data``: an existing path, else a folder of that name under the data root."""
    path = Path(config.paired_data).expanduser()
    if path.is_dir() or path.is_absolute():
        return path
    return datasets.data_root(config.data_root) / config.paired_data


def load_paired(config: TrainConfig):
    """Real noisy/clean pairs of ``paired_data``: ``(train_noisy, train_clean, val_pairs, holdout_names)``.

    Images are kept as ``uint8`` when that is lossless (:func:`denoise_tf.pipeline.compact_image`);
    ``val_pairs`` are ``(noisy, clean)`` with batch axis 1, cropped to ``val_crop``.
    """
    found = datasets.find_pairs(paired_root(config), config.paired_layout)
    train_items, val_items, test_items = holdout_split(found, config.val_holdout, config.test_holdout)

    def read(items):
        pairs = [(compact_image(a), compact_image(b)) for a, b, _ in datasets.read_pairs(items, config.color)]
        return [a for a, _ in pairs], [b for _, b in pairs]

    train_noisy, train_clean = read(train_items[: config.train_limit])
    val_noisy, val_clean = read(val_items[: config.val_limit])
    val_pairs = paired_validation_pairs(val_noisy, val_clean, crop=config.val_crop)
    names = {"val": [t[2] for t in val_items], "test": [t[2] for t in test_items]}
    return train_noisy, train_clean, val_pairs, names
