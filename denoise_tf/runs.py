"""A run folder: where its files are, atomic writes, verified reads, backups.

A run folder ``output_dir/name`` (see :func:`denoise_tf.train.train`) holds:

=============================  ==============================================================
``config.json``                the resolved :class:`~denoise_tf.config.TrainConfig`
``log.csv``                    one row per finished epoch (``epoch``, ``loss``, ``val_psnr``...)
``summary.json``               epochs, wall time, best validation PSNR, hardware, sessions, status
``best.weights.h5``            the weights of the best validation PSNR (lowest loss without one)
``last.weights.h5``            the weights of the last finished epoch
``backup/latest.weights.h5``   weights and optimizer state of the last backup, for ``resume``
``backup/training_metadata.json``  ``{"epoch": finished epochs, "batch": ...}`` of that backup
``backup/latest.weights.h5.sha256``  checksums of both (``sha256sum -c`` reads it)
``backup/*.bkp``               the same three files of the backup before
=============================  ==============================================================

Every file is written atomically (a temporary file in the same folder, flushed to disk, then
``os.replace``), so a kill leaves the old file or the new one, never half a file. A backup is
written in the order weights, metadata, checksums: the checksum file is the commit mark, so a
backup cut short fails its checksum. :func:`plan_resume` only accepts a backup whose checksums
match (when it has a checksum file: backups written before checksums existed are read without)
and whose weights are all finite; otherwise it falls back to the backup before, or refuses
with a ``ValueError`` before anything in the folder is changed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checksums

CONFIG = "config.json"
LOG = "log.csv"
SUMMARY = "summary.json"
BEST = "best.weights.h5"
LAST = "last.weights.h5"
BACKUP = "backup"
BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"
#: Suffix of the backup before the latest one (Keras' ``double_checkpoint`` names).
PREVIOUS = ".bkp"
#: Suffix of a checksum file beside the weights it covers.
CHECKSUM = ".sha256"
#: Suffix given to a backup file that was refused on resume (kept for inspection).
REFUSED = ".refused"
#: Suffix given to an unreadable ``summary.json`` when it is rebuilt (kept for inspection).
DAMAGED = ".damaged"


# -------------------------------------------------------------------------------------------
# Names


def check_name(name: str) -> None:
    """Refuse run names that would leave ``output_dir``: path separators, ``.`` / ``..``, empty.

    Raises
    ------
    ValueError
        Naming the config key ``name`` and what is allowed.
    """
    separators = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if not name or name.strip() != name or name in (".", "..") or any(s in name for s in separators) or "\0" in name:
        raise ValueError(
            f"config key 'name' must be a plain folder name (no path separators, not '.' or '..', no leading or "
            f"trailing spaces), got {name!r}: the run folder is output_dir/name"
        )


# -------------------------------------------------------------------------------------------
# Atomic writes, verified reads


def _temporary(path: Path) -> Path:
    """A temporary name beside ``path`` that keeps its suffixes (Keras wants ``.weights.h5``)."""
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def _fsync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows)
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextmanager
def _replacing(path: Path):
    """Yield a temporary path beside ``path``; once the block has written it, fsync it and
    ``os.replace`` it onto ``path`` (on an error the temporary file is removed, ``path`` untouched)."""
    tmp = _temporary(path)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, ``os.replace``)."""
    path = Path(path)
    with _replacing(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, value) -> Path:
    """Write ``value`` as indented JSON atomically; refuses NaN / inf (not JSON)."""
    return write_text(path, json.dumps(value, indent=2, allow_nan=False) + "\n")


def copy_file(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy ``source`` to ``target`` atomically (the target is the old file or the full copy)."""
    target = Path(target)
    with _replacing(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def save_weights(model, path: str | os.PathLike) -> Path:
    """``model.save_weights`` to a temporary ``.weights.h5`` beside ``path``, then ``os.replace``."""
    path = Path(path)
    with _replacing(path) as tmp:
        model.save_weights(str(tmp))
    return path


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is not a JSON object (cut short, empty, another type); the message names it.
    """
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(value).__name__}")
    return value


# -------------------------------------------------------------------------------------------
# Checksums and weights files


def checksum_path(weights: str | os.PathLike) -> Path:
    """The checksum file of a weights file: ``<weights>.sha256``."""
    return Path(f"{weights}{CHECKSUM}")


