"""TrainConfig, the train loop, run folders, resume (also after SIGKILL), the configs/ recipes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from denoise_tf.config import TrainConfig, learning_rate_at
from denoise_tf.train import train

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def tiny_config(folder, out, **changes):
    values = dict(
        name="tiny",
        model="dncnn",
        model_options={"depth": 3, "filters": 8},
        noise="gaussian:sigma=25",
        train_data=str(folder),
        val_data=str(folder),
        val_limit=2,
        patch_size=16,
        patch_stride=16,
        patch_scales=[1.0],
        batch_size=8,
        epochs=2,
        steps_per_epoch=3,
        output_dir=str(out),
        tensorboard=False,
    )
    values.update(changes)
    return TrainConfig.from_dict(values)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_loads_full_and_tiny(path):
    full = TrainConfig.load(path)
    tiny = TrainConfig.load(path, tiny=True)
    assert full.name == path.stem and tiny.name == path.stem + "-tiny"
    assert tiny.epochs * (tiny.steps_per_epoch or 1) <= 20


def test_config_rejects_unknown_key_and_wrong_type(tmp_path):
    with pytest.raises(ValueError, match="learning_rte"):
        TrainConfig.from_dict({"learning_rte": 0.1})
    with pytest.raises(TypeError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": "big"})
    with pytest.raises(ValueError, match="noise"):
        TrainConfig.from_dict({"noise": "gausian:sigma=25"})
    path = tmp_path / "c.yaml"
    path.write_text("model: dncnn\n")
    with pytest.raises(ValueError, match="override"):
        TrainConfig.load(path, overrides=["epochs"])
    assert TrainConfig.load(path, overrides=["epochs=3", "model_options.depth=5"]).model_options == {"depth": 5}


def test_learning_rate_schedules():
    step = TrainConfig(lr_schedule="step", lr_boundaries=[30], lr_values=[1e-3, 1e-4])
    assert learning_rate_at(step, 29) == 1e-3 and learning_rate_at(step, 30) == 1e-4
    decay = TrainConfig(lr_schedule="exponential", learning_rate=1e-3, lr_decay=0.95)
    assert learning_rate_at(decay, 2) == pytest.approx(1e-3 * 0.95**2)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    import keras

    from denoise_tf import models, noise

    keras.utils.set_random_seed(0)
    model = models.build("dncnn", depth=4, filters=16)
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    rng = np.random.default_rng(0)
    clean = np.repeat(np.linspace(0, 1, 24, dtype=np.float32)[None, :, None], 24, axis=0)[None].repeat(8, axis=0)
    noisy = noise.apply(clean, "gaussian:sigma=25", seed=rng)
    losses = [float(model.train_on_batch(noisy, clean)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_train_writes_run_folder_and_never_overwrites(image_folder, tmp_path):
    history, run_dir = train(tiny_config(image_folder, tmp_path), verbose=0)
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "log.csv", "best.weights.h5", "last.weights.h5", "backup", "summary.json"} <= names
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_done"] == 2 and summary["status"] == "finished"
    assert summary["best_val_psnr"] == pytest.approx(max(history.history["val_psnr"]))
    session = summary["sessions"][-1]["hardware"]
    assert session["precision"] == "float32" and (session["cpu_model"] is None or isinstance(session["cpu_model"], str))
    with pytest.raises(FileExistsError, match="resume"):
        train(tiny_config(image_folder, tmp_path), verbose=0)


def test_same_seed_same_first_epoch_loss(image_folder, tmp_path):
    first, _ = train(tiny_config(image_folder, tmp_path, name="a", epochs=1), verbose=0)
    second, _ = train(tiny_config(image_folder, tmp_path, name="b", epochs=1), verbose=0)
    assert first.history["loss"][0] == pytest.approx(second.history["loss"][0], rel=1e-5)


def test_resume_continues_without_repeating_epochs(image_folder, tmp_path):
    train(tiny_config(image_folder, tmp_path, epochs=1), verbose=0)
    history, run_dir = train(tiny_config(image_folder, tmp_path, epochs=3), resume=True, verbose=0)
    assert len(history.history["loss"]) == 2  # epochs 2 and 3 only
    epochs = [line.split(",")[0] for line in (run_dir / "log.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1", "2"]
    with pytest.raises(ValueError, match="noise"):
        train(tiny_config(image_folder, tmp_path, epochs=4, noise="gaussian:sigma=50"), resume=True, verbose=0)


def test_nan_loss_stops_and_keeps_last_good_weights(image_folder, tmp_path):
    config = tiny_config(image_folder, tmp_path, epochs=3, learning_rate=1e30, lr_schedule="constant")
    history, run_dir = train(config, verbose=0)
    summary = json.loads((run_dir / "summary.json").read_text())
    if np.isfinite(history.history["loss"]).all():
        pytest.fail(f"a learning rate of 1e30 was expected to give a non-finite loss: {history.history['loss']}")
    assert "stopped" in summary["status"]
    assert summary["epochs_done"] < 3


def test_sigkill_mid_run_then_resume(image_folder, tmp_path):
    """A run killed with SIGKILL resumes from its last backup; finished epochs are not repeated."""
    config = tiny_config(image_folder, tmp_path, epochs=40, steps_per_epoch=2)
    path = tmp_path / "kill.json"
    path.write_text(json.dumps(config.to_dict()))
    command = [sys.executable, "-m", "denoise_tf", "train", str(path), "--verbose", "0"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = config.run_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if meta.exists() and json.loads(meta.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = json.loads(meta.read_text())["epoch"]
    assert 2 <= done < 40
    resumed = subprocess.run(command + ["--resume"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    epochs = [int(line.split(",")[0]) for line in (config.run_dir / "log.csv").read_text().splitlines()[1:]]
    assert epochs == list(range(40))  # every epoch once: rows logged past the backup were dropped


def test_batch_backups_also_back_up_each_epoch_end(image_folder, tmp_path):
    """With backup_every=N batches the last backup still names the next epoch, so no epoch repeats."""
    config = tiny_config(image_folder, tmp_path, epochs=2, steps_per_epoch=3, backup_every=2)
    train(config, verbose=0)
    assert json.loads((config.run_dir / "backup" / "training_metadata.json").read_text()) == {"epoch": 2, "batch": 0}


def test_a_backup_cut_short_resumes_from_the_one_before(image_folder, tmp_path):
    """A kill while the backup was written leaves a broken file: resume falls back to the previous backup."""
    config = tiny_config(image_folder, tmp_path, epochs=2, steps_per_epoch=2)
    train(config, verbose=0)
    backup = config.run_dir / "backup"
    assert (backup / "latest.weights.h5.bkp").exists()  # double_checkpoint keeps the one before
    weights = backup / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])
    (backup / "training_metadata.json.bkp").write_text(json.dumps({"epoch": 1, "batch": 0}))
    history, _ = train(TrainConfig.from_dict({**config.to_dict(), "epochs": 3}), resume=True, verbose=0)
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 3
    epochs = [int(line.split(",")[0]) for line in (config.run_dir / "log.csv").read_text().splitlines()[1:]]
    assert epochs == [0, 1, 2]  # epoch 1 again (from the earlier backup), logged once
    weights.write_bytes(b"broken")
    for name in ("latest.weights.h5.bkp", "training_metadata.json.bkp"):
        (backup / name).unlink()
    with pytest.raises(ValueError, match="no earlier backup"):
        train(TrainConfig.from_dict({**config.to_dict(), "epochs": 4}), resume=True, verbose=0)


# --------------------------------------------------------------------------- issue 7: images, tf.data, paired summary


def _image_summaries(log_dir):
    import tensorflow as tf

    found = []
    for path in Path(log_dir).rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images" or value.HasField("image"):
                    found.append((value.tag, event.step, value))
    return found


def test_tensorboard_writes_sample_image_grids(image_folder, tmp_path):
    tf = pytest.importorskip("tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorBoard images are written on the TensorFlow backend (PNG grids otherwise)")
    _, run_dir = train(tiny_config(image_folder, tmp_path, epochs=1, steps_per_epoch=2, tensorboard=True), verbose=0)
    images = _image_summaries(run_dir / "tensorboard")
    assert [(tag, step) for tag, step, _ in images] == [("val_samples", 0)]
    # the grid: 2 validation images (rows) x noisy | denoised | clean (columns), 2-pixel gaps
    value = images[0][2]
    width, height = (int(v) for v in tf.make_ndarray(value.tensor)[:2])
    assert (height, width) == (2 * 48 + 2, 3 * 56 + 2 * 2)


def test_sample_grid_png_without_tensorflow_summaries(tmp_path):
    import keras

    from denoise_tf.callbacks import ImageSamples, sample_grid

    grid = sample_grid([[np.zeros((30, 20, 1)), np.ones((25, 40, 3))]], size=24)
    assert grid.shape == (24, 2 * 20 + 2, 3) and grid[:, :20].max() == 0
    model = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Identity()])
    callback = ImageSamples([(np.full((1, 8, 8, 1), 0.5, np.float32), np.zeros((1, 8, 8, 1), np.float32))], tmp_path / "tb", tmp_path / "png")
    callback.set_model(model)
    if keras.backend.backend() == "tensorflow":
        callback.on_epoch_end(0)
        assert _image_summaries(tmp_path / "tb")
    else:
        callback.on_epoch_end(0)
        assert (tmp_path / "png" / "epoch_001.png").is_file()


def test_tf_pipeline_trains_and_resumes(image_folder, tmp_path):
    pytest.importorskip("tensorflow")
    config = tiny_config(image_folder, tmp_path, pipeline="tf", epochs=1)
    first, run_dir = train(config, verbose=0)
    history, _ = train(tiny_config(image_folder, tmp_path, pipeline="tf", epochs=2), resume=True, verbose=0)
    assert np.isfinite(first.history["loss"] + history.history["loss"]).all()
    assert len(history.history["loss"]) == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["pipeline"] == "tf" and summary["epochs_done"] == 2
    with pytest.raises(ValueError, match="pipeline"):
        tiny_config(image_folder, tmp_path, pipeline="torch")
    with pytest.raises(ValueError, match="pipeline"):
        tiny_config(image_folder, tmp_path, pipeline="tf", paired_data="x", val_data=None)


def test_summary_records_paired_data_settings(image_folder, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_paired_set", ROOT / "scripts" / "make_paired_set.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pairs = tmp_path / "pairs"
    module.make_paired_set(str(image_folder), pairs, limit=4, seed=0)
    config = tiny_config(
        image_folder, tmp_path, paired_data=str(pairs), val_data=None, val_holdout=1, paired_noise="gaussian:sigma=0-5",
        epochs=1, steps_per_epoch=1, batch_size=4,
    )
    _, run_dir = train(config, verbose=0)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["paired_data"] == {
        "path": str(pairs), "layout": "sidd", "extra_noise": "gaussian:sigma=0-5", "val_holdout": 1, "test_holdout": 0,
    }
    assert summary["train_data"] is None and summary["noise"] is None
    plain = json.loads((train(tiny_config(image_folder, tmp_path, name="plain", epochs=1), verbose=0)[1] / "summary.json").read_text())
    assert "paired_data" not in plain and plain["train_data"] == str(image_folder)


def test_resume_drops_log_rows_past_the_backup(tmp_path):
    from denoise_tf.runs import trim_log

    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n" + "".join(f"{e},0.{e}\n" for e in range(6)))
    trim_log(log, 4)  # the backup holds 4 finished epochs: epochs 4 and 5 run again
    assert log.read_text() == "epoch,loss\n0,0.0\n1,0.1\n2,0.2\n3,0.3\n"
    trim_log(tmp_path / "missing.csv", 2)  # nothing to trim


# --------------------------------------------------------------------------- run folders that lose nothing


def _log(run_dir) -> list[dict]:
    import csv

    with open(run_dir / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _snapshot(folder) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _overwrite_weights(path, value=None, seed=0):
    """Overwrite the stored values of every float array in an HDF5 weights file, in place (the file still opens)."""
    import h5py

    with h5py.File(path, "r") as handle:
        spans = []
        handle.visititems(
            lambda name, item: spans.append((item.id.get_offset(), item.size))
            if isinstance(item, h5py.Dataset) and item.dtype == np.float32 and item.id.get_offset() is not None
            else None
        )
    rng = np.random.default_rng(seed)
    with open(path, "r+b") as handle:
        for offset, size in spans:
            values = np.full(size, value, np.float32) if value is not None else rng.uniform(-3, 3, size).astype(np.float32)
            handle.seek(offset)
            handle.write(values.tobytes())


def test_resume_of_a_finished_run_changes_nothing(image_folder, tmp_path):
    config = tiny_config(image_folder, tmp_path, epochs=2)
    train(config, verbose=0)
    before = _snapshot(config.run_dir)
    with pytest.warns(UserWarning, match="nothing to train"):
        history, run_dir = train(config, resume=True, verbose=0)
    assert history.history == {}
    assert _snapshot(run_dir) == before
    assert json.loads((run_dir / "summary.json").read_text())["epochs_done"] == 2


def test_resume_refuses_cleanly_when_both_backups_are_unreadable(image_folder, tmp_path):
    config = tiny_config(image_folder, tmp_path, epochs=2, steps_per_epoch=2)
    train(config, verbose=0)
    backup = config.run_dir / "backup"
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        (backup / name).write_bytes((backup / name).read_bytes()[:300])
    before = _snapshot(config.run_dir)
    with pytest.raises(ValueError, match=r"cannot resume .*refused.*the backup before it is refused too.*Nothing was changed"):
        train(tiny_config(image_folder, tmp_path, epochs=3, steps_per_epoch=2), resume=True, verbose=0)
    assert _snapshot(config.run_dir) == before  # metadata, log rows and weights as they were


def test_garbage_inside_a_backup_is_refused_and_the_one_before_used(image_folder, tmp_path):
    """Values overwritten inside a readable HDF5 backup fail its sha256; the backup before is used."""
    config = tiny_config(image_folder, tmp_path, epochs=2, steps_per_epoch=2)
    train(config, verbose=0)
    logged = [float(row["loss"]) for row in _log(config.run_dir)]
    backup = config.run_dir / "backup"
    _overwrite_weights(backup / "latest.weights.h5")  # finite garbage: only the checksum tells
    history, run_dir = train(tiny_config(image_folder, tmp_path, epochs=3, steps_per_epoch=2), resume=True, verbose=0)
    assert len(history.history["loss"]) == 2  # epochs 2 and 3: from the backup of epoch 1
    assert history.history["loss"][0] == pytest.approx(logged[1], rel=1e-6)  # epoch 2 exactly as the first time
    assert [int(row["epoch"]) for row in _log(run_dir)] == [0, 1, 2]
    assert (backup / "latest.weights.h5.refused").is_file()  # kept for inspection
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 3


def test_a_backup_without_checksum_is_still_read_but_refused_when_not_finite(image_folder, tmp_path):
    """Backups written before checksums existed resume as before; NaN weights in them are refused."""
    config = tiny_config(image_folder, tmp_path, epochs=2, steps_per_epoch=2)
    train(config, verbose=0)
    backup = config.run_dir / "backup"
    for path in backup.glob("*.sha256"):
        path.unlink()
    history, _ = train(tiny_config(image_folder, tmp_path, epochs=3, steps_per_epoch=2), resume=True, verbose=0)
    assert len(history.history["loss"]) == 1  # resumed from the latest backup (epoch 2)
    for path in backup.glob("*.sha256"):
        path.unlink()
    _overwrite_weights(backup / "latest.weights.h5", value=np.nan)
    history, _ = train(tiny_config(image_folder, tmp_path, epochs=4, steps_per_epoch=2), resume=True, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()  # from epoch 2's backup


def test_nan_loss_stops_and_never_saves_nan_weights(image_folder, tmp_path):
    """The learning rate jumps to 1e30 at epoch 2: training stops there; every weights file keeps epoch 1."""
    from denoise_tf.runs import check_backup, check_weights_file, BackupFiles

    config = tiny_config(
        image_folder, tmp_path, epochs=4, lr_schedule="step", lr_boundaries=[1], lr_values=[1e-3, 1e30], backup_every=1
    )
    with pytest.warns(RuntimeWarning, match=r"training stopped: the loss became (nan|inf) at batch \d of epoch 2"):
        history, run_dir = train(config, verbose=0)
    assert not np.isfinite(history.history["loss"][-1]) and len(history.history["loss"]) == 2
    assert check_backup(BackupFiles.of(run_dir / "backup")) == (1, None)  # the backup of epoch 1, finite
    for name in ("best.weights.h5", "last.weights.h5"):
        assert check_weights_file(run_dir / name) is None
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_done"] == 1 and summary["status"].startswith("stopped")
    assert all(np.isfinite(v) for v in summary["last_logs"].values())


def test_savers_skip_non_finite_weights_even_with_a_finite_loss(tmp_path):
    """A last update can make the weights NaN while the epoch's loss is still finite."""
    import keras

    from denoise_tf.callbacks import Backup, SaveBest, SaveLast, StopOnNaN

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, padding="same")])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    model.optimizer.build(model.trainable_variables)
    kernel = model.get_weights()[0]
    kernel[0, 0, 0, 0] = np.nan
    model.set_weights([kernel, model.get_weights()[1]])
    savers = [SaveBest(tmp_path / "best.weights.h5", monitor="loss", mode="min"), SaveLast(tmp_path / "last.weights.h5")]
    savers += [Backup(str(tmp_path / "backup"), double_checkpoint=True, delete_checkpoint=False)]
    stop = StopOnNaN()
    for callback in [stop, *savers]:
        callback.set_model(model)
        callback.on_epoch_end(0, {"loss": 0.01})
    assert not any(tmp_path.rglob("*.h5"))
    assert model.stop_training and "non-finite" in stop.reason


