"""Training on noisy images only (Neighbor2Neighbor): the sub-sampler, the loss, the batches, a tiny run."""

import json
from pathlib import Path

import numpy as np
import pytest

from denoise_tf import datasets, selfsupervised
from denoise_tf.config import TrainConfig
from denoise_tf.train import train

ROOT = Path(__file__).resolve().parents[1]


def _index_image(n=2, h=8, w=10):
    """Every pixel's value is its own flat position, so a sub-sampled pixel says where it came from."""
    return np.arange(n * h * w, dtype=np.float32).reshape(n, h, w, 1)


def test_subsampled_pairs_are_edge_neighbours_never_the_same_pixel():
    image = _index_image()
    choices = np.arange(2 * 4 * 5, dtype=np.int32).reshape(2, 4, 5) % 8  # every choice occurs
    first, second = (np.asarray(a)[..., 0].astype(int) for a in selfsupervised.subsample(image, choices))
    assert first.shape == second.shape == (2, 4, 5)
    # a pixel is never its own target: a sampler with a choice (p, p) would fail here
    assert np.all(first != second)
    rows_a, cols_a = np.divmod(first % 80, 10)
    rows_b, cols_b = np.divmod(second % 80, 10)
    assert np.all(np.abs(rows_a - rows_b) + np.abs(cols_a - cols_b) == 1)  # sharing an edge
    cell_rows, cell_cols = np.mgrid[0:4, 0:5]
    assert np.all(rows_a // 2 == cell_rows) and np.all(cols_a // 2 == cell_cols)  # inside its own 2x2 cell
    assert all(p != q for p, q in selfsupervised.CHOICES) and len(set(selfsupervised.CHOICES)) == 8


@pytest.mark.parametrize("stride, distance", [(3, 1), (3, 2), (4, 2), (4, 3)])
def test_larger_stride_pairs_are_the_configured_distance_apart_in_one_cell(stride, distance):
    n, h, w = 2, 4 * stride, 5 * stride
    image = _index_image(n, h, w)
    count = len(selfsupervised.cell_choices(stride, distance))
    choices = np.arange(n * 4 * 5, dtype=np.int32).reshape(n, 4, 5) % count  # every choice occurs
    first, second = (np.asarray(a)[..., 0].astype(int) for a in selfsupervised.subsample(image, choices, stride, distance))
    assert first.shape == second.shape == (n, 4, 5)
    assert np.all(first != second)  # never its own target
    rows_a, cols_a = np.divmod(first % (h * w), w)
    rows_b, cols_b = np.divmod(second % (h * w), w)
    assert np.all(np.hypot(rows_a - rows_b, cols_a - cols_b) >= distance)
    # distance along a row or a column, both pixels inside their own cell
    assert np.all(np.minimum(np.abs(rows_a - rows_b), np.abs(cols_a - cols_b)) == 0)
    cell_rows, cell_cols = np.mgrid[0:4, 0:5]
    for rows, cols in ((rows_a, cols_a), (rows_b, cols_b)):
        assert np.all(rows // stride == cell_rows) and np.all(cols // stride == cell_cols)
    x, y_true = selfsupervised.noisy_only(_Pairs(), seed=1, stride=stride, distance=distance)[0]
    assert set(np.unique(y_true[..., -1])) <= set(range(count))


def test_objective_options_are_parsed_and_checked():
    assert selfsupervised.parse_objective("neighbor2neighbor") == ("neighbor2neighbor", selfsupervised.OPTIONS)
    name, options = selfsupervised.parse_objective("neighbor2neighbor:stride=4,distance=3,channels=luminance")
    assert options == {"stride": 4, "distance": 3, "channels": "luminance"}
    for bad in ("neighbor2neighbor:stride=4,distance=4", "neighbor2neighbor:distance=0", "neighbor2neighbor:stride=1",
                "neighbor2neighbor:size=3", "neighbor2neighbor:channels=red", "neighbor2neighbor:stride=x", "supervised:stride=2"):
        with pytest.raises(ValueError, match="objective"):
            TrainConfig(objective=bad).validate()


def test_luminance_option_needs_an_opponent_model():
    import keras

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Identity()])
    with pytest.raises(ValueError, match="dncnn_opponent"):
        selfsupervised.neighbor2neighbor_loss(model, channels="luminance")


def test_odd_sides_drop_the_last_row_and_column():
    first, _ = selfsupervised.subsample(_index_image(1, 7, 9), np.zeros((1, 3, 4), np.int32))
    assert np.asarray(first).shape == (1, 3, 4, 1)


