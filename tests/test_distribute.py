"""Data-parallel training (denoise_tf.distribute): settings, errors, and 2-device runs on the CPU.

The 2-device runs need several host devices, which must be configured before the backend
starts, so each runs in a subprocess: TensorFlow with 2 logical CPU devices
(``tf.config.set_logical_device_configuration``, MirroredStrategy), JAX with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (``keras.distribution.DataParallel``).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from denoise_tf import distribute
from denoise_tf.config import TrainConfig

from test_train import tiny_config

ROOT = Path(__file__).resolve().parents[1]

TF_PRELUDE = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""

DRIVER = """
import json, sys
from denoise_tf import distribute
from denoise_tf.config import TrainConfig
from denoise_tf.train import train
placement = distribute.resolve("cpu:2", 8)
try:
    distribute.resolve("cpu:2", 5)
    bad_batch = "accepted"
except ValueError as error:
    bad_batch = str(error)
config = TrainConfig.from_dict(json.loads(sys.argv[1]))
history, run_dir = train(config, verbose=0)
import keras
after = None if keras.backend.backend() != "jax" else keras.distribution.distribution()
print("RESULT", json.dumps({"loss": history.history["loss"], "val_psnr": history.history.get("val_psnr"),
      "placement": placement.describe(), "bad_batch": bad_batch, "after": repr(after)}))
"""


def _config(folder, out, **changes):
    """The tests' tiny run (``test_train.tiny_config``) on two CPU devices, as a dict for the driver."""
    values = dict(name="dp", val_limit=1, epochs=1, steps_per_epoch=2, devices="cpu:2")
    return tiny_config(folder, out, **{**values, **changes}).to_dict()


def _run(backend, values, tmp_path, prelude="", extra_env=None):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", **(extra_env or {}))
    result = subprocess.run(
        [sys.executable, "-c", prelude + DRIVER, json.dumps(values)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _check_run(out, values, backend):
    run_dir = Path(values["output_dir"]) / values["name"]
    assert np.isfinite(out["loss"]).all() and np.isfinite(out["val_psnr"]).all()
    assert out["placement"]["replicas"] == 2 and out["placement"]["data_parallel"] == backend
    assert "divide" in out["bad_batch"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["placement"]["replicas"] == 2
    assert {"config.json", "log.csv", "best.weights.h5", "last.weights.h5", "backup"} <= {p.name for p in run_dir.iterdir()}


@pytest.mark.slow
def test_tensorflow_mirrored_strategy_on_two_logical_cpus(image_folder, tmp_path):
    pytest.importorskip("tensorflow")
    values = _config(image_folder, tmp_path)
    out = _run("tensorflow", values, tmp_path, prelude=TF_PRELUDE)
    _check_run(out, values, "tensorflow")


@pytest.mark.slow
def test_jax_data_parallel_on_two_host_devices(image_folder, tmp_path):
    pytest.importorskip("jax")
    values = _config(image_folder, tmp_path)
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    out = _run("jax", values, tmp_path, extra_env={"XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"})
    _check_run(out, values, "jax")
    assert out["after"] == "None"  # the distribution is unset after training


def test_settings_parse_and_reject():
    assert distribute.parse_setting("auto") == ("auto", None)
    assert distribute.parse_setting(1) == ("gpu", 1) and distribute.parse_setting("4") == ("gpu", 4)
    assert distribute.parse_setting("cpu") == ("cpu", None) and distribute.parse_setting("cpu:2") == ("cpu", 2)
    for bad in ("tpu", "cpu:x", 0, True):
        with pytest.raises((ValueError, TypeError), match="devices"):
            distribute.parse_setting(bad)


def test_single_device_is_the_default_and_missing_devices_are_named():
    assert distribute.resolve(1, 7).kind == "single"
    auto = distribute.resolve("auto", 7)  # this CPU test machine: no GPUs -> one device
    assert auto.kind == "single" and auto.count == 1
    with pytest.raises(ValueError, match="visible"):
        distribute.resolve("cpu:64", 64)
    with pytest.raises(ValueError, match="cpu:N"):
        distribute.resolve(8, 64)  # no GPUs here: the message points at cpu:N


def test_config_checks_batch_divides_by_devices():
    assert TrainConfig.from_dict({"devices": 2, "batch_size": 8}).devices == 2
    with pytest.raises(ValueError, match="divide"):
        TrainConfig.from_dict({"devices": 3, "batch_size": 8})
    with pytest.raises(ValueError, match="devices"):
        TrainConfig.from_dict({"devices": "many"})


def test_pad_batch_for_prediction():
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    padded, n = distribute.pad_batch(x, 2)
    assert n == 3 and padded[:, 0].tolist() == [0, 1, 2, 2]
    (a, b), n = distribute.pad_batch((x[:1], x[:1]), 4)
    assert n == 1 and a.shape == b.shape == (4, 1)
    assert distribute.pad_batch(x, 1)[0] is x
