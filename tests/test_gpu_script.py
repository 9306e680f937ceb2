"""scripts/train_gpu.py trains, packs, unpacks and resumes on the JAX backend with TensorFlow unimportable.

This is the GPU machine's situation (JAX + CUDA, no TensorFlow); here it runs on the CPU with each
config's tiny override, so a session that is lent a GPU can start training at once.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_gpu.py"

pytest.importorskip("jax")


def _run(args, env, cwd):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_tiny_run_without_tensorflow_packs_unpacks_and_resumes(tmp_path, shared_data):
    blocker = tmp_path / "block"
    (blocker / "tensorflow").mkdir(parents=True)
    (blocker / "tensorflow" / "__init__.py").write_text('raise ImportError("TensorFlow is blocked: this test mimics a JAX-only GPU machine")\n')
    env = dict(os.environ, PYTHONPATH=str(blocker), DENOISE_TF_DATA=str(shared_data), KERAS_BACKEND="jax")
    config = str(ROOT / "configs" / "dncnn_s25.yaml")

    first, packs = tmp_path / "first", tmp_path / "packs"
    out = _run([config, "--tiny", "--output-dir", str(first), "--pack", str(packs)], env, tmp_path)
    assert "dncnn_s25-tiny: exit 0, epochs 2/2" in out
    assert "tensorflow was imported" not in out
    summary = json.loads((first / "dncnn_s25-tiny" / "summary.json").read_text())
    assert summary["hardware"]["backend"] == "jax"
    assert summary["hardware"]["tensorflow_imported"] is False
    assert (packs / "dncnn_s25-tiny.tar").stat().st_size > 100_000

    # Carried back to another machine: unpack and train one more epoch from the backup.
    second = tmp_path / "second"
    out = _run([config, "--tiny", "--output-dir", str(second), "--unpack", str(packs), "--set", "epochs=3"], env, tmp_path)
    assert "dncnn_s25-tiny: exit 0, epochs 3/3" in out
    log = (second / "dncnn_s25-tiny" / "log.csv").read_text().strip().splitlines()
    before = (first / "dncnn_s25-tiny" / "log.csv").read_text().strip().splitlines()
    assert log[:3] == before  # epochs 0 and 1 carried over, not repeated
    assert log[3].split(",")[0] == "2"
    summary = json.loads((second / "dncnn_s25-tiny" / "summary.json").read_text())
    assert len(summary["sessions"]) == 2
