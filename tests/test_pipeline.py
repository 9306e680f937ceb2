"""Patch pipelines: crops, the 8 augmentation modes, noise per batch, determinism, both paths."""

import numpy as np
import pytest

from denoise_tf import pipeline


def _images(count=3, size=60, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((size, size + 7, channels), dtype=np.float32) for _ in range(count)]


def test_grid_patches_counts_and_range():
    image = np.random.default_rng(0).random((180, 180, 1), dtype=np.float32)
    assert pipeline.grid_patches([image], 40, 10, [1.0]).shape == (225, 40, 40, 1)
    # DnCNN: scales 1 / 0.9 / 0.8 / 0.7 of a 180x180 image give 15^2 + 13^2 + 11^2 + 9^2 patches
    patches = pipeline.grid_patches([image], 40, 10, [1.0, 0.9, 0.8, 0.7])
    assert patches.shape == (596, 40, 40, 1)
    assert patches.dtype == np.float32 and patches.min() >= 0 and patches.max() <= 1


def test_grid_patches_rejects_too_small_images():
    with pytest.raises(ValueError, match="patch"):
        pipeline.grid_patches([np.zeros((20, 20, 1), np.float32)], 40, 10, [1.0])


@pytest.mark.parametrize("mode", range(8))
def test_augment_roundtrip(mode):
    patch = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
    assert np.array_equal(pipeline.deaugment(pipeline.augment(patch, mode), mode), patch)
    assert np.array_equal(pipeline.deaugment(pipeline.augment(patch[0], mode), mode), patch[0])


def test_augment_modes_are_the_8_distinct_dihedral_transforms():
    patch = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    outputs = {pipeline.augment(patch, m).tobytes() for m in range(8)}
    assert len(outputs) == 8
    with pytest.raises(ValueError, match="0..7"):
        pipeline.augment(patch, 8)


def test_patch_dataset_batches_shapes_noise_and_determinism():
    patches = pipeline.grid_patches(_images(), 16, 8, [1.0])
    data = pipeline.PatchDataset(patches, "gaussian:sigma=25", batch_size=8, steps_per_epoch=5, seed=3)
    noisy, clean = data[0]
    assert noisy.shape == clean.shape == (8, 16, 16, 1)
    assert noisy.dtype == clean.dtype == np.float32
    assert 0 <= clean.min() and clean.max() <= 1
    assert abs(float(np.std(noisy - clean)) - 25 / 255) < 0.01
    again = pipeline.PatchDataset(patches, "gaussian:sigma=25", batch_size=8, steps_per_epoch=5, seed=3)
    assert np.array_equal(again[0][0], noisy)
    other_epoch = data.batch(1, 0)
    assert not np.array_equal(other_epoch[0], noisy)  # fresh noise (and patches) every epoch
    assert len(data) == 5


def test_patch_dataset_uses_augmentation_modes():
    patch = np.arange(16 * 16, dtype=np.float32).reshape(1, 16, 16, 1) / 256
    data = pipeline.PatchDataset(np.repeat(patch, 64, axis=0), "gaussian:sigma=0", batch_size=64, seed=0)
    _, clean = data[0]
    seen = {pipeline.AUGMENT_MODES[m] for m in range(8) for c in clean if np.array_equal(c, pipeline.augment(patch[0], m))}
    assert seen == set(range(8))


def test_patch_dataset_blind_levels_for_noise_level_models():
    patches = pipeline.grid_patches(_images(channels=3), 16, 8, [1.0])
    data = pipeline.PatchDataset(patches, "gaussian:sigma=0-55", batch_size=16, seed=0, with_level=True)
    (noisy, level), clean = data[0]
    assert noisy.shape == clean.shape and noisy.shape[-1] == 3
    assert level.shape == (16, 1) and level.min() >= 0 and level.max() <= 55 / 255
    assert np.unique(level).size > 1


def test_validation_pairs_are_fixed():
    images = _images(count=2)
    first = pipeline.validation_pairs(images, "gaussian:sigma=15", seed=1)
    second = pipeline.validation_pairs(images, "gaussian:sigma=15", seed=1)
    assert len(first) == 2 and first[0][0].shape == (1, *images[0].shape)
    assert np.array_equal(first[1][0], second[1][0])


def test_tf_path_gives_the_same_batches_as_the_numpy_path():
    tf = pytest.importorskip("tensorflow")
    patches = pipeline.grid_patches(_images(), 16, 8, [1.0])
    numpy_path = pipeline.PatchDataset(patches, "gaussian:sigma=0-55", batch_size=4, steps_per_epoch=3, seed=7)
    tf_path = pipeline.tf_patch_dataset(patches, "gaussian:sigma=0-55", batch_size=4, steps_per_epoch=3, seed=7)
    for index, (noisy, clean) in enumerate(tf_path.take(4)):
        expected_noisy, expected_clean = numpy_path.batch(index // 3, index % 3)
        np.testing.assert_array_equal(noisy.numpy(), expected_noisy)
        np.testing.assert_array_equal(clean.numpy(), expected_clean)
    assert isinstance(tf_path, tf.data.Dataset)
