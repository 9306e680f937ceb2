"""Run folders: atomic writes, verified reads, checksummed backups, the log and the summary."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from denoise_tf import runs


@pytest.fixture(scope="module")
def model():
    import keras

    net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, padding="same")])
    net.compile(keras.optimizers.Adam(1e-3), "mse")
    net.optimizer.build(net.trainable_variables)
    return net


def _snapshot(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_atomic_json_round_trip_and_clear_errors(tmp_path):
    path = runs.write_json(tmp_path / "a.json", {"x": 1})
    assert runs.read_json(path) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left
    with pytest.raises(ValueError):
        runs.write_json(path, {"x": float("nan")})  # not JSON: refused, the old file stays
    assert runs.read_json(path) == {"x": 1}
    path.write_text('{"x": 1, "y"')
    with pytest.raises(ValueError, match=r"a\.json is not valid JSON"):
        runs.read_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        runs.read_json(path)


@pytest.mark.parametrize("name", ["../x", "x/..", "/abs", "a\\b", "..", ".", "", " x"])
def test_run_names_must_be_plain_folder_names(name):
    with pytest.raises(ValueError, match="plain folder name"):
        runs.check_name(name)


def test_plain_run_names_pass():
    for name in ("dncnn_b_cpu", "dncnn_b_cpu-tiny", "run.2", "..x"):
        runs.check_name(name)


def test_a_backup_carries_sha256_checksums_of_weights_and_metadata(model, tmp_path):
    latest = runs.write_backup(model, tmp_path, epoch=3, batch=0)
    assert runs.check_backup(latest) == (3, None)
    lines = latest.checksum.read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["latest.weights.h5", "training_metadata.json"]
    if shutil.which("sha256sum"):  # the manifest is the standard tool's format
        subprocess.run(["sha256sum", "--quiet", "-c", latest.checksum.name], cwd=tmp_path, check=True)
    runs.write_backup(model, tmp_path, epoch=4)
    previous = runs.BackupFiles.of(tmp_path, previous=True)
    assert runs.check_backup(previous) == (3, None) and runs.check_backup(latest) == (4, None)


def test_a_backup_cut_before_its_checksum_falls_back_to_the_one_before(model, tmp_path):
    runs.write_backup(model, tmp_path / "backup", epoch=1)
    runs.write_backup(model, tmp_path / "backup", epoch=2)
    latest = runs.BackupFiles.of(tmp_path / "backup")
    stale = latest.checksum.read_text()
    runs.write_backup(model, tmp_path / "backup", epoch=3)
    latest.checksum.write_text(stale)  # as if killed after the metadata, before the checksum file
    plan = runs.plan_resume(tmp_path)
    assert (plan.epoch, plan.source) == (2, "previous") and "does not match its sha256" in plan.refused
    runs.apply_resume(plan)
    assert runs.check_backup(latest) == (2, None)
    assert (tmp_path / "backup" / "latest.weights.h5.refused").is_file()


def test_non_finite_weights_and_a_missing_half_are_refused(model, tmp_path):
    import h5py

    latest = runs.write_backup(model, tmp_path, epoch=1)
    latest.checksum.unlink()  # as written before checksums existed: still usable
    assert runs.check_backup(latest) == (1, None)
    with h5py.File(latest.weights, "r+") as handle:
        handle.visititems(lambda name, item: item.__setitem__((), np.nan) if isinstance(item, h5py.Dataset) and item.ndim else None)
    assert "non-finite" in runs.check_backup(latest)[1]
    latest.weights.unlink()
    assert "latest.weights.h5 is missing" in runs.check_backup(latest)[1]  # metadata alone is no backup


def test_plan_resume_refuses_without_changing_anything(model, tmp_path):
    folder = tmp_path / "backup"
    runs.write_backup(model, folder, epoch=1)
    runs.write_backup(model, folder, epoch=2)
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        (folder / name).write_bytes(b"\x89HDF\r\n")
    before = _snapshot(folder)
    with pytest.raises(ValueError, match=r"cannot resume .* refused .*Nothing was changed"):
        runs.plan_resume(tmp_path)
    assert _snapshot(folder) == before
    assert runs.plan_resume(tmp_path / "fresh") == runs.ResumePlan(tmp_path / "fresh", 0, None)


def test_trim_log_drops_a_cut_last_line_and_rows_past_the_backup(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss,val_psnr\n0,0.5,20.1\n1,0.4,21.3\n2,0.3,2")
    runs.trim_log(log, 5)
    assert log.read_text() == "epoch,loss,val_psnr\n0,0.5,20.1\n1,0.4,21.3\n"
    log.write_text("epoch,loss,val_psnr\n0,0.5,20.1\n1,0.4\n1,0.4,21.3\n2,0.3,22.0\n")
    runs.trim_log(log, 2)  # a short row goes too; epoch 2 is past the backup
    assert log.read_text() == "epoch,loss,val_psnr\n0,0.5,20.1\n1,0.4,21.3\n"
    log.write_text("epoch,lo")  # even the header cut short: the logger writes a new one
    runs.trim_log(log, 2)
    assert log.read_text() == ""
    assert runs.log_rows(log) == []


def test_summary_rebuilt_from_the_log(tmp_path):
    (tmp_path / "log.csv").write_text("epoch,loss,val_psnr\n0,0.5,20.0\n1,0.4,22.5\n2,0.3,22.0\n3,0.2,30.0\n")
    (tmp_path / "summary.json").write_text('{"epochs_done": 3, "best')
    summary, problem = runs.read_summary(tmp_path, 3)
    assert "not valid JSON" in problem
    assert (summary["epochs_done"], summary["best_val_psnr"], summary["best_epoch"]) == (3, 22.5, 2)  # epoch 4 is past the backup
    assert summary["last_logs"] == {"loss": 0.3, "val_psnr": 22.0} and "rebuilt" in summary
    (tmp_path / "summary.json").write_text(json.dumps({"epochs_done": 3}))
    assert runs.read_summary(tmp_path, 3) == ({"epochs_done": 3}, None)


def test_has_trained_tells_a_stub_from_a_run(tmp_path):
    assert not runs.has_trained(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "log.csv").write_text("epoch,loss\n")
    assert not runs.has_trained(tmp_path)
    (tmp_path / "log.csv").write_text("epoch,loss\n0,0.5\n")
    assert runs.has_trained(tmp_path)
    (tmp_path / "log.csv").write_text("epoch,loss\n")
    (tmp_path / "notes.txt").write_text("mine")  # a file of another kind: not a stub to start over
    assert runs.has_trained(tmp_path)
