"""What the first cell of every lesson calls: quiet logs, one figures folder, what this machine has.

:func:`setup` silences TensorFlow's start-up messages and its ``tf.function`` retracing warnings,
creates the figures folder where the notebook runs (``figures/``, or ``$DENOISE_TF_FIGURES``),
and prints the profile, the Keras backend, the TensorFlow version and whether a GPU is there.
Importing this module imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

#: The environment variable that chooses a lesson's profile: ``tiny`` (default) or ``full``.
PROFILE_ENV = "DENOISE_TF_PROFILE"
#: The environment variable that moves the figures folder (default ``figures`` in the working folder).
FIGURES_ENV = "DENOISE_TF_FIGURES"
PROFILES = ("tiny", "full")


def on_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def quiet() -> None:
    """Silence TensorFlow's C++ start-up messages, its Python warnings and retracing logs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="tensorflow")
    warnings.filterwarnings("ignore", message=".*retracing.*")
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].get_logger().setLevel(logging.ERROR)
        sys.modules["tensorflow"].autograph.set_verbosity(0)


def machine() -> dict:
    """The Keras backend, the TensorFlow version (None without it) and the GPUs it sees."""
    import importlib.util

    info = {"backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "tensorflow": None, "gpus": []}
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow as tf

        quiet()
        info["tensorflow"] = tf.__version__
        info["gpus"] = [device.name for device in tf.config.list_physical_devices("GPU")]
    elif info["backend"] == "jax" and importlib.util.find_spec("jax") is not None:
        import jax

        info["gpus"] = [str(d) for d in jax.devices() if d.platform == "gpu"]
    return info


def setup(profile: str = "tiny", figures: str | os.PathLike | None = None) -> Path:
    """Prepare a lesson: quiet logs, the figures folder, one line about the machine.

    Parameters
    ----------
    profile : str
        ``"tiny"`` (small images, minutes on a laptop CPU) or ``"full"`` (whole sets; a GPU).
    figures : path-like or None
        The figures folder (default ``$DENOISE_TF_FIGURES`` or ``figures`` where the notebook runs).

    Returns
    -------
    Path
        The figures folder, created if needed.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r} (set {PROFILE_ENV} or PROFILE)")
    quiet()
    folder = Path(figures or os.environ.get(FIGURES_ENV) or "figures")
    folder.mkdir(parents=True, exist_ok=True)
    info = machine()
    device = f"GPU: {', '.join(info['gpus'])}" if info["gpus"] else "no GPU (CPU only)"
    tf_text = f"TensorFlow {info['tensorflow']}" if info["tensorflow"] else "no TensorFlow"
    print(f"profile {profile!r} | Keras backend {info['backend']} | {tf_text} | {device} | figures in {folder}/")
    other = "full" if profile == "tiny" else "tiny"
    hint = f"set PROFILE = {other!r} in this cell (or {PROFILE_ENV}={other} before starting Jupyter) for the {other} profile"
    if on_colab() and not info["gpus"]:
        hint += "; for a GPU: Runtime > Change runtime type > GPU, then run the notebook again"
    print(hint)
    return folder
