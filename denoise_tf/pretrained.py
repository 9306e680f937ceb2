"""Weights trained by this project's own ``train`` and shipped inside the package.

``denoise_tf/weights/registry.json`` maps a name (``dncnn-s25``, ``dncnn-b``...) to its file,
sha256, model config, training data, budget reached (epochs, patches seen, wall time,
hardware) and validation PSNR. :func:`load` checks the sha256 before building the model, so a
corrupted or truncated file gives a clear error instead of wrong outputs. The same
``.weights.h5`` file loads on the TensorFlow and the JAX backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import checksums

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
REGISTRY_FILE = WEIGHTS_DIR / "registry.json"


def registry() -> dict:
    """All shipped weights: ``{name: entry}`` (see the module docstring for the fields)."""
    if not REGISTRY_FILE.is_file():
        return {}
    return json.loads(REGISTRY_FILE.read_text())


def available() -> list[str]:
    """Names of the shipped weights."""
    return sorted(registry())


def entry(name: str) -> dict:
    """The registry entry of ``name``; ValueError listing the shipped names if unknown."""
    entries = registry()
    if name not in entries:
        raise ValueError(f"no shipped weights named {name!r}: expected one of {sorted(entries) or '(none shipped yet)'}")
    return entries[name]


def logs_dir() -> Path:
    """Where the training logs of the shipped weights are: ``logs/<run>/log.csv`` beside the registry."""
    return REGISTRY_FILE.parent / "logs"


def training_runs(name: str) -> list[str]:
    """The training runs of shipped weights, first stage first (from its config name if it has no stages)."""
    info = entry(name)
    stages = [stage["run"] for stage in info.get("stages") or []]
    return stages or [Path(info["config"]).stem]


def training_logs(name: str) -> list[Path]:
    """Folders holding the ``log.csv`` of each training run of shipped weights (what
    :func:`denoise_tf.plots.training_curves` draws), first stage first; runs without a shipped log
    are left out."""
    return [logs_dir() / run for run in training_runs(name) if (logs_dir() / run / "log.csv").is_file()]


def ship_logs(runs_dir: str | os.PathLike, name: str) -> list[Path]:
    """Copy the ``log.csv`` of each training run of ``name`` from ``runs_dir/<run>/`` into the package."""
    import shutil

    copied = []
    for run in training_runs(name):
        source, target = Path(runs_dir) / run / "log.csv", logs_dir() / run / "log.csv"
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied.append(target)
    return copied


def channels(name: str) -> int:
    """Image channels of shipped weights ``name``: 1 gray, 3 colour (:func:`entry_channels`)."""
    return entry_channels(entry(name))


def entry_channels(info: dict) -> int:
    """Image channels of a registry entry or run config (``model``, ``model_options``): 1 or 3.

    Its ``model_options["channels"]``, else the default of the model's builder (``dncnn``: 1,
    ``dncnn_opponent``: 3).
    """
    options = info.get("model_options") or {}
    if "channels" in options:
        return int(options["channels"])
    from . import models

    default = models.default_option(info["model"], "channels") if info.get("model") in models.available() else None
    return 1 if default is None else int(default)


def load(name: str):
    """Build the model of shipped weights ``name`` and load them (sha256 verified).

    Returns
    -------
    keras.Model
        Not compiled; inputs and outputs float32 in [0, 1], NHWC.

    Raises
    ------
    ValueError
        Unknown name, or the file's sha256 differs from the registry (corrupt or truncated).
    FileNotFoundError
        The weights file is missing from the installation.
    """
    from . import models

    info = entry(name)
    path = WEIGHTS_DIR / info["file"]
    if not path.is_file():
        raise FileNotFoundError(f"weights file of {name!r} missing: {path}")
    actual = checksums.sha256(path)
    if actual != info["sha256"]:
        raise ValueError(
            f"weights file {path} is corrupt or truncated: sha256 {actual[:16]}... expected {info['sha256'][:16]}... "
            "(reinstall the package or re-download the file)"
        )
    model = models.build(info["model"], **info.get("model_options", {}))
    model.load_weights(str(path))
    return model


def run_devices(summary: dict) -> list[str]:
    """The devices every session of a run (its ``summary.json``) trained on, sorted."""
    return sorted({d for s in summary.get("sessions", []) for d in (s.get("hardware", {}).get("devices") or [])})


def _holdout_label(config: dict) -> str | None:
    """``"16 held-out pairs of sidd_iso_cbsd432"``: what a run without a ``val_data`` set validated on."""
    if not config.get("val_holdout"):
        return None
    source = Path(config["paired_data"]).name if config.get("paired_data") else config["train_data"]
    return f"{config['val_holdout']} held-out {'pairs' if config.get('paired_data') else 'images'} of {source}"


def _rate(config: dict) -> str:
    """A run's learning rates in words: ``1e-4`` or ``1e-3, 1e-4 from epoch 30``."""
    kind = config.get("lr_schedule", "step")
    if kind == "step":
        values, bounds = config.get("lr_values") or [config["learning_rate"]], config.get("lr_boundaries") or []
        parts = [f"{values[0]:g}"] + [f"{v:g} from epoch {e}" for v, e in zip(values[1:], bounds)]
        return ", ".join(parts)
    if kind == "constant":
        return f"{config['learning_rate']:g}"
    return f"{config['learning_rate']:g} ({kind})"


