"""Patch pipelines: crops, the 8 augmentation modes, noise per batch, determinism, both paths."""

import numpy as np
import pytest

from denoise_tf import pipeline, transforms


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
    assert np.array_equal(transforms.deaugment(transforms.augment(patch, mode), mode), patch)
    assert np.array_equal(transforms.deaugment(transforms.augment(patch[0], mode), mode), patch[0])


def test_augment_modes_are_the_8_distinct_dihedral_transforms():
    patch = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    outputs = {transforms.augment(patch, m).tobytes() for m in range(8)}
    assert len(outputs) == 8
    with pytest.raises(ValueError, match="0..7"):
        transforms.augment(patch, 8)


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
    seen = {transforms.AUGMENT_MODES[m] for m in range(8) for c in clean if np.array_equal(c, transforms.augment(patch[0], m))}
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


# --------------------------------------------------------------------------- native tf.data path


def _modes_seen(clean, patch):
    return {m for m in range(8) for c in clean if np.array_equal(c, transforms.augment(patch, m))}


def _coded_images(count=4, h=40, w=47):
    """Colour images whose channel 0 codes (image, y, x) uniquely, so a crop shows where it came from."""
    rng = np.random.default_rng(1)
    total = count * h * w
    out = []
    for k in range(count):
        image = rng.random((h, w, 3), dtype=np.float32)
        image[..., 0] = (k * h * w + np.arange(h * w).reshape(h, w) + 1) / (total + 1)
        out.append(image)
    return out


@pytest.mark.parametrize("path", ["numpy", "tf"])
def test_both_paths_give_the_promised_batches(path):
    pytest.importorskip("tensorflow") if path == "tf" else None
    images = _coded_images()
    lookup = {float(im[y, x, 0]): (k, y, x) for k, im in enumerate(images) for y in range(im.shape[0]) for x in range(im.shape[1])}
    kwargs = dict(batch_size=16, steps_per_epoch=4, seed=5)
    if path == "numpy":
        data = pipeline.CropPatchDataset(images, "gaussian:sigma=0-55", patch_size=20, with_level=True, **kwargs)
        batches = [data[i] for i in range(4)]
    else:
        data = pipeline.patch_dataset(images, "gaussian:sigma=0-55", patch_size=20, with_level=True, **kwargs)
        batches = [((n.numpy(), l.numpy()), c.numpy()) for (n, l), c in data.take(4)]
    for (noisy, level), clean in batches:
        assert noisy.shape == clean.shape == (16, 20, 20, 3) and level.shape == (16, 1)
        assert noisy.dtype == clean.dtype == level.dtype == np.float32
        assert 0 <= clean.min() and clean.max() <= 1 and 0 <= level.min() and level.max() <= 55 / 255
        residual = np.std(noisy - clean, axis=(1, 2, 3))
        np.testing.assert_allclose(residual, level[:, 0], rtol=0.25, atol=0.01)
        # every crop is a window of one of the images, after one of the 8 modes
        for patch in clean:
            found = []
            for m in range(8):
                window = transforms.deaugment(patch, m)
                k, y, x = lookup.get(float(window[0, 0, 0]), (None, 0, 0))
                if k is not None and np.array_equal(window, images[k][y : y + 20, x : x + 20]):
                    found.append(m)
            assert found, "a crop that is no flipped/rotated window of an input image"


@pytest.mark.parametrize("path", ["numpy", "tf"])
def test_both_paths_use_all_8_augmentation_modes(path):
    pytest.importorskip("tensorflow") if path == "tf" else None
    patch = np.arange(16 * 16, dtype=np.float32).reshape(1, 16, 16, 1) / 256
    patches = np.repeat(patch, 64, axis=0)
    if path == "numpy":
        _, clean = pipeline.PatchDataset(patches, "gaussian:sigma=0", batch_size=64, seed=0)[0]
    else:
        _, clean = next(iter(pipeline.patch_dataset(patches, "gaussian:sigma=0", patch_size=16, batch_size=64, seed=0)))
        clean = clean.numpy()
    assert _modes_seen(clean, patch[0]) == set(range(8))
    without = pipeline.patch_dataset(patches, "gaussian:sigma=0", patch_size=16, batch_size=8, seed=0, augment=False) if path == "tf" else None
    if without is not None:
        assert _modes_seen(next(iter(without))[1].numpy(), patch[0]) == {0}


def test_tf_path_is_deterministic_fresh_per_epoch_and_resumable():
    pytest.importorskip("tensorflow")
    images = [np.rint(im * 255).astype(np.uint8) for im in _images(count=3)]
    make = lambda **kw: pipeline.patch_dataset(images, "poisson:peak=10-40", patch_size=16, batch_size=8, steps_per_epoch=3, seed=9, **kw)
    first = [(n.numpy(), c.numpy()) for n, c in make().take(6)]
    again = [(n.numpy(), c.numpy()) for n, c in make().take(6)]
    for (a, b), (c, d) in zip(first, again):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert not np.array_equal(first[0][1], first[3][1])  # epoch 1 draws other crops
    resumed = [(n.numpy(), c.numpy()) for n, c in make(epoch=1).take(3)]
    for (a, b), (c, d) in zip(first[3:], resumed):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    other = next(iter(pipeline.patch_dataset(images, "poisson:peak=10-40", patch_size=16, batch_size=8, seed=10)))
    assert not np.array_equal(other[1].numpy(), first[0][1])
    # uint8 images give code / 255 values, like the NumPy crop datasets
    assert np.allclose(first[0][1] * 255, np.rint(first[0][1] * 255), atol=1e-4)
    with pytest.raises(ValueError, match="patch_size"):
        pipeline.patch_dataset(images, "gaussian:sigma=25", patch_size=100)
