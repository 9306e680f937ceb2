"""scripts/train_gpu.py and the device-resident loop train, pack, unpack and resume on JAX with TensorFlow unimportable.

This is the GPU machine's situation (JAX + CUDA, no TensorFlow); here it runs on the CPU with each
config's tiny override, so training can start at once when a GPU machine is lent. The batch
maker of :mod:`denoise_tf.device_training` (crops, flips, noise) is checked in this process on
plain JAX; everything with Keras runs in subprocesses on the JAX backend.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_gpu.py"

pytest.importorskip("jax")


def _blocked_env(tmp_path, shared_data):
    """Environment of a JAX-only machine: a ``tensorflow`` package that raises on import comes first."""
    blocker = tmp_path / "block"
    (blocker / "tensorflow").mkdir(parents=True, exist_ok=True)
    (blocker / "tensorflow" / "__init__.py").write_text('raise ImportError("TensorFlow is blocked: this test mimics a JAX-only GPU machine")\n')
    return dict(os.environ, PYTHONPATH=str(blocker), DENOISE_TF_DATA=str(shared_data), KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")


def _run(args, env, cwd):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _epochs_logged(run: Path) -> list[int]:
    lines = (run / "log.csv").read_text().strip().splitlines()
    assert lines[0] == "epoch,loss,val_psnr"
    return [int(line.split(",")[0]) for line in lines[1:]]


def _backup_epoch(run: Path) -> int:
    return json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"]


#: Tiny DnCNN (depth 3, 2 steps of 16 patches per epoch): seconds per epoch on a CPU.
TINY = ["--tiny", "--set", "model_options.depth=3", "--set", "steps_per_epoch=2"]


def _digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_tiny_run_without_tensorflow_packs_unpacks_and_resumes(tmp_path, shared_data):
    """The Keras path (``--trainer keras``: ``python -m denoise_tf train`` per config), on the tiny DnCNN."""
    env = _blocked_env(tmp_path, shared_data)
    config = str(ROOT / "configs" / "dncnn_s25.yaml")

    first, packs = tmp_path / "first", tmp_path / "packs"
    out = _run([config, *TINY, "--trainer", "keras", "--output-dir", str(first), "--pack", str(packs)], env, tmp_path)
    assert "dncnn_s25-tiny: exit 0, epochs 2/2" in out
    assert "tensorflow was imported" not in out
    summary = json.loads((first / "dncnn_s25-tiny" / "summary.json").read_text())
    assert summary["hardware"]["backend"] == "jax"
    assert summary["hardware"]["tensorflow_imported"] is False
    assert (packs / "dncnn_s25-tiny.tar").stat().st_size > 100_000

    # Carried back to another machine: unpack and train one more epoch from the backup.
    second = tmp_path / "second"
    out = _run([config, *TINY, "--trainer", "keras", "--output-dir", str(second), "--unpack", str(packs), "--set", "epochs=3"], env, tmp_path)
    assert "dncnn_s25-tiny: exit 0, epochs 3/3" in out
    log = (second / "dncnn_s25-tiny" / "log.csv").read_text().strip().splitlines()
    before = (first / "dncnn_s25-tiny" / "log.csv").read_text().strip().splitlines()
    assert log[:3] == before  # epochs 0 and 1 carried over, not repeated
    assert log[3].split(",")[0] == "2"
    summary = json.loads((second / "dncnn_s25-tiny" / "summary.json").read_text())
    assert len(summary["sessions"]) == 2


# -------------------------------------------------------------------------------------------
# The device loop's batches (plain JAX, in this process)


def test_augment_modes_match_the_numpy_pipeline():
    import jax
    import jax.numpy as jnp

    from denoise_tf.device_training import augment_modes
    from denoise_tf.transforms import augment

    batch = np.random.default_rng(0).random((8, 5, 5, 1), dtype=np.float32)
    modes = np.arange(8)
    out = np.asarray(jax.jit(augment_modes)(jnp.asarray(batch), jnp.asarray(modes)))
    for i, mode in enumerate(modes):
        np.testing.assert_array_equal(out[i], augment(batch[i], int(mode)))


def _windows(image: np.ndarray, p: int) -> np.ndarray:
    """Every p x p window of ``image`` in each of the 8 modes: ``(n, p, p, C)``."""
    from denoise_tf.transforms import augment

    h, w = image.shape[:2]
    crops = [image[y : y + p, x : x + p] for y in range(h - p + 1) for x in range(w - p + 1)]
    return np.stack([augment(c, m) for c in crops for m in range(8)])


def test_make_batch_crops_flips_and_noise():
    import jax
    import jax.numpy as jnp

    from denoise_tf import device_training as dt

    rng = np.random.default_rng(1)
    images = [rng.random((9, 7, 1), dtype=np.float32), rng.random((6, 8, 1), dtype=np.float32)]
    stack, sizes, logits = dt.stack_images(images, 5, weights=[3.0, 1.0])
    assert stack.shape == (2, 9, 8, 1) and sizes.tolist() == [[9, 7], [6, 8]]
    np.testing.assert_allclose(np.exp(logits), [0.75, 0.25], rtol=1e-6)
    data = dt.DeviceImages(jnp.asarray(stack), jnp.asarray(sizes), jnp.asarray(logits))
    noise = dt.gaussian_noise("gaussian:sigma=10-40")
    make = jax.jit(lambda key: dt.make_batch(key, data, 5, 256, noise))
    noisy, level, clean = (np.asarray(a) for a in make(dt.step_key(0, 3, 7)))
    assert noisy.shape == clean.shape == (256, 5, 5, 1) and level.shape == (256, 1)

    # Every clean patch is a flipped/rotated window of one image (none reaches into the padding).
    candidates = [_windows(im, 5).reshape(-1, 25) for im in images]
    source = []
    for patch in clean.reshape(256, 25):
        hits = [k for k, c in enumerate(candidates) if np.any(np.all(np.isclose(c, patch), axis=1))]
        assert hits, "a patch is not a window of the training images"
        source.append(hits[0])
    assert 0.6 < np.mean(np.array(source) == 0) < 0.9  # weights 3:1
    # Blind noise: one sigma per patch in [10, 40] / 255, the level input is that sigma.
    assert np.all(level >= 10 / 255 - 1e-7) and np.all(level <= 40 / 255 + 1e-7) and level.std() > 0.02
    residual = (noisy - clean).reshape(256, -1) / level
    assert abs(residual.std() - 1.0) < 0.05 and abs(residual.mean()) < 0.05

    # A pure function of (seed, epoch, step): the same key repeats the batch, another step differs.
    again = np.asarray(make(dt.step_key(0, 3, 7))[0])
    other = np.asarray(make(dt.step_key(0, 3, 8))[0])
    np.testing.assert_array_equal(again, noisy)
    assert not np.allclose(other, noisy)


def test_fixed_sigma_clip_and_refusals():
    import jax
    import jax.numpy as jnp

    from denoise_tf import device_training as dt

    image = np.full((6, 6, 1), 0.5, np.float32)
    data = dt.DeviceImages(*(jnp.asarray(a) for a in dt.stack_images([image], 6)))
    noise = dt.gaussian_noise("gaussian:sigma=25,clip=true")
    noisy, level, _ = jax.jit(lambda key: dt.make_batch(key, data, 6, 64, noise))(jax.random.PRNGKey(0))
    np.testing.assert_allclose(np.asarray(level), 25 / 255, rtol=1e-6)
    assert float(noisy.min()) >= 0.0 and float(noisy.max()) <= 1.0
    assert dt.steps_per_call(1600, 200) == 200 and dt.steps_per_call(1600, 150) == 100 and dt.steps_per_call(7, 4) == 1
    with pytest.raises(ValueError, match="Gaussian noise only"):
        dt.gaussian_noise("poisson:peak=30")
    with pytest.raises(ValueError, match="larger than an image"):
        dt.stack_images([image], 7)
    with pytest.raises(ValueError, match="steps per call"):
        dt.steps_per_call(10, 0)


# -------------------------------------------------------------------------------------------
# The device loop end to end (subprocesses, TensorFlow blocked)

def _kill_after(command, env, cwd, marker: str, timeout: float = 600) -> str:
    """Run ``command``, SIGKILL it as soon as a stdout line starts with ``marker``; returns the output."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith(marker):
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        timer.cancel()
        process.wait()
    out = "".join(lines)
    assert process.returncode == -signal.SIGKILL, out[-3000:]
    return out