def write_checksums(manifest: str | os.PathLike, files) -> Path:
    """Write a ``sha256sum`` manifest (``<hex>  <name>`` lines) of ``files`` (in its folder), atomically."""
    manifest = Path(manifest)
    lines = [f"{checksums.sha256(f)}  {Path(f).name}\n" for f in files]
    return write_text(manifest, "".join(lines))


def verify_checksums(manifest: str | os.PathLike, required=()) -> str | None:
    """Check a ``sha256sum`` manifest: ``None`` when every listed file matches, else why not.

    ``required`` are file names the manifest must list.
    """
    manifest = Path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return f"its checksum file {manifest.name} is unreadable ({error})"
    listed = {}
    for line in text.splitlines():
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            return f"its checksum file {manifest.name} is malformed"
        listed[name] = digest
    for name in required:
        if name not in listed:
            return f"its checksum file {manifest.name} does not list {name}"
    for name, digest in listed.items():
        path = manifest.parent / name
        if not path.is_file():
            return f"{name} (listed in {manifest.name}) is missing"
        if checksums.sha256(path) != digest:
            return f"{name} does not match its sha256 in {manifest.name} (changed or cut short after it was written)"
    return None


def check_weights_file(path: str | os.PathLike) -> str | None:
    """``None`` when ``path`` is a readable HDF5 weights file whose float arrays are all finite, else why not."""
    import h5py

    bad = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and np.issubdtype(item.dtype, np.floating):
            if not np.all(np.isfinite(item[()])):
                bad.append(name)
                return True  # stop at the first one
        return None

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(visit)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        return f"{Path(path).name} is not a readable weights file ({error})"
    if bad:
        return f"{Path(path).name} holds non-finite values (NaN or inf) in {bad[0]}"
    return None


# -------------------------------------------------------------------------------------------
# Backups


@dataclass(frozen=True)
class BackupFiles:
    """The three files of one backup: weights (with optimizer state), metadata and checksums."""

    weights: Path
    metadata: Path
    checksum: Path

    @classmethod
    def of(cls, backup_dir: str | os.PathLike, previous: bool = False) -> "BackupFiles":
        """The latest backup in ``backup_dir``, or the one before it (``previous``)."""
        suffix = PREVIOUS if previous else ""
        folder = Path(backup_dir)
        weights = folder / (BACKUP_WEIGHTS + suffix)
        return cls(weights, folder / (BACKUP_METADATA + suffix), checksum_path(weights))

    def exists(self) -> bool:
        return self.weights.exists() or self.metadata.exists()

    def files(self) -> tuple[Path, ...]:
        return (self.weights, self.metadata, self.checksum)


def check_backup(files: BackupFiles) -> tuple[int | None, str | None]:
    """``(epoch, None)`` for a usable backup, ``(None, reason)`` otherwise.

    Usable: weights and metadata present, the checksums match when a checksum file is present
    (backups written before checksums existed have none), the metadata names an epoch >= 0 and
    every float array of the weights file (optimizer state included) is finite.
    """
    if not files.weights.is_file():
        return None, f"{files.weights.name} is missing"
    if not files.metadata.is_file():
        return None, f"{files.metadata.name} is missing"
    if files.checksum.exists():
        reason = verify_checksums(files.checksum, required=(files.weights.name, files.metadata.name))
        if reason:
            return None, reason
    try:
        epoch = read_json(files.metadata).get("epoch")
    except (OSError, ValueError) as error:
        return None, str(error)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        return None, f"{files.metadata.name} names no epoch (got {epoch!r})"
    reason = check_weights_file(files.weights)
    if reason:
        return None, reason
    return epoch, None


def write_backup(
    model, backup_dir: str | os.PathLike, epoch: int, batch: int = 0, keep_previous: bool = True
) -> BackupFiles:
    """Back up ``model`` (weights and optimizer state) as having finished ``epoch`` epochs.

    With ``keep_previous`` the current backup, when it checks out, first becomes the ``.bkp``
    one. Order: weights, metadata, then the checksum file (the commit mark: a backup cut short
    anywhere before it fails its checksum and the one before is used).
    """
    folder = Path(backup_dir)
    folder.mkdir(parents=True, exist_ok=True)
    latest, previous = BackupFiles.of(folder), BackupFiles.of(folder, previous=True)
    if keep_previous and latest.weights.exists() and check_backup(latest)[1] is None:
        previous.checksum.unlink(missing_ok=True)  # the old mark goes first: a cut copy never checks out
        copy_file(latest.weights, previous.weights)
        copy_file(latest.metadata, previous.metadata)
        write_checksums(previous.checksum, (previous.weights, previous.metadata))
    save_weights(model, latest.weights)
    write_text(latest.metadata, json.dumps({"epoch": int(epoch), "batch": int(batch)}))
    write_checksums(latest.checksum, (latest.weights, latest.metadata))
    return latest


