"""Keras callbacks of the training loop: validation PSNR, NaN stop, best / last weights, verified
backups, epoch sync, run summary."""

from __future__ import annotations

import math
import time
from pathlib import Path

import keras
import numpy as np

from . import hardware, metrics, runs


class ValidationPSNR(keras.callbacks.Callback):
    """Adds ``val_psnr`` (mean over full validation images, output clipped to [0, 1]) to the logs.

    ``pairs`` is a list of ``(inputs, clean)`` with batch axis 1 (see
    :func:`denoise_tf.pipeline.validation_pairs`); images of different sizes are run one by one.
    """

    def __init__(self, pairs, replicas: int = 1):
        super().__init__()
        self.pairs = pairs
        self.replicas = replicas

    def on_epoch_end(self, epoch, logs=None):
        scores = []
        for inputs, clean in self.pairs:
            output = predict(self.model, inputs, self.replicas)
            if not np.all(np.isfinite(output)):  # non-finite weights: no score (training stops)
                scores.append(float("nan"))
                continue
            scores.append(metrics.psnr(clean, np.clip(output, 0.0, 1.0)))
        if logs is not None:
            logs["val_psnr"] = float(np.mean(scores))


def predict(model, inputs, replicas: int = 1) -> np.ndarray:
    """``model.predict_on_batch(inputs)`` as NumPy; on a data-parallel model (``replicas`` > 1)
    the batch is padded to a multiple of the device count and the padding dropped again."""
    from .distribute import pad_batch

    padded, n = pad_batch(inputs, replicas)
    return np.asarray(model.predict_on_batch(padded))[:n]


def sample_grid(rows, size: int = 128, gap: int = 2) -> np.ndarray:
    """One image of ``rows`` (each a list of ``(H, W, C)`` images in [0, 1]) side by side.

    Every image is cropped to its top-left ``size x size`` (or the smallest image's size), gray
    images are shown as RGB when any image is colour; ``gap`` white pixels between cells.
    """
    cells = [np.asarray(im, dtype=np.float32) for row in rows for im in row]
    h = min(size, *(c.shape[0] for c in cells))
    w = min(size, *(c.shape[1] for c in cells))
    channels = max(c.shape[-1] for c in cells)
    n_rows, n_cols = len(rows), max(len(row) for row in rows)
    grid = np.ones((n_rows * (h + gap) - gap, n_cols * (w + gap) - gap, channels), np.float32)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            cell = np.clip(np.asarray(image, np.float32)[:h, :w], 0.0, 1.0)
            if cell.shape[-1] != channels:
                cell = np.repeat(cell, channels, axis=-1)
            grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = cell
    return grid