@pytest.mark.slow
def test_device_loop_bf16_kill_resume_pack_unpack(tmp_path, shared_data):
    env = _blocked_env(tmp_path, shared_data)
    config = str(ROOT / "configs" / "dncnn_s25.yaml")
    first, packs, second = tmp_path / "first", tmp_path / "packs", tmp_path / "second"
    run = first / "dncnn_s25-tiny"
    command = [sys.executable, str(SCRIPT), config, *TINY, "--set", "epochs=3", "--output-dir", str(first)]

    # SIGKILL in the middle of epoch 3 (its compiled call is running): epochs 1 and 2 are saved.
    out = _kill_after(command, env, tmp_path, "dncnn_s25-tiny epoch 2/3")
    assert "precision mixed_bfloat16" in out
    assert _backup_epoch(run) == 2 and _epochs_logged(run) == [0, 1]
    log_before = (run / "log.csv").read_text().splitlines()

    # Resume: epoch 3 only, then pack.
    out = _run([*command[2:], "--pack", str(packs)], env, tmp_path)
    assert "dncnn_s25-tiny epoch 3/3" in out and "epoch 1/3" not in out and "epoch 2/3" not in out
    assert "dncnn_s25-tiny: exit 0, epochs 3/3" in out and "tensorflow was imported" not in out
    assert _epochs_logged(run) == [0, 1, 2]
    assert (run / "log.csv").read_text().splitlines()[:3] == log_before
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_done"] == 3 and summary["status"] == "finished" and len(summary["sessions"]) == 2
    assert summary["patches_seen"] == 3 * 2 * 16
    assert summary["hardware"]["backend"] == "jax" and summary["hardware"]["tensorflow_imported"] is False
    placement = summary["sessions"][-1]["placement"]
    assert placement["trainer"] == "device_training" and placement["precision"] == "mixed_bfloat16"
    assert placement["conv_compute_dtypes"] == {"bfloat16": 2, "float32": 1}  # last conv float32
    with h5py.File(run / "backup" / "latest.weights.h5", "r") as handle:
        assert int(handle["optimizer/vars/0"][()]) == 6  # Adam's step count: 3 epochs of 2 steps
        assert handle["layers/conv2d/vars/0"].dtype == np.float32  # float32 weights
    with h5py.File(run / "best.weights.h5", "r") as handle:
        assert "optimizer" not in handle

    names = {m for m in __import__("tarfile").open(packs / "dncnn_s25-tiny.tar").getnames()}
    assert "dncnn_s25-tiny/best.weights.h5" in names and "dncnn_s25-tiny/backup/latest.weights.h5" in names
    assert "dncnn_s25-tiny/last.weights.h5" not in names and not any(n.endswith(".bkp") for n in names)

    # Carried to another machine: unpack (last.weights.h5 rebuilt from the backup), one more epoch.
    out = _run([*command[2:-2], "--output-dir", str(second), "--unpack", str(packs), "--set", "epochs=4"], env, tmp_path)
    moved = second / "dncnn_s25-tiny"
    assert "dncnn_s25-tiny epoch 4/4" in out and "epoch 3/4" not in out
    assert _epochs_logged(moved) == [0, 1, 2, 3] and _backup_epoch(moved) == 4
    assert (moved / "log.csv").read_text().splitlines()[:4] == (run / "log.csv").read_text().splitlines()
    assert len(json.loads((moved / "summary.json").read_text())["sessions"]) == 3

    # The run folder is a standard one: load_run_model reads its weights (here on any backend).
    from denoise_tf.runs import load_run_model

    model = load_run_model(moved, "best")
    assert model.count_params() > 0 and load_run_model(moved, "last").count_params() == model.count_params()


