"""Helpers shared by several test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: The lessons the default run takes from the wheel (tests/test_wheel.py): between them they read the
#: bundled samples, configs, weights and training logs, fetch a named set, and write a run folder, a
#: paired set and figures where they run. In the default run nbval runs the other lessons in the
#: checkout; with ``-m full`` each half runs the other way (tests/conftest.py), so every lesson runs
#: once per command and both ways in CI.
WHEEL_LESSONS = ("01_data_prep", "04_training", "06_visualization", "07_beyond_gaussian")


def randomize(model, seed: int = 0):
    """Random weights everywhere, BN statistics included (a fresh BN is the identity); returns ``model``."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        shape, path = tuple(weight.shape), weight.path
        if "moving_variance" in path or "gamma" in path:
            values.append(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        elif "kernel" in path:
            values.append((rng.standard_normal(shape) * np.sqrt(1.0 / np.prod(shape[:-1]))).astype(np.float32))
        else:  # biases, BN beta and moving mean
            values.append((rng.standard_normal(shape) * 0.05).astype(np.float32))
    model.set_weights(values)
    return model


def run_on_backend(backend: str, script: str, folder) -> dict:
    """Run ``script`` (given ``folder`` as argv[1]) under another Keras backend; its last stdout line is JSON."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", script, str(folder)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    return report


def load_script(name: str):
    """The module of ``scripts/<name>.py`` (scripts are no package), imported once per test session."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
