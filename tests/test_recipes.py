"""The write-up recipes (configs/): every config loads and its tiny version trains end to end;
paired training (matching noisy/clean windows), fresh-crop batches, held-out validation, and the
SIDD-layout stand-in written by scripts/make_paired_set.py.

The tiny trainings use the real data root when there is one (``$DENOISE_TF_DATA``, else the
``shared/data`` folder beside the repository, else :func:`denoise_tf.datasets.data_root`); a set
that is not there is replaced by a small generated image folder. SIDD is never there offline: the
paired config trains on a SIDD-layout folder made by ``make_paired_set`` (from CBSD432 when
present).
"""

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from denoise_tf import datasets, models, pipeline, transforms
from denoise_tf.config import TrainConfig
from denoise_tf.train import train
from denoise_tf.training_data import HOLDOUT_SEED, holdout_files, holdout_split

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SHARED_DATA = ROOT.parent / "shared" / "data"


def _data_root() -> Path:
    if os.environ.get(datasets.ENV_VAR):
        return Path(os.environ[datasets.ENV_VAR])
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    return datasets.data_root()


def _load_script():
    spec = importlib.util.spec_from_file_location("make_paired_set", ROOT / "scripts" / "make_paired_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _available(name, root) -> bool:
    try:
        datasets.resolve(name, root)
        return True
    except (FileNotFoundError, ValueError, NotADirectoryError):
        return False


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Eight small colour PNGs (80x72) with structure: gradients, squares and texture."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for k in range(8):
        y, x = np.mgrid[0:72, 0:80]
        image = np.stack([(x * (k + 1) + y * 2) % 256, (y * 3 + k * 20) % 256, (x + y) % 256], axis=-1).astype(np.float32)
        image[10:40, 15:45] = rng.integers(0, 255, size=3)
        image += rng.normal(0, 8, size=image.shape)
        datasets.save_image(folder / f"im{k}.png", np.clip(image / 255.0, 0, 1))
    return folder


@pytest.fixture(scope="module")
def paired_folder(tmp_path_factory, image_folder):
    """A SIDD-layout folder of 6 pairs: CBSD432 images when present, else the generated ones."""
    root = _data_root()
    source = "cbsd432" if _available("cbsd432", root) else str(image_folder)
    out = tmp_path_factory.mktemp("sidd") / "pairs"
    _load_script().make_paired_set(source, out, limit=6, seed=0, data_root=root)
    return out


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_full_and_tiny_and_builds(path):
    for tiny in (False, True):
        config = TrainConfig.load(path, tiny=tiny)
        assert config.name == path.stem + ("-tiny" if tiny else "")
        model = models.build(config.model, **config.model_options)
        channels = model.inputs[0].shape[-1]
        assert channels == (3 if config.color else 1), f"{path.name}: model channels {channels} vs color={config.color}"
    tiny = TrainConfig.load(path, tiny=True)
    assert tiny.epochs * (tiny.steps_per_epoch or 1) <= 20
    text = path.read_text()
    assert text.lstrip().startswith("#"), f"{path.name} should open with comments citing its source"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_tiny_config_trains_end_to_end(path, tmp_path, image_folder, paired_folder):
    root = _data_root()
    config = TrainConfig.load(path, tiny=True)
    overrides = [f"output_dir={tmp_path}", "tensorboard=false", "epochs=1", "steps_per_epoch=2", "val_limit=1"]
    overrides.append(f"data_root={root}")
    if config.paired_data:
        overrides.append(f"paired_data={paired_folder}")
    else:
        if not _available(config.train_data, root):
            overrides.append(f"train_data={image_folder}")
        if config.val_data and not _available(config.val_data, root):
            overrides.append(f"val_data={image_folder}")
    config = TrainConfig.load(path, tiny=True, overrides=overrides)
    history, run_dir = train(config, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_done"] == 1
    assert (run_dir / "best.weights.h5").is_file()
    if config.val_holdout or config.val_data:
        assert np.isfinite(history.history["val_psnr"]).all()
    if config.val_holdout:
        held = json.loads((run_dir / "holdout.json").read_text())
        assert len(held["val"]) == config.val_holdout and not set(held["val"]) & set(held["test"])


# --------------------------------------------------------------------------- paired data


def _pairs(delta=0.05, seed=0):
    """Clean textures of different sizes and noisy = clean + (+-delta), the sign random per pixel."""
    rng = np.random.default_rng(seed)
    clean = [rng.random((h, w, 3), dtype=np.float32) for h, w in ((30, 41), (37, 33), (28, 28))]
    noise = [np.where(rng.random(c.shape) < 0.5, -delta, delta).astype(np.float32) for c in clean]
    return [c + n for c, n in zip(clean, noise)], clean, noise


def test_paired_dataset_crops_the_same_window_and_mode_from_both_images():
    delta, p = 0.05, 12
    noisy, clean, noise = _pairs(delta)
    data = pipeline.PairedPatchDataset(noisy, clean, patch_size=p, batch_size=24, steps_per_epoch=3, seed=5)
    modes_seen = set()
    for index in range(3):
        x, y = data[index]
        assert x.shape == y.shape == (24, p, p, 3) and x.dtype == y.dtype == np.float32
        residual = x - y
        # every residual pixel is +-delta: noisy and clean crops are the same window, same mode
        np.testing.assert_allclose(np.abs(residual), delta, atol=1e-6)
        assert abs(float(residual.mean())) < 0.2 * delta and float(residual.std()) == pytest.approx(delta, rel=1e-3)
        for crop, res in zip(y, residual):
            found = []
            for k, image in enumerate(clean):
                windows = np.lib.stride_tricks.sliding_window_view(image, (p, p, 3))[..., 0, :, :, :]
                for mode in range(8):
                    hits = np.argwhere(np.all(windows == transforms.deaugment(crop, mode), axis=(2, 3, 4)))
                    found += [(k, mode, int(a), int(b)) for a, b in hits]
            assert len(found) == 1, "each clean crop is one window of one image under one mode"
            k, mode, a, b = found[0]
            modes_seen.add(mode)
            np.testing.assert_allclose(res, transforms.augment(noise[k][a : a + p, b : b + p], mode), atol=1e-6)
    assert len(modes_seen) >= 6


def test_paired_dataset_is_deterministic_and_uint8_storage_changes_nothing():
    rng = np.random.default_rng(1)
    clean = [rng.integers(0, 256, (40, 44, 3)).astype(np.float32) / 255.0 for _ in range(3)]
    noisy = [np.clip(c + rng.normal(0, 0.05, c.shape), 0, 1).astype(np.float32) for c in clean]
    noisy = [np.rint(n * 255).astype(np.float32) / 255.0 for n in noisy]  # 8-bit files
    a = pipeline.PairedPatchDataset(noisy, clean, patch_size=16, batch_size=8, steps_per_epoch=2, seed=3)
    b = pipeline.PairedPatchDataset(
        [pipeline.compact_image(n) for n in noisy], [pipeline.compact_image(c) for c in clean],
        patch_size=16, batch_size=8, steps_per_epoch=2, seed=3,
    )
    assert pipeline.compact_image(noisy[0]).dtype == np.uint8
    for index in range(2):
        for u, v in zip(a.batch(0, index), b.batch(0, index)):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.batch(1, 0)[1], a.batch(0, 0)[1])
    extra = pipeline.PairedPatchDataset(noisy, clean, 16, 8, 2, seed=3, noise="gaussian:sigma=20")
    assert np.std(extra[0][0] - extra[0][1]) > np.std(a[0][0] - a[0][1]) + 0.03
    with pytest.raises(ValueError, match="shape"):
        pipeline.PairedPatchDataset([noisy[0][:30]], [clean[0]], patch_size=16)


def test_crop_patch_dataset_fresh_windows_noise_and_levels():
    rng = np.random.default_rng(2)
    images = [rng.random((50, 61, 3), dtype=np.float32), rng.random((45, 45, 3), dtype=np.float32)]
    data = pipeline.CropPatchDataset(images, "gaussian:sigma=25", patch_size=20, batch_size=32, steps_per_epoch=2, seed=1)
    noisy, clean = data[0]
    assert noisy.shape == clean.shape == (32, 20, 20, 3)
    assert float(np.std(noisy - clean)) == pytest.approx(25 / 255, rel=0.05)
    np.testing.assert_array_equal(data.batch(0, 1)[0], pipeline.CropPatchDataset(images, "gaussian:sigma=25", 20, 32, 2, seed=1)[1][0])
    assert not np.array_equal(data.batch(1, 0)[1], clean)
    blind = pipeline.CropPatchDataset(images, "gaussian:sigma=0-55", 20, 8, seed=0, with_level=True)
    (_, level), _ = blind[0]
    assert level.shape == (8, 1) and np.unique(level).size > 1
    with pytest.raises(ValueError, match="patch_size"):
        pipeline.CropPatchDataset(images, "gaussian", patch_size=46)


def test_make_paired_set_writes_the_sidd_layout_reproducibly(tmp_path, image_folder):
    script = _load_script()
    written = script.make_paired_set(str(image_folder), tmp_path / "a", limit=3, seed=4)
    again = script.make_paired_set(str(image_folder), tmp_path / "b", limit=3, seed=4)
    found = datasets.find_pairs(tmp_path / "a", layout="sidd")
    assert [(n, c) for n, c, _ in found] == written and len(found) == 3
    for (n, c), (n2, c2) in zip(written, again):
        assert n.parent.parent.name == "Data" and "_NOISY_SRGB_010.PNG" in n.name and "_GT_SRGB_010.PNG" in c.name
        assert n.read_bytes() == n2.read_bytes() and c.read_bytes() == c2.read_bytes()
    noisy, clean, _ = datasets.load_pairs(tmp_path / "a", layout="sidd")
    assert all(a.shape == b.shape and 0.002 < float(np.std(a - b)) < 0.1 for a, b in zip(noisy, clean))
    with pytest.raises(FileExistsError):
        script.make_paired_set(str(image_folder), tmp_path / "a", limit=1)


# --------------------------------------------------------------------------- held-out validation


def test_holdout_split_is_fixed_and_disjoint(image_folder):
    items = list(range(20))
    train_part, val, test = holdout_split(items, 3, 2)
    assert (len(train_part), len(val), len(test)) == (15, 3, 2)
    assert sorted(train_part + val + test) == items and train_part == sorted(train_part)
    assert holdout_split(items, 3, 2) == (train_part, val, test)
    with pytest.raises(ValueError, match="hold out"):
        holdout_split(items, 15, 5)
    config = TrainConfig.from_dict({"train_data": str(image_folder), "val_data": None, "val_holdout": 2, "test_holdout": 1})
    train_files, val_files, test_files = holdout_files(config)
    assert len(val_files) == 2 and len(test_files) == 1 and len(train_files) == 5
    assert not {f.name for f in train_files} & {f.name for f in val_files + test_files}


def test_the_holdout_split_is_the_datasets_split():
    """Held-out validation cuts the shuffle of ``datasets.split`` (val first, then test), in input order."""
    items = [f"img{i:03d}" for i in range(40)]
    for val, test in ((8, 0), (3, 2), (1, 16)):
        train_part, held_val, held_test = holdout_split(items, val, test)
        assert (held_val, held_test, train_part) == datasets.split(
            items, seed=HOLDOUT_SEED, counts=(val, test, len(items) - val - test), keep_order=True
        )
        shuffled = datasets.split(items, seed=HOLDOUT_SEED, counts=(val, test, len(items) - val - test))
        assert held_val == sorted(shuffled[0]) and held_test == sorted(shuffled[1])
    # the colour recipes hold out 8 CBSD432 images (their run folders' holdout.json): always these
    names = sorted(datasets.manifest("cbsd432")["files"])
    assert holdout_split(names, 8)[1] == [
        "117054.jpg", "187099.jpg", "188063.jpg", "226043.jpg", "35070.jpg", "385022.jpg", "6046.jpg", "81090.jpg"
    ]


def test_new_keys_are_checked_and_default_to_the_old_behaviour():
    defaults = TrainConfig()
    assert (defaults.val_holdout, defaults.test_holdout, defaults.paired_data, defaults.paired_noise) == (0, 0, None, None)
    with pytest.raises(ValueError, match="val_data"):
        TrainConfig.from_dict({"val_holdout": 4})  # val_data defaults to train400_val
    with pytest.raises(ValueError, match="val_data"):
        TrainConfig.from_dict({"paired_data": "x"})
    with pytest.raises(ValueError, match="paired_layout"):
        TrainConfig.from_dict({"paired_data": "x", "val_data": None, "paired_layout": "raw"})
    with pytest.raises(ValueError, match="patch_mode"):
        TrainConfig.from_dict({"patch_mode": "tiles"})
    with pytest.raises(ValueError, match="noise"):
        TrainConfig.from_dict({"paired_noise": "gausian"})


def test_cdncnn_b_validates_on_cbsd432_images_it_does_not_train_on():
    root = _data_root()
    if not _available("cbsd432", root):
        pytest.skip("cbsd432 not under the data root")
    config = TrainConfig.load(ROOT / "configs" / "cdncnn_b.yaml", overrides=[f"data_root={root}"])
    train_files, val_files, _ = holdout_files(config)
    assert len(val_files) == 8 and len(train_files) == 424
    cbsd68 = {f.stem for f in datasets.list_images(datasets.resolve("cbsd68", root))} if _available("cbsd68", root) else set()
    assert not cbsd68 & {f.stem for f in val_files}
    assert config.val_data is None and config.color
