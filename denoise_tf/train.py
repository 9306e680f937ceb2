"""Training: ``train(config)`` -> history and run folder, for one :class:`~denoise_tf.config.TrainConfig`.

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

from pathlib import Path

from . import runs
from .config import RESUMABLE_CHANGES, TrainConfig, learning_rate_at
from .hardware import training_precision

# -------------------------------------------------------------------------------------------
# Callbacks


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
# Model


def build_model(config: TrainConfig):
    """Build ``config``'s model under its training precision (the global dtype policy is restored)."""
    import keras

    from . import models

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(training_precision(config.precision))
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

    from . import pipeline, selfsupervised, training_data

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
        train_noisy, train_clean, val_pairs, names = training_data.load_paired(config)
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
        if training_data.uses_holdout(config):
            files["holdout.json"] = training_data.holdout_names(config)
        if config.patch_mode == "crop":
            dataset_class, source, extra = pipeline.CropPatchDataset, training_data.load_training_images(config), {"patch_size": config.patch_size}
        else:
            dataset_class, source, extra = pipeline.PatchDataset, training_data.load_training_patches(config), {}
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
        val_pairs = training_data.load_validation(config, with_level)
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
