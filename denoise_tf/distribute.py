"""Data-parallel training on several devices, picked from the Keras backend and the visible devices.

* JAX backend: ``keras.distribution.DataParallel(devices=...)``, set with
  ``keras.distribution.set_distribution`` for the whole run (model build, compile, fit) and unset
  afterwards; every batch is split along its first axis across the devices.
* TensorFlow backend: ``tf.distribute.MirroredStrategy(devices)``; the model is built and compiled
  inside its scope and ``fit`` then splits every batch across the replicas.
* One device: nothing (the default single-device path).

The ``devices`` setting (:attr:`denoise_tf.config.TrainConfig.devices`):

* ``"auto"`` (default): all visible GPUs when there are at least 2, else one device;
* ``1``: one device; ``N``: the first ``N`` GPUs (an error when fewer are visible);
* ``"cpu"`` / ``"cpu:N"``: all / ``N`` CPU devices. Only for testing: the host must expose
  several CPU devices (JAX: ``XLA_FLAGS=--xla_force_host_platform_device_count=N``; TensorFlow:
  ``tf.config.set_logical_device_configuration`` before TensorFlow initialises).

The global batch (``batch_size``) must divide by the number of devices. TensorFlow is imported
only on the TensorFlow backend, so the module works on JAX-only machines.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field


@dataclass
class Placement:
    """The devices a run trains on: ``kind`` is ``single``, ``jax`` or ``tensorflow``."""

    kind: str = "single"
    devices: list = field(default_factory=list)
    strategy: object = None

    @property
    def count(self) -> int:
        return max(1, len(self.devices))

    def describe(self) -> dict:
        return {"data_parallel": self.kind, "devices": list(self.devices), "replicas": self.count}


def parse_setting(setting) -> tuple[str, int | None]:
    """``(device_type, count)`` of a ``devices`` setting; ``count`` None means all of that type."""
    if isinstance(setting, bool):
        raise TypeError(f"config key 'devices' must be 'auto', 'cpu', 'cpu:N' or an int, got {setting!r}")
    if isinstance(setting, int):
        if setting < 1:
            raise ValueError(f"config key 'devices' must be >= 1, got {setting}")
        return "gpu", setting
    text = str(setting).strip().lower()
    if text == "auto":
        return "auto", None
    if text.isdigit():
        return parse_setting(int(text))
    kind, _, count = text.partition(":")
    if kind in ("cpu", "gpu") and (not count or count.isdigit()):
        if count and int(count) < 1:
            raise ValueError(f"config key 'devices' must name at least 1 device, got {setting!r}")
        return kind, int(count) if count else None
    raise ValueError(f"config key 'devices' must be 'auto', an int, 'gpu:N', 'cpu' or 'cpu:N', got {setting!r}")


def visible_devices(device_type: str, backend: str | None = None) -> list[str]:
    """Names of the visible ``cpu`` / ``gpu`` devices of the backend (``gpu:0``, ``/device:CPU:1``...)."""
    import keras

    backend = backend or keras.backend.backend()
    if backend == "jax":
        import jax

        try:
            return [f"{d.platform}:{d.id}" for d in jax.devices(device_type)]
        except RuntimeError:  # no such platform
            return []
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices(device_type.upper())]
    return []


def resolve(setting="auto", batch_size: int | None = None, backend: str | None = None) -> Placement:
    """The :class:`Placement` of a ``devices`` setting; checks that ``batch_size`` divides.

    Raises ``ValueError`` when fewer devices are visible than asked for, when the backend has no
    data-parallel support here (torch, numpy) or when the batch does not divide.
    """
    import keras

    backend = backend or keras.backend.backend()
    kind, count = parse_setting(setting)
    if kind == "gpu" and count == 1:
        return Placement()
    if kind == "auto":
        gpus = visible_devices("gpu", backend) if backend in ("jax", "tensorflow") else []
        devices = gpus if len(gpus) >= 2 else []
    else:
        if backend not in ("jax", "tensorflow"):
            raise ValueError(f"devices={setting!r}: data-parallel training needs the jax or tensorflow backend, not {backend!r}")
        found = visible_devices(kind, backend)
        wanted = len(found) if count is None else count
        if wanted > len(found):
            hint = ""
            if kind == "gpu" and not found:
                hint = " (for data-parallel tests on the CPU use devices: cpu:N with several host devices)"
            elif kind == "cpu":
                hint = (
                    " (JAX: XLA_FLAGS=--xla_force_host_platform_device_count=N; TensorFlow: "
                    "tf.config.set_logical_device_configuration before TensorFlow starts)"
                )
            raise ValueError(f"devices={setting!r} asks for {wanted} {kind.upper()} device(s), but {len(found)} are visible{hint}")
        devices = found[:wanted]
    if len(devices) < 2:
        return Placement()
    if batch_size is not None and batch_size % len(devices):
        raise ValueError(
            f"batch_size {batch_size} does not divide by the {len(devices)} devices of devices={setting!r}: "
            f"use a multiple of {len(devices)} (each device gets batch_size / {len(devices)} patches)"
        )
    return Placement("jax" if backend == "jax" else "tensorflow", devices)


@contextlib.contextmanager
def placed(placement: Placement):
    """Context for building, compiling and fitting the model on ``placement``'s devices.

    JAX: sets a ``DataParallel`` distribution and restores the previous one on exit. TensorFlow:
    enters a ``MirroredStrategy`` scope (kept on ``placement.strategy``). Single: nothing.
    """
    if placement.kind == "jax":
        import keras

        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=placement.devices))
        try:
            yield placement
        finally:
            keras.distribution.set_distribution(previous)
    elif placement.kind == "tensorflow":
        import tensorflow as tf

        if placement.strategy is None:
            placement.strategy = tf.distribute.MirroredStrategy(
                devices=placement.devices, cross_device_ops=_cross_device_ops(placement.devices)
            )
        with placement.strategy.scope():
            yield placement
    else:
        yield placement


def _cross_device_ops(devices):
    """NCCL all-reduce on GPUs (the default), a plain reduction on CPU devices (NCCL needs GPUs)."""
    import tensorflow as tf

    if all("GPU" in d.upper() for d in devices):
        return None
    return tf.distribute.ReductionToOneDevice()


def pad_batch(inputs, multiple: int):
    """Repeat the last item of a batch (array or tuple of arrays) up to a multiple of ``multiple``.

    Returns ``(padded, n)`` with ``n`` the original batch size: prediction on a data-parallel
    model needs a batch that divides by the device count (a validation image is a batch of 1).
    """
    import numpy as np

    first = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
    n = len(first)
    extra = (-n) % max(1, multiple)
    if not extra:
        return inputs, n

    def pad(x):
        x = np.asarray(x)
        return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)], axis=0)

    if isinstance(inputs, (tuple, list)):
        return type(inputs)(pad(x) for x in inputs), n
    return pad(inputs), n