def test_a_cut_summary_is_rebuilt_from_the_log_on_resume(image_folder, tmp_path):
    config = tiny_config(image_folder, tmp_path, epochs=2)
    train(config, verbose=0)
    summary = config.run_dir / "summary.json"
    text = summary.read_text()
    summary.write_text(text[: len(text) // 2])
    history, run_dir = train(tiny_config(image_folder, tmp_path, epochs=3), resume=True, verbose=0)
    rebuilt = json.loads(summary.read_text())
    assert rebuilt["epochs_done"] == 3 and rebuilt["status"] == "finished"
    assert rebuilt["best_val_psnr"] == pytest.approx(max(float(row["val_psnr"]) for row in _log(run_dir)))
    assert "rebuilt" in rebuilt
    assert (run_dir / "summary.json.damaged").read_text() == text[: len(text) // 2]
    assert not list(run_dir.glob(".tmp-*"))  # atomic writes leave no temporary file


def test_a_cut_last_log_line_is_dropped_on_resume(image_folder, tmp_path):
    config = tiny_config(image_folder, tmp_path, epochs=2)
    train(config, verbose=0)
    log = config.run_dir / "log.csv"
    log.write_text(log.read_text()[:-8])  # the last row cut short: no newline, part of its values
    train(tiny_config(image_folder, tmp_path, epochs=3), resume=True, verbose=0)
    lines = log.read_text().splitlines()
    width = len(lines[0].split(","))
    assert all(len(line.split(",")) == width for line in lines)  # no row glued onto a partial one
    assert [int(row["epoch"]) for row in _log(config.run_dir)] == [0, 2]


def test_config_errors_are_found_before_a_run_folder_exists(image_folder, tmp_path):
    for bad in ({"steps_per_epoch": -3}, {"steps_per_epoch": 0}, {"patch_stride": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            tiny_config(image_folder, tmp_path, **bad)
    assert tiny_config(image_folder, tmp_path, steps_per_epoch=None).steps_per_epoch is None
    # errors that only building the model or reading the data finds leave no folder either
    for bad in ({"train_data": str(tmp_path / "no-such-folder")}, {"model_options": {"depth": 3, "filtrs": 8}}):
        with pytest.raises((ValueError, TypeError, FileNotFoundError)):
            train(tiny_config(image_folder, tmp_path, name="failed", **bad), verbose=0)
        assert not (tmp_path / "failed").exists()
    # a folder that a failed start left without any trained epoch neither blocks a retry nor a resume
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "config.json").write_text(json.dumps({**tiny_config(image_folder, tmp_path).to_dict(), "steps_per_epoch": -3}))
    (stub / "log.csv").write_text("")
    history, _ = train(tiny_config(image_folder, tmp_path, name="stub", epochs=1), verbose=0)
    assert len(history.history["loss"]) == 1


def test_an_empty_config_file_is_refused(tmp_path):
    for text in ("", "# only a comment\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        with pytest.raises(ValueError, match="is empty"):
            TrainConfig.load(path)
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        TrainConfig.load(tmp_path / "empty.json")


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "a\\b"])
def test_run_names_stay_inside_the_output_dir(tmp_path, name):
    path = tmp_path / "c.yaml"
    path.write_text("model: dncnn\n")
    with pytest.raises(ValueError, match="'name' must be a plain folder name"):
        TrainConfig.load(path, overrides=[f"name={name}"] if name else ["name=''"])


def test_a_resumed_run_gives_the_losses_of_an_uninterrupted_one(image_folder, tmp_path):
    """4 epochs straight and 2 + 2 resumed: the same batches in the same order, so the same log."""
    straight, _ = train(tiny_config(image_folder, tmp_path, name="straight", epochs=4), verbose=0)
    train(tiny_config(image_folder, tmp_path, name="resumed", epochs=2), verbose=0)
    train(tiny_config(image_folder, tmp_path, name="resumed", epochs=4), resume=True, verbose=0)
    logs = [_log(tmp_path / name) for name in ("straight", "resumed")]
    for key in ("loss", "val_psnr"):
        a, b = ([float(row[key]) for row in log] for log in logs)
        assert len(a) == len(b) == 4
        assert b == pytest.approx(a, rel=1e-6, abs=0)
