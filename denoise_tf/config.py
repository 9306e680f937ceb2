"""One training experiment: :class:`TrainConfig`, its recipes (``configs/*.yaml``) and overrides."""

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

    Data: ``patch_mode`` ``grid`` / ``random`` cut clean patches once
    (:class:`~denoise_tf.pipeline.PatchDataset`); ``crop`` crops fresh random windows of whole
    images for every batch (:class:`~denoise_tf.pipeline.CropPatchDataset`: large colour sets).
    ``val_holdout`` / ``test_holdout`` hold that many ``train_data`` images (or pairs) out of
    training, picked by a fixed seeded shuffle (:func:`denoise_tf.training_data.holdout_split`);
    the validation images are then the held-out ones (``val_data`` must be null) and the names go
    to the run folder's ``holdout.json``.
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
    # Held-out images and real noisy/clean pairs (the defaults use neither).
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


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate of ``epoch`` (0-based) for the non-adaptive schedules."""
    if config.lr_schedule == "step":
        values = config.lr_values or [config.learning_rate]
        index = sum(epoch >= b for b in config.lr_boundaries)
        return float(values[min(index, len(values) - 1)])
    if config.lr_schedule == "exponential":
        return float(config.learning_rate * config.lr_decay**epoch)
    return float(config.learning_rate)
