"""The machine a run trains on: backend, devices, CPU, and the precision it can train in."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo``, Linux), or None where unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (``avx512_bf16`` or ``amx_bf16``; Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def tensorflow_unavailable(path: str) -> str | None:
    """Why an inference ``path`` (``"the TFLite path"``...) that needs TensorFlow cannot run here, or None.

    It needs Keras on the TensorFlow backend and an importable ``tensorflow``.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return f"{path} needs the TensorFlow backend of Keras (this process runs {keras.backend.backend()!r})"
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return f"{path} needs TensorFlow (pip install tensorflow-cpu)"
    return None


def describe() -> dict:
    """Backend, devices and host: written into each run's summary."""
    import keras

    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "tensorflow_imported": "tensorflow" in sys.modules,
        "python": platform.python_version(),
        "host_cpu": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
    }
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


def training_precision(precision: str) -> str:
    """The precision to train in: ``precision``, or float32 where bfloat16 would be emulated.

    Mixed bfloat16 pays on GPUs and TPUs and on CPUs with bfloat16 instructions; on other CPUs
    it is slower than float32, so a warning says so and float32 is used.
    """
    if precision == "float32":
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
            f"precision {precision}: this CPU has no bfloat16 instructions (avx512_bf16 / amx_bf16), "
            "where bfloat16 is slower than float32; training in float32",
            stacklevel=2,
        )
        return "float32"
    return precision