@dataclass(frozen=True)
class ResumePlan:
    """What resuming a run folder will do (read, nothing changed yet; see :func:`plan_resume`).

    ``epoch``: finished epochs training continues after; ``source``: ``"latest"``,
    ``"previous"`` (the latest backup is refused: ``refused`` says why) or ``None`` (no backup).
    """

    run_dir: Path
    epoch: int
    source: str | None
    refused: str | None = None


def plan_resume(run_dir: str | os.PathLike) -> ResumePlan:
    """Pick the backup a resume of ``run_dir`` continues from, changing nothing.

    Raises
    ------
    ValueError
        A backup exists but neither it nor the one before it checks out (see
        :func:`check_backup`); the folder is left as it is.
    """
    run_dir = Path(run_dir)
    folder = run_dir / BACKUP
    latest, previous = BackupFiles.of(folder), BackupFiles.of(folder, previous=True)
    if not latest.exists():
        if previous.exists():
            epoch, reason = check_backup(previous)
            if reason is None:
                return ResumePlan(run_dir, epoch, "previous", f"{latest.weights.name} is missing")
        return ResumePlan(run_dir, 0, None)
    epoch, reason = check_backup(latest)
    if reason is None:
        return ResumePlan(run_dir, epoch, "latest")
    if previous.exists():
        epoch, previous_reason = check_backup(previous)
        if previous_reason is None:
            return ResumePlan(run_dir, epoch, "previous", reason)
        earlier = f"the backup before it is refused too ({previous_reason})"
    else:
        earlier = "no earlier backup is kept"
    raise ValueError(
        f"cannot resume {run_dir}: its backup in {folder} is refused ({reason}) and {earlier}. Nothing was "
        f"changed; to train it again from epoch 0, move {folder} away and pass --resume"
    )


def apply_resume(plan: ResumePlan) -> None:
    """Make the planned backup the latest one: a refused latest backup is kept as ``*.refused``."""
    if plan.source != "previous":
        return
    folder = plan.run_dir / BACKUP
    latest, previous = BackupFiles.of(folder), BackupFiles.of(folder, previous=True)
    for path in latest.files():
        if path.exists():
            os.replace(path, Path(f"{path}{REFUSED}"))
    copy_file(previous.weights, latest.weights)
    copy_file(previous.metadata, latest.metadata)
    write_checksums(latest.checksum, (latest.weights, latest.metadata))


def backup_epoch(run_dir: str | os.PathLike) -> int:
    """Finished epochs of the backup a resume of ``run_dir`` would use (0 without one)."""
    return plan_resume(run_dir).epoch


def repair_backup(run_dir: str | os.PathLike) -> None:
    """Replace a refused latest backup by the one before (``plan_resume`` then ``apply_resume``)."""
    apply_resume(plan_resume(run_dir))


#: What a run that failed before its first epoch ended may leave in its folder.
STUB_ENTRIES = (CONFIG, "init_weights.json", "holdout.json", LOG, "tensorboard", BACKUP)