@pytest.mark.slow
def test_device_loop_continues_a_keras_backup(tmp_path, shared_data):
    """A copy of a run folder written by Keras' BackupAndRestore (GPU, float32) continues in the device loop.

    The copy's config.json gets short epochs (2 steps of 4 patches, one 48x48 validation crop)
    so an epoch takes seconds here; weights, optimizer state, log and summary are the real ones.
    """
    source = ROOT / "runs" / "dncnn_s15"
    if not (source / "backup" / "latest.weights.h5").is_file():
        pytest.skip("runs/dncnn_s15 has no backup")
    before = _digests(source)
    out_dir = tmp_path / "runs"
    run = out_dir / "dncnn_s15"
    import shutil

    shutil.copytree(source, run)
    quick = {"steps_per_epoch": 2, "batch_size": 4, "val_limit": 1, "val_crop": 48}
    saved = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**saved, **quick}))
    start = _backup_epoch(run)
    old_summary = json.loads((run / "summary.json").read_text())
    with h5py.File(run / "backup" / "latest.weights.h5", "r") as handle:
        old_steps = int(handle["optimizer/vars/0"][()])
        old_kernel = handle["layers/conv2d_1/vars/0"][()]
    log_before = (run / "log.csv").read_text().splitlines()

    env = _blocked_env(tmp_path, shared_data)
    sets = [item for key, value in quick.items() for item in ("--set", f"{key}={value}")]
    out = _run([str(ROOT / "configs" / "dncnn_s15.yaml"), *sets, "--set", f"epochs={start + 1}", "--output-dir", str(out_dir)], env, tmp_path)
    assert f"dncnn_s15 epoch {start + 1}/{start + 1}" in out
    assert _epochs_logged(run) == list(range(start + 1))
    assert (run / "log.csv").read_text().splitlines()[: start + 1] == log_before[: start + 1]
    assert _backup_epoch(run) == start + 1
    with h5py.File(run / "backup" / "latest.weights.h5", "r") as handle:
        assert int(handle["optimizer/vars/0"][()]) == old_steps + 2  # Adam's state continued, not restarted
        kernel = handle["layers/conv2d_1/vars/0"][()]
    change = np.abs(kernel - old_kernel).max()
    assert 0 < change < 0.05  # two small steps from the trained weights, not a fresh start
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_done"] == start + 1 and len(summary["sessions"]) == len(old_summary["sessions"]) + 1
    assert summary["wall_time_s"] > old_summary["wall_time_s"]
    assert _digests(source) == before  # the committed run folder is untouched


