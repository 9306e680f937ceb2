"""Keras callbacks of the training loop: validation PSNR, last weights, epoch sync, run summary."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import keras
import numpy as np

from . import metrics


class ValidationPSNR(keras.callbacks.Callback):
    """Adds ``val_psnr`` (mean over full validation images, output clipped to [0, 1]) to the logs.

    ``pairs`` is a list of ``(inputs, clean)`` with batch axis 1 (see
    :func:`denoise_tf.pipeline.validation_pairs`); images of different sizes are run one by one.
    """

    def __init__(self, pairs):
        super().__init__()
        self.pairs = pairs

    def on_epoch_end(self, epoch, logs=None):
        scores = []
        for inputs, clean in self.pairs:
            output = np.asarray(self.model.predict_on_batch(inputs))
            scores.append(metrics.psnr(clean, np.clip(output, 0.0, 1.0)))
        if logs is not None:
            logs["val_psnr"] = float(np.mean(scores))


class SaveLast(keras.callbacks.Callback):
    """Saves the model weights at each epoch end, unless the loss is not finite."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            self.model.save_weights(self.path)


class EpochSync(keras.callbacks.Callback):
    """Sets the training dataset's epoch at each epoch start, so a resumed run continues its data order."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.epoch = epoch


class RunSummary(keras.callbacks.Callback):
    """Writes ``summary.json`` at each epoch end: epochs, patches seen, wall time, best val PSNR, hardware.

    Wall time accumulates across resumed sessions.
    """

    def __init__(self, run_dir, config):
        super().__init__()
        self.path = Path(run_dir) / "summary.json"
        self.config = config
        self.previous = json.loads(self.path.read_text()) if self.path.exists() else {}

    def on_train_begin(self, logs=None):
        from .train import hardware

        self.start = time.time()
        self.base_wall = float(self.previous.get("wall_time_s", 0.0))
        self.best = self.previous.get("best_val_psnr")
        self.best_epoch = self.previous.get("best_epoch")
        self.hardware = hardware()
        self.sessions = list(self.previous.get("sessions", []))
        self.sessions.append({"hardware": self.hardware, "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self.status = "running"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get("val_psnr")
        if value is not None and (self.best is None or value > self.best):
            self.best, self.best_epoch = float(value), epoch + 1
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.status = f"stopped: loss became {loss} at epoch {epoch + 1}; last.weights.h5 holds the last finite epoch"
        self.last_logs = dict(logs)
        self.write(epoch + 1, logs)

    def on_train_end(self, logs=None):
        if self.status == "running":
            self.status = "finished" if self.epochs_done >= self.config.epochs else "stopped early"
        self.write(self.epochs_done, self.last_logs)

    epochs_done = 0
    last_logs: dict = {}

    def write(self, epochs_done, logs):
        self.epochs_done = epochs_done
        self.sessions[-1]["epochs_reached"] = epochs_done
        wall = self.base_wall + time.time() - self.start
        steps = self.config.steps_per_epoch or 0
        summary = {
            "name": self.config.name,
            "model": self.config.model,
            "model_options": self.config.model_options,
            "noise": self.config.noise,
            "train_data": self.config.train_data,
            "epochs_done": epochs_done,
            "epochs_planned": self.config.epochs,
            "patches_seen": epochs_done * steps * self.config.batch_size,
            "wall_time_s": round(wall, 1),
            "best_val_psnr": self.best,
            "best_epoch": self.best_epoch,
            "val_data": self.config.val_data,
            "last_logs": {k: float(v) for k, v in logs.items() if isinstance(v, (int, float, np.floating))},
            "status": self.status,
            "hardware": self.hardware,
            "sessions": self.sessions,
        }
        self.path.write_text(json.dumps(summary, indent=2))


class TimeLimit(keras.callbacks.Callback):
    """Stops training at the first epoch end after ``minutes`` of wall time (the backup is then current)."""

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = minutes * 60.0

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if time.time() - self.start >= self.seconds:
            self.model.stop_training = True