def _precision(config: dict, summary: dict) -> str:
    """The compute precision a run trained in: its sessions' (``/``-joined where they differ).

    A session records the precision it used (a CPU without bfloat16 instructions falls back to
    float32); runs from before that record give the configured one.
    """
    used = [(session.get("hardware") or {}).get("precision") for session in summary.get("sessions", [])]
    used = list(dict.fromkeys(p for p in used if p))
    return "/".join(used) if used else config.get("precision", "float32")


def training_stages(run_dir: str | os.PathLike) -> list[dict]:
    """How a run's best weights were trained, first stage first.

    A run started from another run folder (``init_weights``) continues that run's training, so its
    stages follow the source's: each stage gives the run, its epochs up to the best (or the
    epochs done for a source), steps per epoch, batch, learning rates, precision, devices and
    wall time.
    """
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    stages = []
    source = config.get("init_weights")
    if source and (Path(source) / "config.json").is_file() and Path(source).resolve() != run_dir.resolve():
        stages = training_stages(source)
    stages.append(
        {
            "run": run_dir.name,
            "epochs": summary.get("best_epoch") or summary.get("epochs_done"),
            "steps_per_epoch": config.get("steps_per_epoch"),
            "batch_size": config.get("batch_size"),
            "learning_rate": _rate(config),
            "precision": _precision(config, summary),
            "hardware": run_devices(summary),
            "wall_time_s": summary.get("wall_time_s"),
        }
    )
    return stages


def describe_stages(stages: list[dict]) -> str:
    """``11 x 1600 steps of 128 at 1e-3 (gpu:H100, 22 min); then 12 x 25 steps ...``: one line."""
    parts = []
    for stage in stages:
        devices = ", ".join(d.split(":")[0] if d.startswith("CPU") else d for d in stage["hardware"]) or "unknown"
        precision = "" if stage["precision"] == "float32" else f", {stage['precision']}"
        parts.append(
            f"{stage['epochs']} x {stage['steps_per_epoch']} steps of {stage['batch_size']} at {stage['learning_rate']} "
            f"({devices}{precision}, {(stage['wall_time_s'] or 0) / 60:.0f} min)"
        )
    return "; then ".join(parts)


def ship(run_dir: str | os.PathLike, name: str, notes: str = "", status: str = "interim") -> dict:
    """Copy a run's best weights (without optimizer state) into the package and register them.

    Used by ``scripts/ship_weights.py``; the entry records the run's config and summary.
    ``status`` is ``"interim"`` while the run has not reached its targets, ``"final"`` after.
    """
    if status not in ("interim", "final"):
        raise ValueError(f"status must be 'interim' or 'final', got {status!r}")
    from .runs import load_run_model

    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    model = load_run_model(run_dir, "best")
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    target = WEIGHTS_DIR / f"{name}.weights.h5"
    tmp = target.with_name(f"tmp-{target.name}")
    model.save_weights(str(tmp))
    os.replace(tmp, target)
    devices = run_devices(summary)
    info = {
        "file": target.name,
        "sha256": checksums.sha256(target),
        "model": config["model"],
        "model_options": config.get("model_options", {}),
        "noise": config["noise"],
        "config": f"configs/{config['name']}.yaml",
        "train_data": (
            f"{Path(config['paired_data']).name} ({config.get('paired_layout', 'sidd')}-layout noisy/clean pairs)"
            if config.get("paired_data")
            else config["train_data"]
        ),
        "init_weights": config.get("init_weights"),
        "epochs": summary.get("best_epoch"),
        "epochs_done": summary.get("epochs_done"),
        "epochs_planned": config["epochs"],
        "patches_seen_at_best": (summary.get("best_epoch") or 0) * (config.get("steps_per_epoch") or 0) * config["batch_size"],
        "wall_time_s": summary.get("wall_time_s"),
        "hardware": devices,
        "backend": summary.get("hardware", {}).get("backend"),
        "val_data": config.get("val_data") or _holdout_label(config),
        "val_psnr": summary.get("best_val_psnr"),
        "status": status,
        "stages": training_stages(run_dir),
        "notes": notes,
    }
    entries = registry()
    entries[name] = info
    REGISTRY_FILE.write_text(json.dumps(dict(sorted(entries.items())), indent=2) + "\n")
    ship_logs(run_dir.parent, name)
    return info
