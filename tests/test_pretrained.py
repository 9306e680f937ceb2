"""Shipped weights: registry, sha256 check at load, both backends, and their measured quality."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from denoise_tf import checksums, pretrained

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = pretrained.available()


def test_registry_entries_are_complete():
    assert SHIPPED, "no shipped weights"
    for name in SHIPPED:
        entry = pretrained.entry(name)
        for key in ("file", "sha256", "model", "model_options", "noise", "config", "train_data", "epochs", "wall_time_s", "hardware", "val_psnr"):
            assert key in entry, f"{name}: registry entry lacks {key!r}"
        assert (ROOT / entry["config"]).is_file(), f"{name}: config {entry['config']} missing"
        assert checksums.sha256(pretrained.WEIGHTS_DIR / entry["file"]) == entry["sha256"]


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="dncnn"):
        pretrained.load("dncnn-s99")


def test_corrupt_or_truncated_weights_give_a_clear_error(tmp_path, monkeypatch):
    name = SHIPPED[0]
    copy = tmp_path / "weights"
    shutil.copytree(pretrained.WEIGHTS_DIR, copy)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", copy)
    monkeypatch.setattr(pretrained, "REGISTRY_FILE", copy / "registry.json")
    target = copy / pretrained.entry(name)["file"]
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        pretrained.load(name)
    target.unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        pretrained.load(name)


def test_the_same_file_gives_the_same_output_on_jax(tmp_path):
    pytest.importorskip("jax")
    name = "dncnn-s25" if "dncnn-s25" in SHIPPED else SHIPPED[0]
    image = np.random.default_rng(0).random((1, 24, 20, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", image)
    script = (
        "import sys, numpy as np; from denoise_tf import pretrained; "
        f"m = pretrained.load({name!r}); x = np.load(sys.argv[1]); "
        "inputs = x if len(m.inputs) == 1 else [x, np.full((1, 1), 0.1, np.float32)]; "
        "np.save(sys.argv[2], np.asarray(m.predict_on_batch(inputs)))"
    )
    for backend in ("tensorflow", "jax"):
        env = {"KERAS_BACKEND": backend, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.npy"), str(tmp_path / f"{backend}.npy")], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "tensorflow.npy"), np.load(tmp_path / "jax.npy"), atol=2e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_on_a_subset(name, shared_data, monkeypatch):
    """Two test images under the model's own protocol (``scripts/shipping_checks.py``).

    Always: above its ``required`` baselines (noisy input, median filter, by their margins) and
    equal to the stored results (the cached rows of ``python -m denoise_tf report``). The
    BM3D-class ``target`` is asserted for final weights; for interim ones (training still in
    progress) a miss is reported as an expected failure with the numbers.
    """
    monkeypatch.setenv("DENOISE_TF_DATA", str(shared_data))
    from denoise_tf import report

    check = load_script("shipping_checks").subset_check(name)
    proto, ours = check["protocol"], check["rows"]
    condition = proto["noise"] if proto["noise"] is not None else proto["sigma"]
    assert not check["required"], f"{name} ({proto['dataset']}, {condition}): {'; '.join(check['required'])}"
    stored = report.stored_rows(name, proto["dataset"], condition, ROOT / "results", proto["clip_input"], **proto["options"])
    if stored is not None:
        figures = {row["image"]: row["psnr"] for row in stored}
        for mine in ours:
            if mine["image"] in figures:
                assert mine["psnr"] == pytest.approx(figures[mine["image"]], abs=0.01)
    target = check["target"]
    if target and pretrained.entry(name).get("status") == "interim":
        pytest.xfail(f"interim weights {name} not yet {proto['note']}: {'; '.join(target)}")
    assert not target, f"{name} ({proto['note']}): {'; '.join(target)}"


def test_ship_records_paired_training_data(tmp_path, monkeypatch):
    """A run on noisy/clean pairs is registered with its pairs, not the unused ``train_data`` default."""
    from denoise_tf import models
    from denoise_tf.config import TrainConfig

    run_dir = tmp_path / "runs" / "sequential_sidd"
    run_dir.mkdir(parents=True)
    config = TrainConfig.from_dict(
        {"name": "sequential_sidd", "model": "sequential_cnn", "model_options": {"widths": [8], "channels": 3}, "color": True,
         "paired_data": str(tmp_path / "sidd_iso_cbsd432"), "val_data": None, "val_holdout": 1, "noise": "gaussian:sigma=0"}
    )
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
    (run_dir / "summary.json").write_text(json.dumps({"best_epoch": 1, "epochs_done": 1, "wall_time_s": 1.0, "best_val_psnr": 30.0}))
    models.build("sequential_cnn", widths=[8], channels=3).save_weights(str(run_dir / "best.weights.h5"))
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(pretrained, "REGISTRY_FILE", tmp_path / "weights" / "registry.json")
    info = pretrained.ship(run_dir, "tiny-pairs")
    assert info["train_data"] == "sidd_iso_cbsd432 (sidd-layout noisy/clean pairs)"
    assert info["val_data"] == "1 held-out pairs of sidd_iso_cbsd432"  # not None: validated on the held-out scenes
    assert info["config"] == "configs/sequential_sidd.yaml" and info["status"] == "interim"
    assert pretrained.load("tiny-pairs").count_params() == models.build("sequential_cnn", widths=[8], channels=3).count_params()


def test_training_stages_follow_the_run_a_fine_tuning_started_from(tmp_path):
    """A run started from another run folder lists that run's training first, then its own."""
    import json

    first, second = tmp_path / "first", tmp_path / "second"
    for folder, config, summary in (
        (first, {"steps_per_epoch": 1600, "batch_size": 128, "lr_schedule": "step", "learning_rate": 1e-3,
                 "lr_values": [1e-3, 1e-4], "lr_boundaries": [30]},
         {"best_epoch": 11, "epochs_done": 11, "wall_time_s": 1347.6, "sessions": [{"hardware": {"devices": ["gpu:H100"]}}]}),
        (second, {"steps_per_epoch": 25, "batch_size": 128, "lr_schedule": "constant", "learning_rate": 1e-4,
                  "precision": "mixed_bfloat16", "init_weights": str(first)},
         {"best_epoch": 7, "epochs_done": 9, "wall_time_s": 1800.0, "sessions": [{"hardware": {"devices": ["CPU"]}}]}),
    ):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "summary.json").write_text(json.dumps(summary))
    stages = pretrained.training_stages(second)
    assert [s["run"] for s in stages] == ["first", "second"]
    assert stages[0]["learning_rate"] == "0.001, 0.0001 from epoch 30" and stages[0]["epochs"] == 11
    assert stages[1]["learning_rate"] == "0.0001" and stages[1]["precision"] == "mixed_bfloat16" and stages[1]["epochs"] == 7
    text = pretrained.describe_stages(stages)
    assert text == (
        "11 x 1600 steps of 128 at 0.001, 0.0001 from epoch 30 (gpu:H100, 22 min); "
        "then 7 x 25 steps of 128 at 0.0001 (CPU, mixed_bfloat16, 30 min)"
    )


def test_stage_precision_is_what_the_sessions_used_not_what_was_asked(tmp_path):
    """A session on a CPU without bfloat16 records float32; the stage then says so."""
    import json

    (tmp_path / "config.json").write_text(json.dumps({"precision": "mixed_bfloat16", "learning_rate": 1e-4, "lr_schedule": "constant"}))
    sessions = [{"hardware": {"devices": ["CPU"], "precision": p}} for p in ("mixed_bfloat16", "float32", "float32")]
    (tmp_path / "summary.json").write_text(json.dumps({"best_epoch": 3, "sessions": sessions}))
    assert pretrained.training_stages(tmp_path)[-1]["precision"] == "mixed_bfloat16/float32"
    (tmp_path / "summary.json").write_text(json.dumps({"best_epoch": 3, "sessions": sessions[1:]}))
    assert pretrained.training_stages(tmp_path)[-1]["precision"] == "float32"