def test_loss_of_an_identity_network_is_the_pair_difference():
    import keras

    model = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Identity()])
    rng = np.random.default_rng(0)
    noisy = rng.random((2, 6, 6, 1)).astype(np.float32)
    choices = selfsupervised.draw_choices(rng, 2, 6, 6)
    full = np.repeat(np.repeat(choices, 2, axis=1), 2, axis=2)[..., None].astype(np.float32)
    loss = selfsupervised.neighbor2neighbor_loss(model)
    value = float(loss(np.concatenate([noisy, full], -1), noisy))
    first, second = (np.asarray(a) for a in selfsupervised.subsample(noisy, choices))
    # identity: f(g1) - g2 equals g1(f) - g2(f), so the regularizer is 0
    assert value == pytest.approx(float(np.mean((first - second) ** 2)), rel=1e-5)


class _Pairs:
    """A stand-in seeded dataset: noisy = 0.5 + seeded noise, clean = 0.5."""

    workers, use_multiprocessing, max_queue_size = 1, False, 10

    def __init__(self):
        self.epoch = 0

    def __len__(self):
        return 3

    def batch(self, epoch, index):
        noisy = 0.5 + np.random.default_rng([epoch, index]).normal(0, 0.1, (2, 8, 8, 1)).astype(np.float32)
        return noisy, np.full_like(noisy, 0.5)

    def on_epoch_end(self):
        self.epoch += 1


def test_training_batches_hold_no_clean_image_and_repeat_by_epoch_and_index():
    wrapped = selfsupervised.noisy_only(_Pairs(), seed=4)
    x, y_true = wrapped[1]
    noisy, clean = _Pairs().batch(0, 1)
    np.testing.assert_array_equal(x, noisy)
    np.testing.assert_array_equal(y_true[..., :-1], noisy)
    assert not np.any(np.isclose(y_true[..., :-1], clean))
    choices = y_true[..., -1]
    assert set(np.unique(choices)) <= set(range(8)) and np.array_equal(choices[:, ::2, ::2].repeat(2, 1).repeat(2, 2), choices)
    np.testing.assert_array_equal(selfsupervised.noisy_only(_Pairs(), seed=4)[1][1], y_true)
    wrapped.on_epoch_end()
    assert wrapped.epoch == 1 and not np.array_equal(wrapped[1][1][..., -1], choices)


def test_objective_is_validated():
    with pytest.raises(ValueError, match="objective"):
        TrainConfig(objective="noise2void").validate()
    with pytest.raises(ValueError, match="pipeline"):
        TrainConfig(objective="neighbor2neighbor", pipeline="tf").validate()
    TrainConfig(objective="neighbor2neighbor").validate()


@pytest.fixture(scope="module")
def noisy_folder(tmp_path_factory):
    """Six small noisy colour photos (no clean ones)."""
    folder = tmp_path_factory.mktemp("noisy_photos")
    rng = np.random.default_rng(0)
    for k in range(6):
        y, x = np.mgrid[0:64, 0:72] / 64
        clean = np.stack([0.5 + 0.3 * np.sin(3 * x + k), 0.4 + 0.2 * y, 0.6 - 0.2 * x * y], axis=-1)
        datasets.save_image(folder / f"p{k}.png", np.clip(clean + rng.normal(0, 0.08, clean.shape), 0, 1))
    return folder


def test_adaptation_config_trains_two_tiny_epochs_and_resumes(noisy_folder, tmp_path):
    path = ROOT / "configs" / "n2n_adapt_iso.yaml"
    overrides = [f"train_data={noisy_folder}", f"output_dir={tmp_path}", "tensorboard=false"]
    config = TrainConfig.load(path, tiny=True, overrides=overrides)
    assert config.objective.startswith("neighbor2neighbor") and config.epochs == 2
    history, run_dir = train(config, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and len(history.history["loss"]) == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_done"] == 2
    assert (run_dir / "best.weights.h5").is_file() and (run_dir / "last.weights.h5").is_file()
    assert json.loads((run_dir / "config.json").read_text())["objective"] == config.objective
    more = TrainConfig.load(path, tiny=True, overrides=overrides + ["epochs=3"])
    history, _ = train(more, resume=True, verbose=0)
    assert len(history.history["loss"]) == 1
    assert json.loads((run_dir / "summary.json").read_text())["epochs_done"] == 3


def test_real_pairs_train_on_their_noisy_halves_and_validate_on_held_out_pairs(noisy_folder, tmp_path):
    pairs = tmp_path / "pairs"
    datasets.make_paired_set(noisy_folder, pairs, noise="gaussian:sigma=15", limit=6, seed=0)
    overrides = [f"paired_data={pairs}", "val_holdout=2", "epochs=1", f"output_dir={tmp_path}", "tensorboard=false"]
    config = TrainConfig.load(ROOT / "configs" / "n2n_adapt_iso.yaml", tiny=True, overrides=overrides)
    history, run_dir = train(config, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and np.isfinite(history.history["val_psnr"]).all()
    assert len(json.loads((run_dir / "holdout.json").read_text())["val"]) == 2