def has_trained(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds more than a run that failed before its first epoch ended leaves.

    Such a stub holds only :data:`STUB_ENTRIES`, with no backup file and no row in ``log.csv``;
    it can be started again. Anything else (weights, a backup, a logged epoch, a summary, a
    file of another kind) makes it a run folder that is only continued with ``resume``.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return False
    if any(entry.name not in STUB_ENTRIES for entry in run_dir.iterdir()):
        return True
    folder = run_dir / BACKUP
    if folder.is_dir() and any(folder.iterdir()):
        return True
    return bool(log_rows(run_dir / LOG))


# -------------------------------------------------------------------------------------------
# log.csv


def _complete_lines(text: str) -> list[str]:
    """Lines of ``text`` ending with a newline (a last line cut short by a kill is dropped)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]
    return lines


def log_rows(path: str | os.PathLike) -> list[dict]:
    """The complete rows of a ``log.csv`` as dicts of strings (missing file: no rows)."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = _complete_lines(path.read_text(encoding="utf-8", errors="replace"))
    if len(lines) < 2:
        return []
    reader = csv.reader(io.StringIO("".join(lines)))
    header = next(reader)
    return [dict(zip(header, row)) for row in reader if len(row) == len(header) and row[0].strip().isdigit()]


def trim_log(path: str | os.PathLike, epochs: int) -> None:
    """Keep the header and the rows of the first ``epochs`` epochs of a CSV log.

    A run killed after logging an epoch but before its backup repeats that epoch on resume; the
    rows it logged past the backup go, so ``log.csv`` lists every epoch once. A last line cut
    short (no newline: killed while writing) and rows that are not a full row of an epoch go
    too, so the next row starts on a line of its own. Rewritten atomically, only when it changes.
    """
    path = Path(path)
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = _complete_lines(text)
    if not lines:
        kept = []
    else:
        width = len(next(csv.reader([lines[0]])))
        kept = lines[:1]
        for line in lines[1:]:
            row = next(csv.reader([line]), [])
            if len(row) == width and row[0].strip().isdigit() and int(row[0]) < epochs:
                kept.append(line)
    if "".join(kept) != text:
        write_text(path, "".join(kept))


# -------------------------------------------------------------------------------------------
# summary.json


def summary_from_log(run_dir: str | os.PathLike, epochs: int) -> dict:
    """What ``log.csv`` tells of the first ``epochs`` epochs: best validation PSNR and its epoch.

    Used when ``summary.json`` is missing or unreadable; wall time and sessions are unknown.
    """
    best, best_epoch, last = None, None, {}
    for row in log_rows(Path(run_dir) / LOG):
        epoch = int(row["epoch"])
        if epoch >= epochs:
            continue
        values = {}
        for key, text in row.items():
            try:
                values[key] = float(text)
            except ValueError:
                continue
        values.pop("epoch", None)
        if all(math.isfinite(v) for v in values.values()):
            last = values
        value = values.get("val_psnr")
        if value is not None and math.isfinite(value) and (best is None or value > best):
            best, best_epoch = value, epoch + 1
    return {
        "epochs_done": epochs,
        "best_val_psnr": best,
        "best_epoch": best_epoch,
        "last_logs": last,
        "wall_time_s": 0.0,
        "sessions": [],
    }


def read_summary(run_dir: str | os.PathLike, epochs: int) -> tuple[dict, str | None]:
    """The summary a resume of ``run_dir`` continues: ``(summary, problem)``.

    ``summary.json`` when it reads as a JSON object (``problem`` None); when it is missing while
    epochs were trained, or unreadable, a summary rebuilt from ``log.csv`` (see
    :func:`summary_from_log`) and ``problem`` says why. A fresh run (``epochs`` 0, no file)
    gives ``({}, None)``.
    """
    path = Path(run_dir) / SUMMARY
    if not path.exists():
        if epochs == 0:
            return {}, None
        problem = f"{path} is missing"
    else:
        try:
            return read_json(path), None
        except (OSError, ValueError) as error:
            problem = str(error)
    summary = summary_from_log(run_dir, epochs)
    summary["rebuilt"] = f"{problem}: rebuilt from {LOG} (wall time and sessions before were lost)"
    return summary, problem


def keep_damaged_summary(run_dir: str | os.PathLike) -> None:
    """Move an unreadable ``summary.json`` to ``summary.json.damaged`` (it is then rebuilt)."""
    path = Path(run_dir) / SUMMARY
    if path.exists():
        os.replace(path, Path(f"{path}{DAMAGED}"))


# -------------------------------------------------------------------------------------------
# Weights of a run


def load_run_model(run_dir: str | os.PathLike, which: str = "best"):
    """Build a run's model from its ``config.json`` and load ``best`` / ``last`` weights (or ``backup``).

    Optimizer state stored beside the weights is ignored; the returned model is not compiled.
    """
    from . import models

    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"not a run folder (no config.json): {run_dir}")
    config = read_json(config_path)
    files = {"best": BEST, "last": LAST, "backup": f"{BACKUP}/{BACKUP_WEIGHTS}"}
    if which not in files:
        raise ValueError(f"which must be one of {sorted(files)}, got {which!r}")
    path = run_dir / files[which]
    if not path.is_file():
        raise FileNotFoundError(f"no {which} weights in {run_dir}: expected {path}")
    model = models.build(config["model"], **config.get("model_options", {}))
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*optimizer.*")
        model.load_weights(str(path))
    return model


def slim_weights(run_dir: str | os.PathLike, which: str = "best") -> Path:
    """Rewrite a run's weights file without optimizer state (about a third of the size), atomically."""
    run_dir = Path(run_dir)
    model = load_run_model(run_dir, which)
    return save_weights(model, run_dir / (BEST if which == "best" else LAST))