def test_gray_carry_holds_what_the_runs_read(tmp_path, shared_data):
    """make_gpu_carry's gray carry: Train400, the validation images the configs load, resumable run backups."""
    import importlib.util
    import tarfile

    from denoise_tf import datasets

    spec = importlib.util.spec_from_file_location("make_gpu_carry", ROOT / "scripts" / "make_gpu_carry.py")
    carry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(carry)
    runs = tmp_path / "runs"
    (runs / "dncnn_s15" / "backup").mkdir(parents=True)
    for name in carry.RUN_FILES + ("backup/latest.weights.h5.bkp", "best.weights.h5"):
        (runs / "dncnn_s15" / name).write_text(name)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "keras-0-py3-none-any.whl").write_text("wheel")
    (wheels / "README.md").write_text("notes")
    out = tmp_path / ".gpu"
    size = carry.build("gray", shared_data, wheels, runs, out, only=["dncnn_s15"])
    assert size < 20 * 2**20
    assert [p.name for p in (out / "wheels").iterdir()] == ["keras-0-py3-none-any.whl"]

    # The trainer reads the same validation images from the carry as from the full data folder.
    carried = datasets.load("train400_val", limit=8, data_root=out / "data")[1]
    assert carried == datasets.load("train400_val", limit=8, data_root=shared_data)[1]
    assert len(list((out / "data" / "cbsd432").iterdir())) == 8
    assert len(list((out / "data" / "train400").glob("*.png"))) == 400
    # Resuming needs the latest backup, config, summary and log; not the .bkp copy or the best weights.
    with tarfile.open(out / "runs.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted(f"dncnn_s15/{name}" for name in carry.RUN_FILES)
