"""Training: one :class:`TrainConfig` per experiment, ``train(config)`` -> history and run folder.

A run folder (``output_dir/name``) holds ``config.json`` (the resolved config), ``log.csv``,
``best.weights.h5`` (best validation PSNR), ``last.weights.h5``, ``backup/`` (weights, optimizer
state and epoch, for ``resume``) and ``summary.json`` (epochs, wall time, best validation PSNR,
hardware). An existing run folder is only continued with ``resume=True``, never overwritten.

Residual models (DnCNN) output ``noisy - predicted_noise``, so the MSE on the output image is
the DnCNN loss on the noise; direct models (FFDNet, the small CNNs) learn the image.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCHEDULES = ("constant", "step", "exponential", "plateau")
PATCH_MODES = ("grid", "random", "crop")
#: Seed of the shuffle that picks held-out images (fixed: runs with other seeds hold out the same ones).
HOLDOUT_SEED = 0
#: Config keys a resumed run may change (how it runs, not what it learns).
RESUMABLE_CHANGES = ("epochs", "tiny", "workers", "output_dir", "data_root", "backup_every", "tensorboard")


@dataclass
class TrainConfig:
    """Everything that defines one training experiment.

    Images are float32 in [0, 1]; ``noise`` is a spec of :mod:`denoise_tf.noise`; learning-rate
    schedules: ``constant``; ``step`` (``lr_boundaries`` epochs, ``lr_values``: the DnCNN recipe
    1e-3 then 1e-4 from epoch 30); ``exponential`` (``lr * lr_decay ** epoch``: 0.95 is seed
    004's 5 % per epoch); ``plateau`` (reduce by ``lr_decay`` after ``lr_patience`` epochs
    without a better validation PSNR).

    Data: ``patch_mode`` ``grid`` / ``random`` cut clean patches once (:class:`PatchDataset`);
    ``crop`` crops fresh random windows of whole images for every batch
    (:class:`~denoise_tf.pipeline.CropPatchDataset`: large colour sets). ``val_holdout`` /
    ``test_holdout`` hold that many ``train_data`` images (or pairs) out of training, picked by a
    fixed seeded shuffle (:func:`holdout_split`); the validation images are then the held-out
    ones (``val_data`` must be null) and the names go to the run folder's ``holdout.json``.
    ``paired_data`` (a folder, or a folder name under the data root) trains on real noisy/clean
    pairs in ``paired_layout`` (``sidd`` / ``div2k``, see :func:`denoise_tf.datasets.load_pairs`)
    with :class:`~denoise_tf.pipeline.PairedPatchDataset`; ``train_data`` and ``noise`` are then
    unused, ``paired_noise`` is optional extra synthetic noise on the noisy crops, and
    validation uses held-out pairs (``val_holdout``).
    """

    name: str = "run"
    model: str = "dncnn"
    model_options: dict = field(default_factory=dict)
    noise: str = "gaussian:sigma=25"
    train_data: str = "train400"
    train_limit: int | None = None
    val_data: str | None = "train400_val"
    val_limit: int | None = 8
    val_crop: int | None = None
    color: bool = False
    patch_size: int = 40
    patch_mode: str = "grid"
    patch_stride: int = 10
    patch_scales: list = field(default_factory=lambda: [1.0, 0.9, 0.8, 0.7])
    random_patches: int = 0
    augment: bool = True
    batch_size: int = 128
    epochs: int = 50
    steps_per_epoch: int | None = 1600
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "step"
    lr_boundaries: list = field(default_factory=lambda: [30])
    lr_values: list = field(default_factory=lambda: [1e-3, 1e-4])
    lr_decay: float = 0.95
    lr_patience: int = 3
    early_stopping: int | None = None
    loss: str = "mse"
    seed: int = 0
    workers: int = 1
    backup_every: int | str = "epoch"
    output_dir: str = "runs"
    data_root: str | None = None
    tensorboard: bool = True
    tiny: dict = field(default_factory=dict)
    # Added for the write-up recipes (defaults keep the earlier behaviour).
    val_holdout: int = 0
    test_holdout: int = 0
    paired_data: str | None = None
    paired_layout: str = "sidd"
    paired_noise: str | None = None

    # ---------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from a dict, rejecting unknown keys and wrong types (naming the key)."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}: expected some of {sorted(known)}")
        config = cls(**values)
        config.validate()
        return config

    @classmethod
    def load(cls, path: str | os.PathLike, tiny: bool = False, overrides: list[str] | None = None) -> "TrainConfig":
        """Load a YAML or JSON config; ``tiny`` applies its ``tiny`` section; ``overrides`` are ``key=value``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        text = path.read_text()
        if path.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text) or {}
        if not isinstance(values, dict):
            raise ValueError(f"config {path} must hold a mapping of keys to values")
        values.setdefault("name", path.stem)
        if tiny:
            values = apply_overrides(values, values.get("tiny") or {})
            values["name"] = values["name"] + "-tiny"
        for item in overrides or []:
            key, eq, raw = item.partition("=")
            if not eq:
                raise ValueError(f"override must be key=value, got {item!r}")
            import yaml

            values = apply_overrides(values, {key.strip(): yaml.safe_load(raw)})
        return cls.from_dict(values)

    def validate(self) -> None:
        """Check types and values; raises ValueError/TypeError naming the key."""
        hints = {f.name: f.type for f in dataclasses.fields(self)}
        for key, hint in hints.items():
            value = getattr(self, key)
            expected = _expected_types(hint)
            if value is None and type(None) in expected:
                continue
            if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
                raise TypeError(f"config key {key!r} expects {hint}, got {value!r} ({type(value).__name__})")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"config key 'lr_schedule' must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if self.patch_mode not in PATCH_MODES:
            raise ValueError(f"config key 'patch_mode' must be one of {PATCH_MODES}, got {self.patch_mode!r}")
        for key in ("batch_size", "epochs", "patch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"config key {key!r} must be >= 1, got {getattr(self, key)}")
        if self.learning_rate <= 0:
            raise ValueError(f"config key 'learning_rate' must be > 0, got {self.learning_rate}")
        for key in ("val_holdout", "test_holdout"):
            if getattr(self, key) < 0:
                raise ValueError(f"config key {key!r} must be >= 0, got {getattr(self, key)}")
        if self.val_holdout and self.val_data:
            raise ValueError(
                f"config keys 'val_holdout' ({self.val_holdout}) and 'val_data' ({self.val_data!r}) both name "
                "validation images: set val_data: null to validate on the held-out images"
            )
        if self.paired_layout not in ("sidd", "div2k"):
            raise ValueError(f"config key 'paired_layout' must be 'sidd' or 'div2k', got {self.paired_layout!r}")
        if self.paired_data and self.val_data:
            raise ValueError(
                "config key 'val_data' must be null with 'paired_data': paired runs validate on held-out "
                "pairs (val_holdout)"
            )
        from . import noise

        noise.parse(self.noise)
        if self.paired_noise is not None:
            noise.parse(self.paired_noise)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


def _expected_types(hint) -> tuple:
    names = {"int": int, "float": (int, float), "str": str, "bool": bool, "dict": dict, "list": list, "None": type(None)}
    out = []
    for part in str(hint).replace(" ", "").split("|"):
        kind = names.get(part, object)
        out.extend(kind if isinstance(kind, tuple) else (kind,))
    return tuple(out)


def apply_overrides(values: dict, overrides: dict) -> dict:
    """Merge ``overrides`` into ``values``; dict values (``model_options``) merge key by key.

    Dotted keys (``model_options.depth``) set one nested key.
    """
    merged = dict(values)
    for key, value in overrides.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            merged[outer] = apply_overrides(dict(merged.get(outer) or {}), {inner: value})
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


# -------------------------------------------------------------------------------------------
# Schedules and callbacks


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate of ``epoch`` (0-based) for the non-adaptive schedules."""
    if config.lr_schedule == "step":
        values = config.lr_values or [config.learning_rate]
        index = sum(epoch >= b for b in config.lr_boundaries)
        return float(values[min(index, len(values) - 1)])
    if config.lr_schedule == "exponential":
        return float(config.learning_rate * config.lr_decay**epoch)
    return float(config.learning_rate)


def _callbacks(config, run_dir, val_pairs, dataset, resume):
    import keras

    from .callbacks import EpochSync, RunSummary, SaveLast, ValidationPSNR

    callbacks = [ValidationPSNR(val_pairs)] if val_pairs else []
    monitor = "val_psnr" if val_pairs else "loss"
    mode = "max" if val_pairs else "min"
    # A resumed run only replaces best.weights.h5 when it beats the best of earlier sessions.
    summary = run_dir / "summary.json"
    best_so_far = json.loads(summary.read_text()).get("best_val_psnr") if resume and summary.exists() and val_pairs else None
    callbacks += [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.weights.h5"),
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=best_so_far,
        ),
        SaveLast(run_dir / "last.weights.h5"),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=resume),
        keras.callbacks.BackupAndRestore(
            str(run_dir / "backup"), save_freq=config.backup_every, delete_checkpoint=False
        ),
        EpochSync(dataset),
    ]
    if config.lr_schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=config.lr_decay, patience=config.lr_patience)
        )
    elif config.lr_schedule != "constant":
        callbacks.append(keras.callbacks.LearningRateScheduler(lambda epoch, lr: learning_rate_at(config, epoch)))
    if config.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.early_stopping, restore_best_weights=False)
        )
    if config.tensorboard and keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False))
    callbacks.append(RunSummary(run_dir, config))
    return callbacks


# -------------------------------------------------------------------------------------------
# Data


def holdout_split(items, val: int, test: int = 0, seed: int = HOLDOUT_SEED) -> tuple[list, list, list]:
    """Split ``items`` into ``(train, val, test)``: ``val`` + ``test`` items picked by a seeded shuffle.

    Each part keeps the input order; the same ``len(items)``, counts and seed give the same parts.
    """
    n = len(items)
    if val + test >= n:
        raise ValueError(f"cannot hold out {val} + {test} of {n} items: nothing would be left to train on")
    order = np.random.default_rng(seed).permutation(n)
    val_index, test_index = sorted(order[:val]), sorted(order[val : val + test])
    held = set(order[: val + test].tolist())
    return [items[i] for i in range(n) if i not in held], [items[i] for i in val_index], [items[i] for i in test_index]


def _uses_holdout(config: TrainConfig) -> bool:
    return bool(config.val_holdout or config.test_holdout)


def set_files(name: str, data_root=None) -> list:
    """Image files of a named set or folder, in the order :func:`denoise_tf.datasets.load` reads them."""
    from . import datasets

    files = datasets.list_images(datasets.resolve(name, data_root))
    key = str(name).lower()
    if key in datasets.NAMED_SETS and "files" in datasets.NAMED_SETS[key]:
        wanted = set(datasets.NAMED_SETS[key]["files"])
        files = [f for f in files if f.name in wanted]
    if not files:
        raise FileNotFoundError(f"no image files in {name!r}")
    return files


def holdout_files(config: TrainConfig) -> tuple[list, list, list]:
    """``(train, val, test)`` files of ``train_data`` under the config's ``val_holdout`` / ``test_holdout``."""
    return holdout_split(set_files(config.train_data, config.data_root), config.val_holdout, config.test_holdout)


def load_training_images(config: TrainConfig) -> list:
    """Clean training images of the config (without held-out ones), float32 ``(H, W, C)``."""
    from . import datasets

    if not _uses_holdout(config):
        images, _ = datasets.load(config.train_data, color=config.color, limit=config.train_limit, data_root=config.data_root)
        return images
    files = holdout_files(config)[0][: config.train_limit]
    return [datasets.read_image(f, config.color) for f in files]


def load_training_patches(config: TrainConfig) -> np.ndarray:
    """Clean training patches ``(N, P, P, C)`` of the config's data (``grid`` / ``random`` patch modes)."""
    from . import pipeline

    if config.patch_mode == "crop":
        raise ValueError("patch_mode 'crop' cuts no patches in advance: use load_training_images")
    images = load_training_images(config)
    if config.patch_mode == "grid":
        return pipeline.grid_patches(images, config.patch_size, config.patch_stride, config.patch_scales)
    count = config.random_patches or config.batch_size * (config.steps_per_epoch or 1)
    return pipeline.random_patches(images, config.patch_size, count, seed=config.seed)


def load_validation(config: TrainConfig, with_level: bool):
    from . import datasets, pipeline

    if config.val_holdout:
        files = holdout_files(config)[1][: config.val_limit]
        images = [datasets.read_image(f, config.color) for f in files]
    elif not config.val_data:
        return []
    else:
        images, _ = datasets.load(config.val_data, color=config.color, limit=config.val_limit, data_root=config.data_root)
    if config.val_crop:
        c = config.val_crop
        images = [im[:c, :c] for im in images]
    return pipeline.validation_pairs(images, config.noise, seed=10_000 + config.seed, with_level=with_level)


def paired_root(config: TrainConfig):
    """Folder of ``paired_data``: an existing path, else a folder of that name under the data root."""
    from . import datasets

    path = Path(config.paired_data).expanduser()
    if path.is_dir() or path.is_absolute():
        return path
    return datasets.data_root(config.data_root) / config.paired_data


def load_paired(config: TrainConfig):
    """Real noisy/clean pairs of ``paired_data``: ``(train_noisy, train_clean, val_pairs, holdout_names)``.

    Images are kept as ``uint8`` when that is lossless (:func:`denoise_tf.pipeline.compact_image`);
    ``val_pairs`` are ``(noisy, clean)`` with batch axis 1, cropped to ``val_crop``.
    """
    from . import datasets, pipeline

    found = datasets.find_pairs(paired_root(config), config.paired_layout)
    train_items, val_items, test_items = holdout_split(found, config.val_holdout, config.test_holdout)

    def read(items):
        noisy, clean = [], []
        for noisy_file, clean_file, name in items:
            a, b = datasets.read_image(noisy_file, config.color), datasets.read_image(clean_file, config.color)
            if a.shape != b.shape:
                raise ValueError(f"size mismatch in pair {name!r}: noisy {a.shape}, clean {b.shape}")
            noisy.append(pipeline.compact_image(a))
            clean.append(pipeline.compact_image(b))
        return noisy, clean

    train_noisy, train_clean = read(train_items[: config.train_limit])
    val_noisy, val_clean = read(val_items[: config.val_limit])
    val_pairs = pipeline.paired_validation_pairs(val_noisy, val_clean, crop=config.val_crop)
    names = {"val": [t[2] for t in val_items], "test": [t[2] for t in test_items]}
    return train_noisy, train_clean, val_pairs, names


def _holdout_names(config: TrainConfig) -> dict:
    _, val, test = holdout_files(config)
    return {"val": [f.name for f in val], "test": [f.name for f in test]}


def hardware() -> dict:
    """Backend, devices and host: written into each run's summary."""
    import keras

    import sys

    info = {"backend": keras.backend.backend(), "keras": keras.__version__, "tensorflow_imported": "tensorflow" in sys.modules, "python": platform.python_version(), "host_cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    try:
        if info["backend"] == "jax":
            import jax

            info["devices"] = [f"{d.platform}:{getattr(d, 'device_kind', '')}" for d in jax.devices()]
        elif info["backend"] == "tensorflow":
            import tensorflow as tf

            info["devices"] = [d.device_type for d in tf.config.list_physical_devices()]
    except Exception as error:  # hardware info is informative only
        info["devices"] = f"unknown ({error})"
    return info


# -------------------------------------------------------------------------------------------
# Entry point


def train(config: TrainConfig, resume: bool = False, verbose: int | str = "auto", max_minutes: float | None = None):
    """Train ``config`` and return ``(history, run_dir)``.

    ``resume=True`` continues the run folder from its backup (finished epochs are not
    repeated; the data order and noise continue where they stopped). Without ``resume`` an
    existing run folder raises ``FileExistsError``. ``max_minutes`` stops at the first epoch end
    after that much wall time (a later ``resume`` continues).
    """
    import keras

    from . import models, pipeline

    config.validate()
    run_dir = config.run_dir
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise FileExistsError(f"run folder {run_dir} exists: pass resume=True (--resume) to continue it, or choose another name")
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = run_dir / "config.json"
    if resume and saved.exists():
        previous = json.loads(saved.read_text())
        changed = {k for k in previous if k not in RESUMABLE_CHANGES and previous.get(k) != config.to_dict().get(k)}
        if changed:
            raise ValueError(f"cannot resume {run_dir}: config differs from the saved one in {sorted(changed)}")
    saved.write_text(json.dumps(config.to_dict(), indent=2))

    keras.utils.set_random_seed(config.seed)
    model = models.build(config.model, **config.model_options)
    with_level = len(model.inputs) == 2
    start_epoch = _backup_epoch(run_dir) if resume else 0
    if config.paired_data:
        if with_level:
            raise ValueError(f"model {config.model!r} takes a noise level, which real noisy/clean pairs do not give")
        train_noisy, train_clean, val_pairs, names = load_paired(config)
        (run_dir / "holdout.json").write_text(json.dumps(names, indent=2))
        dataset = pipeline.PairedPatchDataset(
            train_noisy,
            train_clean,
            patch_size=config.patch_size,
            batch_size=config.batch_size,
            steps_per_epoch=config.steps_per_epoch,
            seed=config.seed,
            augment=config.augment,
            noise=config.paired_noise,
            epoch=start_epoch,
            workers=config.workers,
        )
    else:
        if _uses_holdout(config):
            (run_dir / "holdout.json").write_text(json.dumps(_holdout_names(config), indent=2))
        if config.patch_mode == "crop":
            dataset_class, source, extra = pipeline.CropPatchDataset, load_training_images(config), {"patch_size": config.patch_size}
        else:
            dataset_class, source, extra = pipeline.PatchDataset, load_training_patches(config), {}
        dataset = dataset_class(
            source,
            config.noise,
            batch_size=config.batch_size,
            steps_per_epoch=config.steps_per_epoch,
            seed=config.seed,
            augment=config.augment,
            with_level=with_level,
            epoch=start_epoch,
            workers=config.workers,
            **extra,
        )
        val_pairs = load_validation(config, with_level)
    optimizer = keras.optimizers.get({"class_name": config.optimizer, "config": {"learning_rate": learning_rate_at(config, start_epoch)}})
    model.compile(optimizer=optimizer, loss=config.loss)
    callbacks = _callbacks(config, run_dir, val_pairs, dataset, resume)
    if max_minutes:
        from .callbacks import TimeLimit

        callbacks.insert(0, TimeLimit(max_minutes))
    history = model.fit(dataset, epochs=config.epochs, callbacks=callbacks, verbose=verbose)
    return history, run_dir


def _backup_epoch(run_dir: Path) -> int:
    meta = run_dir / "backup" / "training_metadata.json"
    if meta.exists():
        return int(json.loads(meta.read_text()).get("epoch", 0))
    return 0


def load_run_model(run_dir: str | os.PathLike, which: str = "best"):
    """Build a run's model from its ``config.json`` and load ``best`` / ``last`` weights (or ``backup``).

    Optimizer state stored beside the weights is ignored; the returned model is not compiled.
    """
    import keras

    from . import models

    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"not a run folder (no config.json): {run_dir}")
    config = json.loads(config_path.read_text())
    files = {"best": "best.weights.h5", "last": "last.weights.h5", "backup": "backup/latest.weights.h5"}
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
    """Rewrite a run's weights file without optimizer state (about a third of the size)."""
    run_dir = Path(run_dir)
    model = load_run_model(run_dir, which)
    target = run_dir / ("best.weights.h5" if which == "best" else "last.weights.h5")
    tmp = target.with_name("tmp-" + target.name)
    model.save_weights(str(tmp))
    os.replace(tmp, target)
    return target