class ImageSamples(keras.callbacks.Callback):
    """At each epoch end, a grid of a few validation images: noisy | denoised | clean, one row each.

    With the TensorFlow backend the grid goes to TensorBoard (``tf.summary.image`` named
    ``val_samples`` under ``log_dir/samples``); on other backends (JAX, possibly without
    TensorFlow) it is written as ``png_dir/epoch_NNN.png`` instead. ``pairs`` are validation pairs
    as :class:`ValidationPSNR` takes them; the first ``count`` are shown, cropped to ``size``.
    """

    def __init__(self, pairs, log_dir, png_dir, count: int = 3, size: int = 128, replicas: int = 1):
        super().__init__()
        self.pairs = list(pairs)[:count]
        self.log_dir = Path(log_dir) / "samples"
        self.png_dir = Path(png_dir)
        self.size = size
        self.replicas = replicas
        self.writer = None

    def grid(self) -> np.ndarray:
        rows = []
        for inputs, clean in self.pairs:
            noisy = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
            output = predict(self.model, inputs, self.replicas)
            rows.append([noisy[0], output[0], clean[0]])
        return sample_grid(rows, self.size)

    def on_epoch_end(self, epoch, logs=None):
        if not self.pairs:
            return
        grid = self.grid()
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            if self.writer is None:
                self.writer = tf.summary.create_file_writer(str(self.log_dir))
            with self.writer.as_default():
                tf.summary.image("val_samples", grid[None], step=epoch, description="noisy | denoised | clean")
            self.writer.flush()
        else:
            import cv2

            self.png_dir.mkdir(parents=True, exist_ok=True)
            image = np.rint(grid * 255.0).astype(np.uint8)
            image = image[..., ::-1] if image.shape[-1] == 3 else image[..., 0]
            cv2.imwrite(str(self.png_dir / f"epoch_{epoch + 1:03d}.png"), image)

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def weights_finite(model, optimizer: bool = False) -> bool:
    """Whether every weight of ``model`` (and of its optimizer with ``optimizer``) is finite."""
    values = list(model.get_weights())
    if optimizer and getattr(model, "optimizer", None) is not None:
        values += [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    return all(np.all(np.isfinite(v)) for v in values if np.issubdtype(np.asarray(v).dtype, np.floating))


def _finite(value) -> bool:
    """True for None and finite numbers (a log value that is not a number counts as finite)."""
    if value is None:
        return True
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """Stops training at the first non-finite batch loss, or at an epoch end with non-finite weights.

    Keras' ``TerminateOnNaN`` (which stops at a NaN or inf batch loss) plus a check of the
    weights at each epoch end: a last update can make the weights NaN while the epoch's loss is
    still finite. ``reason`` says what happened (None while training is healthy); the end of
    training warns with it. The savers (:class:`SaveBest`, :class:`SaveLast`, :class:`Backup`)
    check the weights themselves, so whatever the callback order no non-finite weights are saved.
    """

    def __init__(self):
        super().__init__()
        self.reason = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if self.reason is None and not _finite(loss):
            self.reason = f"the loss became {float(loss)} at batch {batch + 1} of epoch {self.epoch + 1}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.reason is None and not (_finite((logs or {}).get("loss")) and weights_finite(self.model)):
            self.reason = f"the weights became non-finite (NaN or inf) in epoch {epoch + 1}"
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.reason:
            import warnings

            warnings.warn(
                f"training stopped: {self.reason}. Nothing of that epoch was saved: best.weights.h5, "
                "last.weights.h5 and the backup keep the last epoch with finite weights (try a lower learning_rate)",
                RuntimeWarning,
                stacklevel=2,
            )


class SaveBest(keras.callbacks.Callback):
    """Saves the weights (atomically) when ``monitor`` beats its best so far, if the weights are finite.

    ``mode`` ``max`` (``val_psnr``) or ``min`` (``loss``); ``best`` is the value to beat (a
    resumed run's best of earlier sessions; None saves the first finite value).
    """

    def __init__(self, path, monitor: str = "val_psnr", mode: str = "max", best: float | None = None):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.path, self.monitor, self.mode, self.best = Path(path), monitor, mode, best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None or not _finite(value) or not _finite(logs.get("loss")):
            return
        value = float(value)
        if self.best is not None and not (value > self.best if self.mode == "max" else value < self.best):
            return
        if weights_finite(self.model):
            runs.save_weights(self.model, self.path)
            self.best = value


class SaveLast(keras.callbacks.Callback):
    """Saves the model weights (atomically) at each epoch end, unless the loss or a weight is not finite."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def on_epoch_end(self, epoch, logs=None):
        if _finite((logs or {}).get("loss")) and weights_finite(self.model):
            runs.save_weights(self.model, self.path)


class Backup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` with verified backups; also backs up at every epoch end when it saves every N batches.

    Keras' callback with an integer ``save_freq`` never saves at the end of an epoch, so its last
    backup still names the epoch in progress and a resume repeats that epoch's steps. Backups
    are written by :func:`denoise_tf.runs.write_backup` (atomic files and a sha256 manifest;
    the backup before is kept when ``double_checkpoint``), and never with a non-finite loss or
    non-finite weights or optimizer state: the backup then stays at the last healthy point.
    """

    def on_train_batch_end(self, batch, logs=None):
        if _finite((logs or {}).get("loss")):
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if _finite((logs or {}).get("loss")):
            self._save_model()
            self._batches_seen_since_last_saving = 0

    def _save_model(self):
        if not weights_finite(self.model, optimizer=True):
            return
        runs.write_backup(
            self.model, self.backup_dir, self._current_epoch, self._last_batch_seen, keep_previous=self.double_checkpoint
        )


class EpochSync(keras.callbacks.Callback):
    """Sets the training dataset's epoch at each epoch start, so a resumed run continues its data order."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.epoch = epoch


class RunSummary(keras.callbacks.Callback):
    """Writes ``summary.json`` (atomically) at each epoch end: epochs, patches seen, wall time, best val PSNR, hardware.

    Wall time accumulates across resumed sessions. ``previous`` is the summary a resumed run
    continues (default: read from the run folder with :func:`denoise_tf.runs.read_summary`,
    which rebuilds an unreadable one from ``log.csv``); ``start_epoch`` the epochs its backup
    holds. An epoch with a non-finite loss is not counted: ``epochs_done`` stays at the last
    epoch whose weights were saved, and ``status`` says why training stopped.
    """

    def __init__(
        self, run_dir, config, placement: dict | None = None, previous: dict | None = None, start_epoch: int = 0
    ):
        super().__init__()
        self.path = Path(run_dir) / runs.SUMMARY
        self.config = config
        self.placement = placement or {"data_parallel": "single", "devices": [], "replicas": 1}
        self.previous = runs.read_summary(run_dir, start_epoch)[0] if previous is None else previous
        self.epochs_done = start_epoch
        self.last_logs = dict(self.previous.get("last_logs") or {}) if start_epoch else {}

    def on_train_begin(self, logs=None):
        self.start = time.time()
        self.base_wall = float(self.previous.get("wall_time_s", 0.0))
        self.best = self.previous.get("best_val_psnr")
        self.best_epoch = self.previous.get("best_epoch")
        self.hardware = hardware.describe()
        policy = getattr(self.model, "dtype_policy", None)
        self.hardware["precision"] = getattr(policy, "name", None) or "float32"
        self.sessions = list(self.previous.get("sessions", []))
        self.sessions.append(
            {"hardware": self.hardware, "placement": self.placement, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        )
        self.status = "running"

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss = logs.get("loss")
        if not (_finite(loss) and weights_finite(self.model)):
            kept = f"epoch {self.epochs_done}" if self.epochs_done else "nothing (no epoch had finite weights)"
            self.status = (
                f"stopped: epoch {epoch + 1} gave a non-finite loss or weights (loss {loss}); best.weights.h5, "
                f"last.weights.h5 and the backup keep {kept}"
            )
            self.write(self.epochs_done, self.last_logs)
            return
        value = logs.get("val_psnr")
        if value is not None and _finite(value) and (self.best is None or value > self.best):
            self.best, self.best_epoch = float(value), epoch + 1
        self.last_logs = dict(logs)
        self.write(epoch + 1, logs)

    def on_train_end(self, logs=None):
        if self.status == "running":
            self.status = "finished" if self.epochs_done >= self.config.epochs else "stopped early"
        self.write(self.epochs_done, self.last_logs)

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
            "pipeline": getattr(self.config, "pipeline", "numpy"),
            "epochs_done": epochs_done,
            "epochs_planned": self.config.epochs,
            "patches_seen": epochs_done * steps * self.config.batch_size,
            "wall_time_s": round(wall, 1),
            "best_val_psnr": self.best,
            "best_epoch": self.best_epoch,
            "val_data": self.config.val_data,
            "last_logs": {
                k: float(v) for k, v in logs.items() if isinstance(v, (int, float, np.floating)) and _finite(v)
            },
            "status": self.status,
            "hardware": self.hardware,
            "placement": self.placement,
            "sessions": self.sessions,
        }
        if self.previous.get("rebuilt"):
            summary["rebuilt"] = self.previous["rebuilt"]
        if getattr(self.config, "paired_data", None):
            summary["train_data"] = None
            summary["noise"] = None
            summary["paired_data"] = {
                "path": self.config.paired_data,
                "layout": self.config.paired_layout,
                "extra_noise": self.config.paired_noise,
                "val_holdout": self.config.val_holdout,
                "test_holdout": self.config.test_holdout,
            }
        runs.write_json(self.path, summary)


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
