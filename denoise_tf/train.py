"""Training: one :class:`TrainConfig` per experiment, ``train(config)`` -> history and run folder.

A run folder (``output_dir/name``, see :mod:`denoise_tf.runs`) holds ``config.json`` (the
resolved config), ``log.csv``, ``best.weights.h5`` (best validation PSNR), ``last.weights.h5``,
``backup/`` (weights, optimizer state and epoch, with checksums, for ``resume``) and
``summary.json`` (epochs, wall time, best validation PSNR, hardware). An existing run folder is
only continued with ``resume=True``, never overwritten; a resumed run gives the losses of an
uninterrupted one (every batch is a function of seed, epoch and index, in a fixed order).

Residual models (DnCNN) output ``noisy - predicted_noise``, so the MSE on the output image is
the DnCNN loss on the noise; direct models (FFDNet, the small CNNs) learn the image.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import runs

SCHEDULES = ("constant", "step", "exponential", "plateau")
PATCH_MODES = ("grid", "random", "crop")
PIPELINES = ("numpy", "tf")
PRECISIONS = ("float32", "mixed_bfloat16")
#: Config keys a resumed run may change (how it runs, not what it learns).
RESUMABLE_CHANGES = ("epochs", "tiny", "workers", "output_dir", "data_root", "backup_every", "tensorboard", "devices", "precision")

_PACKAGE_DIR = Path(__file__).resolve().parent
#: Where the recipes are: inside an installed package, then ``configs/`` of a source checkout.
CONFIG_DIRS = (_PACKAGE_DIR / "configs", _PACKAGE_DIR.parent / "configs")


def config_names() -> list[str]:
    """Names of the shipped recipes (``TrainConfig.load(name)`` loads one), sorted."""
    for folder in CONFIG_DIRS:
        if folder.is_dir():
            return sorted(p.stem for p in folder.glob("*.yaml"))
    return []


def config_path(name_or_path: str | os.PathLike) -> Path:
    """The file of a config: an existing path as it is, else a shipped recipe by name.

    Parameters
    ----------
    name_or_path : str or path-like
        A YAML/JSON file, or the name of a shipped recipe (``"dncnn_s25"``; ``.yaml`` optional).

    Returns
    -------
    Path
        The config file.

    Raises
    ------
    FileNotFoundError
        Neither a file nor a shipped recipe; the message lists the recipes.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.parent == Path(".") and path.suffix.lower() in ("", ".yaml"):
        for folder in CONFIG_DIRS:
            candidate = folder / f"{path.stem}.yaml"
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        f"config file not found: {name_or_path} (neither a file nor a shipped recipe; "
        f"recipes: {', '.join(config_names()) or 'none found'})"
    )


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

    ``pipeline``: ``numpy`` (default, TensorFlow-free ``PyDataset`` s) or ``tf`` (a native
    ``tf.data`` pipeline, :func:`~denoise_tf.pipeline.patch_dataset`; not for paired data).
    ``devices``: ``auto`` (all visible GPUs when there are several), ``1``, ``N`` GPUs, or
    ``cpu`` / ``cpu:N`` (data parallel on host devices, for tests); see
    :mod:`denoise_tf.distribute`. ``batch_size`` is the global batch and must divide by the
    device count.

    ``precision``: ``float32`` (default) or ``mixed_bfloat16`` (Keras' mixed policy: bfloat16
    compute with float32 weights; BatchNorm, the last convolution, the output layer and the loss
    stay in float32, see :data:`denoise_tf.models.layers.OUTPUT_DTYPE`). The weights files are
    the same either way. On a CPU without bfloat16 instructions (``avx512_bf16`` / ``amx_bf16``)
    bfloat16 is emulated and slower, so training says so and keeps float32.

    ``objective``: ``supervised`` (default: noisy patches to clean ones) or ``neighbor2neighbor``
    (:mod:`denoise_tf.selfsupervised`): the training batches give the network the noisy patches
    only (real pairs: their noisy halves); validation still uses clean images where they exist.
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
    # Input pipeline and data-parallel devices.
    pipeline: str = "numpy"
    devices: int | str = "auto"
    # Start from trained weights (fine-tuning; gray -> colour, deeper -> shallower): see warmstart.py.
    init_weights: str | None = None
    # Compute precision of training (weights stay float32).
    precision: str = "float32"
    # Training objective: supervised (noisy -> clean) or neighbor2neighbor (noisy images only).
    objective: str = "supervised"

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
        """Load a YAML or JSON config; ``tiny`` applies its ``tiny`` section; ``overrides`` are ``key=value``.

        ``path`` is a file or the name of a shipped recipe (``"dncnn_s25"``, see :func:`config_names`).
        """
        path = config_path(path)
        text = path.read_text()
        if path.suffix.lower() == ".json":
            values = json.loads(text) if text.strip() else None
        else:
            import yaml

            values = yaml.safe_load(text)
        if values is None:
            raise ValueError(
                f"config {path} is empty: expected a mapping of config keys to values (see configs/*.yaml); "
                "an empty file is refused rather than silently training the default recipe"
            )
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
        runs.check_name(self.name)
        for key in ("batch_size", "epochs", "patch_size", "patch_stride", "workers"):
            if getattr(self, key) < 1:
                raise ValueError(f"config key {key!r} must be >= 1, got {getattr(self, key)}")
        for key in ("steps_per_epoch", "train_limit", "val_limit", "val_crop"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"config key {key!r} must be >= 1 or null, got {value}")
        for key in ("val_holdout", "test_holdout", "random_patches", "seed"):
            if getattr(self, key) < 0:
                raise ValueError(f"config key {key!r} must be >= 0, got {getattr(self, key)}")
        if self.early_stopping is not None and self.early_stopping < 0:
            raise ValueError(
                f"config key 'early_stopping' must be >= 1 (epochs of patience), 0 or null (off), got {self.early_stopping}"
            )
        for key in ("learning_rate", "lr_decay"):
            if not (math.isfinite(getattr(self, key)) and getattr(self, key) > 0):
                raise ValueError(f"config key {key!r} must be a finite number > 0, got {getattr(self, key)}")
        if self.lr_patience < 1:
            raise ValueError(f"config key 'lr_patience' must be >= 1, got {self.lr_patience}")
        if self.backup_every != "epoch" and (isinstance(self.backup_every, str) or self.backup_every < 1):
            raise ValueError(
                f"config key 'backup_every' must be 'epoch' or a number of batches >= 1, got {self.backup_every!r}"
            )
        _check_numbers("patch_scales", self.patch_scales, positive=True, nonempty=True)
        _check_numbers("lr_values", self.lr_values, positive=True)
        _check_numbers("lr_boundaries", self.lr_boundaries, integers=True)
        if list(self.lr_boundaries) != sorted(self.lr_boundaries):
            raise ValueError(f"config key 'lr_boundaries' must be increasing epochs, got {self.lr_boundaries}")
        if self.val_holdout and self.val_data:
            raise ValueError(
                f"config keys 'val_holdout' ({self.val_holdout}) and 'val_data' ({self.val_data!r}) both name "
                "validation images: set val_data: null to validate on the held-out images"
            )
        from .selfsupervised import check_objective

        check_objective(self.objective)
        if self.objective != "supervised" and self.pipeline == "tf":
            raise ValueError(f"config key 'pipeline' must be 'numpy' with objective {self.objective!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"config key 'precision' must be one of {PRECISIONS}, got {self.precision!r}")
        if self.pipeline not in PIPELINES:
            raise ValueError(f"config key 'pipeline' must be one of {PIPELINES}, got {self.pipeline!r}")
        if self.pipeline == "tf" and self.paired_data:
            raise ValueError("config key 'pipeline' must be 'numpy' with 'paired_data' (the tf.data path makes synthetic noise)")
        from .distribute import parse_setting

        kind, count = parse_setting(self.devices)
        if count and count > 1 and self.batch_size % count:
            raise ValueError(
                f"config key 'batch_size' ({self.batch_size}) must divide by the {count} devices of 'devices' ({self.devices!r})"
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


#: Training-data helpers that moved to :mod:`denoise_tf.pipeline` (still importable from here).
_MOVED_TO_PIPELINE = ('HOLDOUT_SEED', 'holdout_split', 'uses_holdout', 'set_files', 'holdout_files', 'load_training_images', 'load_training_patches', 'load_validation', 'paired_root', 'load_paired', 'holdout_names')


def __getattr__(name):
    if name in _MOVED_TO_PIPELINE:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_numbers(
    key: str, values: list, positive: bool = False, integers: bool = False, nonempty: bool = False
) -> None:
    """Refuse a config list that is empty (``nonempty``) or holds other than (positive / integer) numbers."""
    kinds = (int,) if integers else (int, float)
    if nonempty and not values:
        raise ValueError(f"config key {key!r} must list at least one number, got {values!r}")
    for value in values:
        bad = isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value)
        if bad or (positive and not value > 0) or (integers and value < 0):
            wanted = "epochs (ints >= 0)" if integers else "numbers > 0" if positive else "numbers"
            raise ValueError(f"config key {key!r} must list {wanted}, got {values!r}")


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


def _callbacks(
    config, run_dir, val_pairs, dataset, resume, placement=None, previous: dict | None = None, start_epoch: int = 0
):
    """The training callbacks, in the order they run at an epoch end.

    :class:`~denoise_tf.callbacks.StopOnNaN` runs first, so training stops at the first
    non-finite loss; every saver (best, last, backup) checks the loss and the weights itself,
    so an epoch with NaN weights is never saved. ``previous`` is the summary a resumed run
    continues (its best validation PSNR is the value ``best.weights.h5`` must beat).
    """
    import keras

    from .callbacks import Backup, EpochSync, ImageSamples, RunSummary, SaveBest, SaveLast, StopOnNaN, ValidationPSNR
    from .distribute import Placement

    placement = placement or Placement()
    if previous is None:
        previous = runs.read_summary(run_dir, start_epoch)[0] if resume else {}
    callbacks = [StopOnNaN()]
    callbacks += [ValidationPSNR(val_pairs, replicas=placement.count)] if val_pairs else []
    monitor = "val_psnr" if val_pairs else "loss"
    mode = "max" if val_pairs else "min"
    # A resumed run only replaces best.weights.h5 when it beats the best of earlier sessions.
    best_so_far = previous.get("best_val_psnr") if resume and val_pairs else None
    callbacks += [
        SaveBest(run_dir / runs.BEST, monitor=monitor, mode=mode, best=best_so_far),
        SaveLast(run_dir / runs.LAST),
        keras.callbacks.CSVLogger(str(run_dir / runs.LOG), append=resume),
        # double_checkpoint: a run killed while writing its backup resumes from the one before.
        Backup(str(run_dir / runs.BACKUP), save_freq=config.backup_every, double_checkpoint=True, delete_checkpoint=False),
    ]
    if hasattr(dataset, "epoch"):  # the NumPy datasets; the tf.data path counts epochs itself
        callbacks.append(EpochSync(dataset))
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
    if config.tensorboard and val_pairs:
        # TensorBoard images on the TensorFlow backend, PNG grids in run_dir/samples otherwise.
        callbacks.append(ImageSamples(val_pairs, run_dir / "tensorboard", run_dir / "samples", replicas=placement.count))
    callbacks.append(RunSummary(run_dir, config, placement.describe(), previous=previous, start_epoch=start_epoch))
    return callbacks


# -------------------------------------------------------------------------------------------
# Precision


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (``avx512_bf16`` or ``amx_bf16``; Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def training_precision(config: TrainConfig) -> str:
    """The precision a run uses: ``config.precision``, or float32 where bfloat16 would be emulated.

    Mixed bfloat16 pays on GPUs and TPUs and on CPUs with bfloat16 instructions; on other CPUs
    it is slower than float32, so a warning says so and float32 is used.
    """
    if config.precision == "float32":
        return "float32"
    import keras

    on_accelerator = False
    if keras.backend.backend() == "jax":
        import jax

        on_accelerator = jax.default_backend() != "cpu"
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        on_accelerator = bool(tf.config.list_logical_devices("GPU"))
    if not on_accelerator and not cpu_has_bf16():
        import warnings

        warnings.warn(
            f"precision {config.precision}: this CPU has no bfloat16 instructions (avx512_bf16 / amx_bf16), "
            "where bfloat16 is slower than float32; training in float32",
            stacklevel=2,
        )
        return "float32"
    return config.precision


def build_model(config: TrainConfig):
    """Build ``config``'s model under its training precision (the global dtype policy is restored)."""
    import keras

    from . import models

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(training_precision(config))
    try:
        return models.build(config.model, **config.model_options)
    finally:
        keras.config.set_dtype_policy(previous)


# -------------------------------------------------------------------------------------------
# Entry point


def train(config: TrainConfig, resume: bool = False, verbose: int | str = "auto", max_minutes: float | None = None):
    """Train ``config`` and return ``(history, run_dir)``.

    ``resume=True`` continues the run folder from its backup (finished epochs are not
    repeated; the data order and noise continue where they stopped, so the losses are those of
    an uninterrupted run). A resumed run that has already trained its ``epochs`` changes
    nothing (raise ``epochs`` to train further). Without ``resume`` an existing run folder
    raises ``FileExistsError``, unless no epoch of it ever finished (a run that failed at
    start: it is started again). ``max_minutes`` stops at the first epoch end after that much
    wall time (a later ``resume`` continues).

    Everything that can fail at start (the config, the backup to resume from, the model, the
    data, the optimizer and loss) is checked before the run folder is created or changed.

    Raises
    ------
    FileExistsError
        The run folder holds a trained run and ``resume`` is False.
    ValueError
        Bad config; a resumed config that differs from the saved one in what it learns; no
        usable backup to resume from (see :func:`denoise_tf.runs.plan_resume`).
    """
    import keras

    from . import distribute

    config.validate()
    run_dir = config.run_dir
    trained = runs.has_trained(run_dir)
    if trained and not resume:
        raise FileExistsError(f"run folder {run_dir} exists: pass resume=True (--resume) to continue it, or choose another name")
    plan = runs.plan_resume(run_dir) if resume else runs.ResumePlan(run_dir, 0, None)
    saved = run_dir / runs.CONFIG
    if resume and trained and saved.exists():
        previous = runs.read_json(saved)
        changed = {k for k in previous if k not in RESUMABLE_CHANGES and previous.get(k) != config.to_dict().get(k)}
        if changed:
            raise ValueError(f"cannot resume {run_dir}: config differs from the saved one in {sorted(changed)}")
    if resume and trained and plan.epoch >= config.epochs:
        import warnings

        warnings.warn(
            f"run {run_dir} has trained {plan.epoch} epochs of the {config.epochs} asked: nothing to train, nothing "
            f"changed (raise epochs, e.g. --set epochs={plan.epoch + 10}, to train further)",
            stacklevel=2,
        )
        return keras.callbacks.History(), run_dir

    keras.utils.set_random_seed(config.seed)
    placement = distribute.resolve(config.devices, config.batch_size)
    with distribute.placed(placement):
        history = _fit(config, run_dir, resume, plan, verbose, max_minutes, placement)
    return history, run_dir


def _fit(config: TrainConfig, run_dir: Path, resume: bool, plan, verbose, max_minutes, placement):
    """Build the model and data, compile, then set up the run folder and fit (inside the placement's scope)."""
    import keras

    from . import pipeline, selfsupervised

    start_epoch = plan.epoch
    model = build_model(config)
    with_level = len(model.inputs) == 2
    files = {}  # written once everything has been built
    if config.init_weights and start_epoch == 0:
        from .warmstart import copy_weights

        copied = copy_weights(model, config.init_weights)
        files["init_weights.json"] = {"source": config.init_weights, **copied}
    if config.paired_data:
        if with_level:
            raise ValueError(f"model {config.model!r} takes a noise level, which real noisy/clean pairs do not give")
        train_noisy, train_clean, val_pairs, names = pipeline.load_paired(config)
        files["holdout.json"] = names
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
        if pipeline.uses_holdout(config):
            files["holdout.json"] = pipeline.holdout_names(config)
        if config.patch_mode == "crop":
            dataset_class, source, extra = pipeline.CropPatchDataset, pipeline.load_training_images(config), {"patch_size": config.patch_size}
        else:
            dataset_class, source, extra = pipeline.PatchDataset, pipeline.load_training_patches(config), {}
        if config.pipeline == "tf":
            dataset_class, extra = pipeline.patch_dataset, {"patch_size": config.patch_size}
            extra["steps_per_epoch"] = config.steps_per_epoch or max(1, len(source) // config.batch_size)
        else:
            extra.update(steps_per_epoch=config.steps_per_epoch, workers=config.workers)
        dataset = dataset_class(
            source,
            config.noise,
            batch_size=config.batch_size,
            seed=config.seed,
            augment=config.augment,
            with_level=with_level,
            epoch=start_epoch,
            **extra,
        )
        val_pairs = pipeline.load_validation(config, with_level)
    try:
        optimizer = keras.optimizers.get({"class_name": config.optimizer, "config": {"learning_rate": learning_rate_at(config, start_epoch)}})
        loss = keras.losses.get(config.loss)
    except (ValueError, TypeError) as error:
        message = f"config keys 'optimizer' ({config.optimizer!r}) / 'loss' ({config.loss!r}): {error}"
        raise ValueError(message) from None
    # a self-supervised objective: batches of noisy patches only, and its own loss
    dataset, loss = selfsupervised.prepare(config.objective, model, dataset, loss, seed=config.seed)
    model.compile(optimizer=optimizer, loss=loss)
    if plan.source:  # the backup must fit the model before anything in the folder changes
        _check_backup_fits(model, plan)

    # Everything is built: now the run folder is created or changed.
    previous, problem = runs.read_summary(run_dir, start_epoch) if resume else ({}, None)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        runs.apply_resume(plan)
        runs.trim_log(run_dir / runs.LOG, start_epoch)
        if problem and (run_dir / runs.SUMMARY).exists():
            runs.keep_damaged_summary(run_dir)
    runs.write_json(run_dir / runs.CONFIG, config.to_dict())
    for name, value in files.items():
        runs.write_json(run_dir / name, value)
    callbacks = _callbacks(
        config, run_dir, val_pairs, dataset, resume, placement, previous=previous, start_epoch=start_epoch
    )
    if max_minutes:
        from .callbacks import TimeLimit

        callbacks.insert(0, TimeLimit(max_minutes))
    # The tf.data path is endless (it counts epochs itself): fit takes the steps of an epoch.
    steps = extra["steps_per_epoch"] if config.pipeline == "tf" and not config.paired_data else None
    # shuffle=False: every epoch's batches already come from a fresh seeded permutation (a function
    # of seed and epoch), while Keras' shuffle reorders them with Python's global random, reseeded
    # at each start, so a resumed run would see its batches in another order than an uninterrupted one.
    return model.fit(
        dataset, epochs=config.epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=verbose, shuffle=False
    )


def _check_backup_fits(model, plan) -> None:
    """Load the planned backup into ``model`` as Keras' ``BackupAndRestore`` will (optimizer state too).

    Raises
    ------
    ValueError
        The backup does not fit the model (nothing has been changed yet).
    """
    import shutil
    import tempfile

    files = runs.BackupFiles.of(plan.run_dir / runs.BACKUP, previous=plan.source == "previous")
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    with tempfile.TemporaryDirectory() as folder:
        path = files.weights
        if not path.name.endswith(".weights.h5"):  # the .bkp one: Keras reads .weights.h5 names only
            path = Path(shutil.copyfile(path, Path(folder) / "previous.weights.h5"))
        try:
            model.load_weights(str(path))
        except (ValueError, KeyError, OSError) as error:
            message = f"cannot resume {plan.run_dir}: its backup {files.weights} does not fit the model ({error})"
            raise ValueError(message) from None


#: Run-folder helpers that moved to :mod:`denoise_tf.runs` (the old private names still work).
_trim_log = runs.trim_log
_repair_backup = runs.repair_backup
_backup_epoch = runs.backup_epoch
hardware = runs.hardware
load_run_model = runs.load_run_model
slim_weights = runs.slim_weights
