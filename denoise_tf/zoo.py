"""Names to denoisers: one resolver for every name the package, the CLI and the notebooks take.

A name is shipped weights (``dncnn-b``, :mod:`denoise_tf.pretrained`), a paper's own network
(``paper/dncnn-s25``, :mod:`denoise_tf.reference`: fetched on first use), a run folder (its best
weights), a ``.keras`` model file, or a classical method (``bm3d``, ``median``...,
:mod:`denoise_tf.classical`). :func:`model_kind` tells which without loading anything,
:func:`load_model` builds the Keras model of a neural name, :func:`make_denoiser` returns an
object with ``.denoise(image)`` and ``.name`` for any name, and :func:`denoise` runs one image
through it. Images are float32 in [0, 1], ``(H, W, C)`` or ``(N, H, W, C)``; sigma on the 0-255
scale.

A gray neural model takes RGB images along a colour path (:mod:`denoise_tf.colour`):
:func:`gray_colour_path` picks it from how the model was trained (:func:`training_noise`). The
colour opponent-space model (``cdncnn-opponent``) denoises a gray image in one pass of its
shared gray network (:func:`luminance_model`, :class:`OpponentDenoiser`) instead of three.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from pathlib import Path

import numpy as np

from .inference import NeuralDenoiser

#: The default denoiser (demo, web page, :func:`denoise`): the first of these that ships, else BM3D.
DEFAULT_MODELS = ("cdncnn-opponent", "dncnn-b")


def default_model() -> str:
    """The colour-trained blind DnCNN when it ships, else the gray DnCNN-B, else BM3D."""
    from . import pretrained

    shipped = pretrained.available()
    return next((name for name in DEFAULT_MODELS if name in shipped), "bm3d")


def model_kind(name: str) -> str:
    """What ``name`` refers to: ``"pretrained"``, ``"reference"``, ``"run"``, ``"keras"`` or ``"classical"``.

    Cheap (nothing is loaded), so callers can check every name before starting long work.

    Raises
    ------
    ValueError
        ``name`` is none of them; the message lists the shipped weights, the papers' networks and
        the classical methods.
    """
    from . import classical, pretrained, reference

    name = str(name)
    if name in pretrained.available():
        return "pretrained"
    if name in reference.available():
        return "reference"
    if name.startswith(reference.PREFIX):
        raise ValueError(f"unknown model {name!r}: the papers' networks are {reference.available()}")
    path = Path(name)
    if path.is_dir():
        return "run"
    if path.suffix == ".keras" and path.is_file():
        return "keras"
    if name in classical.available():
        return "classical"
    missing = ""
    if path.suffix == ".keras" or any(c in name for c in "/\\"):
        missing = f" (no such {'file' if path.suffix == '.keras' else 'run folder'}: {path})"
    raise ValueError(
        f"unknown model {name!r}{missing}: expected shipped weights {pretrained.available()}, a paper's network "
        f"{reference.available()}, a run folder, "
        f"a .keras file, or a classical method {sorted(classical.available())}"
    )


def load_model(name: str):
    """The Keras model of a neural ``name``: shipped weights, a paper's network, a run folder or a ``.keras`` file.

    Raises
    ------
    ValueError
        ``name`` is a classical method or unknown (see :func:`model_kind`).
    FileNotFoundError
        A paper's network not in the cache could not be downloaded
        (:class:`denoise_tf.reference.ReferenceUnavailable`: the message says what to put where).
    """
    from . import pretrained, reference

    kind = model_kind(name)
    if kind == "pretrained":
        return pretrained.load(name)
    if kind == "reference":
        return reference.load(name)
    if kind == "run":
        from .runs import load_run_model

        return load_run_model(Path(name), "best")
    if kind == "keras":
        import keras

        return keras.models.load_model(Path(name), compile=False)
    raise ValueError(f"{name!r} is a classical method, not a neural model")


#: Environment variable with the default inference path of neural denoisers (``auto``, ``keras``,
#: ``tflite`` or ``bf16``; :func:`default_backend`).
ENV_BACKEND = "DENOISE_TF_BACKEND"

logger = logging.getLogger(__name__)


def default_backend() -> str:
    """The inference path neural denoisers take unless told: ``$DENOISE_TF_BACKEND``, else ``"auto"``.

    Raises
    ------
    ValueError
        The variable holds something other than ``auto``, ``keras``, ``tflite`` or ``bf16``.
    """
    from .export import BACKENDS

    value = os.environ.get(ENV_BACKEND, "").strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"{ENV_BACKEND} must be one of {list(BACKENDS)} (or empty: auto), got {value!r}")
    return value


def make_denoiser(
    name: str, sigma: float | None = None, backend: str | None = None, lower_precision: bool = False, **options
):
    """A denoiser object (``.denoise(image)``, ``.name``) from a name.

    ``name`` is a shipped weights name (``dncnn-s25``, see :mod:`denoise_tf.pretrained`), a
    paper's network (``paper/dncnn-s25``, :mod:`denoise_tf.reference`), a run folder (its best
    weights), a ``.keras`` model file, or a classical method (``bm3d``, ``nlm``, ``median``...).
    ``sigma`` (0-255) goes to the methods that take a noise level. An unknown name raises
    ``ValueError`` (see :func:`model_kind`).

    ``backend`` (neural models; None: :func:`default_backend`) is the inference path:
    ``"auto"`` runs the model's cached float32 TFLite export where it is available and exact
    (:func:`denoise_tf.export.fast_model`; outputs within 1e-4 of the Keras path) and the
    Keras path elsewhere, ``"keras"`` and ``"tflite"`` force one, ``"bf16"`` forces the
    bfloat16 path (:mod:`denoise_tf.lowprecision`; refused on a CPU without bfloat16
    instructions). ``lower_precision=True`` (``denoise`` and the web page; never evaluation)
    lets ``"auto"`` take the bfloat16 path for shipped weights adopted for it
    (:func:`denoise_tf.lowprecision.adopted`: under 0.02 dB on BSD68 and faster) where the CPU
    has bfloat16 instructions. The denoiser's ``backend`` attribute says which runs. Classical
    methods ignore both.

    A neural denoiser of a gray model also takes RGB images, along the colour path of its
    ``color_mode`` option (:func:`denoise_tf.inference.denoise`): when not given,
    :func:`denoise_tf.colour.default_mode` of the model's training noise
    (:func:`training_noise`): ``"opponent-rgb-luma"`` for fixed-sigma models (``dncnn-s25``),
    ``"opponent"`` for the others; ``"rgb"`` is channel by channel. ``color_mode`` given for a
    classical method raises ``ValueError`` (those denoise colour images themselves).
    """
    from . import classical

    kind = model_kind(name)
    if kind == "classical":
        refuse_color_mode(name, options)
        return classical.get(name, sigma=sigma, **options)
    label = {"pretrained": str(name), "reference": str(name), "run": Path(name).name, "keras": Path(name).stem}[kind]
    return neural_denoiser(
        load_model(name), name, sigma=sigma, label=label, backend=backend,
        lower_precision=lower_precision and kind == "pretrained", **options,
    )


def gray_colour_path(model, name: str, color_mode: str | None = None) -> str | None:
    """The colour path a gray ``model`` (named ``name``) takes on RGB images, None for other models.

    ``color_mode`` when given, else :func:`denoise_tf.colour.default_mode` of the model's
    training noise (:func:`training_noise`).
    """
    from . import inference
    from .colour import check_mode, default_mode

    if inference.model_channels(model) != 1:
        return None
    return check_mode(color_mode) if color_mode is not None else default_mode(training_noise(name))


def neural_denoiser(
    model, name: str, sigma: float | None = None, label: str | None = None, backend: str | None = None, exported=None,
    lower_precision: bool = False, **options,
):
    """:class:`denoise_tf.inference.NeuralDenoiser` of a loaded ``model`` named ``name``.

    A gray model meets RGB images along :func:`gray_colour_path` (``color_mode`` overrides it);
    ``options`` go to the denoiser (``tile``, ``overlap``, ``progress``...). ``backend`` chooses
    the inference path (:func:`make_denoiser`; ``lower_precision``: ``model`` is the shipped
    weights ``label`` and ``"auto"`` may take their bfloat16 path); ``exported``, an export of
    ``model`` made before (:func:`denoise_tf.export.fast_model`), is used as it is instead. A model with a
    :func:`luminance_model` gets an :class:`OpponentDenoiser` (gray images in one gray pass).
    """
    from . import export, inference

    mode = gray_colour_path(model, name, options.get("color_mode"))
    if mode is not None:
        options = {**options, "color_mode": mode}
    label = label or str(name)
    if exported is None and options.get("runner", "compiled") == "compiled":
        backend = export.check_backend(backend or default_backend())
        exported = export.fast_model(model, backend, name=label, lower_precision=lower_precision)
    luminance = luminance_model(model)
    if luminance is not None:
        denoiser = OpponentDenoiser(
            model, luminance, sigma=sigma, name=label, exported=exported, backend=backend, **options
        )
    else:
        denoiser = inference.NeuralDenoiser(model, sigma=sigma, name=label, exported=exported, **options)
    logger.info("%s runs on %s", label, export.describe(exported))
    return denoiser


#: id(colour model) -> (weak reference to it, its luminance model); entries die with the model.
_LUMINANCE: dict[int, tuple] = {}
#: A colour model's export -> the export of its luminance model (made on the first gray image).
_LUMINANCE_EXPORTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LUMINANCE_LOCK = threading.Lock()


def luminance_model(model):
    """The gray network a colour ``model`` runs once on a gray image, or None.

    For a 3-channel ``dncnn_opponent`` model (``cdncnn-opponent``): its shared gray DnCNN
    (:func:`denoise_tf.models.dncnn.opponent_luminance`; ``(N, H, W, 1) -> (N, H, W, 1)``,
    the same weight variables), made once per model. None for every other model.
    """
    key = id(model)
    with _LUMINANCE_LOCK:
        entry = _LUMINANCE.get(key)
        if entry is not None and entry[0]() is model:
            return entry[1]
    if not getattr(model, "layers", None):
        return None
    from .models.dncnn import opponent_luminance

    luminance = opponent_luminance(model)  # None for every other model
    if luminance is None:
        return None
    with _LUMINANCE_LOCK:
        _LUMINANCE[key] = (weakref.ref(model), luminance)
    weakref.finalize(model, _LUMINANCE.pop, key, None)
    return luminance


class OpponentDenoiser(NeuralDenoiser):
    """The denoiser of a colour opponent-space model: RGB images in three gray passes, gray images in one.

    An RGB image runs the colour model (its shared gray DnCNN on the opponent luminance and on
    both chroma channels: three gray passes). A gray image, ``(H, W, 1)`` / ``(N, H, W, 1)``,
    or RGB whose three channels are equal, is its own opponent luminance with both chroma
    channels exactly 0.5 and noise-free: it runs :func:`luminance_model` once (a third of the
    work) and comes back with its own channels. The result is the colour path's luminance; the
    colour path's gray output (ITU-R 601 of its RGB) differs from it by ``-0.18 d``, ``d`` the
    network's response to a flat noise-free 0.5 chroma plane (under 8e-4 for
    ``cdncnn-opponent``, see :func:`denoise_tf.models.dncnn.opponent_luminance`). A gray image
    takes the luminance model's export when the colour model runs on one (made on the first
    gray image, once per colour export; the bfloat16 path of the luminance model when the colour
    model runs on its bfloat16 path), else its Keras call; a ``runner`` option keeps gray
    images on the colour model.

    Parameters
    ----------
    model : keras.Model
        The colour model, ``(N, H, W, 3) -> (N, H, W, 3)``.
    luminance : keras.Model
        Its luminance model, ``(N, H, W, 1) -> (N, H, W, 1)``.
    backend : str or None
        The inference path asked for (:data:`denoise_tf.export.BACKENDS`; None:
        :func:`default_backend`); the luminance model takes an export only when ``exported`` is
        given (``"keras"`` then counts as ``"auto"``).
    sigma, name, exported, **options
        As :class:`~denoise_tf.inference.NeuralDenoiser`.
    """

    def __init__(
        self, model, luminance, sigma=None, name: str | None = None, exported=None, backend: str | None = None,
        **options,
    ):
        super().__init__(model, sigma=sigma, name=name, exported=exported, **options)
        self.luminance = luminance
        self.requested_backend = backend
        self._gray = None

    def gray_denoiser(self) -> NeuralDenoiser:
        """The denoiser of gray images: :attr:`luminance` with these options (exported if the colour model is)."""
        if self._gray is None:
            exported = None
            if self.exported is not None:
                from . import export

                with _LUMINANCE_LOCK:
                    exported = _LUMINANCE_EXPORTS.get(self.exported)
                if exported is None and getattr(self.exported, "format", None) == "bf16":
                    from .lowprecision import LowPrecisionModel

                    exported = LowPrecisionModel(
                        self.luminance, name=f"{self.name}-luminance", measurement=self.exported.measurement,
                        float32_convs=self.exported.float32_convs, float32_first=self.exported.float32_first,
                    )
                    with _LUMINANCE_LOCK:
                        _LUMINANCE_EXPORTS[self.exported] = exported
                if exported is None:
                    backend = export.check_backend(self.requested_backend or default_backend())
                    backend = "auto" if backend == "keras" else backend  # the colour model has an export
                    exported = export.fast_model(self.luminance, backend, name=f"{self.name}-luminance")
                    if exported is not None:
                        with _LUMINANCE_LOCK:
                            _LUMINANCE_EXPORTS[self.exported] = exported
            options = {k: v for k, v in self.options.items() if k != "color_mode"}
            self._gray = NeuralDenoiser(self.luminance, sigma=self.sigma, name=self.name, exported=exported, **options)
        return self._gray

    def denoise(self, image) -> np.ndarray:
        """Denoise ``(H, W, C)`` or ``(N, H, W, C)`` float32 in [0, 1], C 1 or 3; float32, same shape, in [0, 1]."""
        array = np.asarray(image)
        if array.ndim not in (3, 4) or self.options.get("runner", "compiled") != "compiled":
            return super().denoise(image)
        if array.shape[-1] == 1:
            return self.gray_denoiser().denoise(array)
        if array.shape[-1] == 3 and all(np.array_equal(array[..., 0], array[..., c]) for c in (1, 2)):
            return np.repeat(self.gray_denoiser().denoise(array[..., :1]), 3, axis=-1)
        return super().denoise(image)

    __call__ = denoise


def training_noise(name: str) -> str | None:
    """The noise spec a neural ``name`` was trained on (registry or run config), None if unknown.

    Shipped weights and the papers' networks: their registry ``noise``; a run folder: its
    ``config.json`` ``noise``; a ``.keras`` file or a classical method: None.
    """
    import json

    from . import pretrained, reference

    if name in pretrained.available():
        return pretrained.entry(name).get("noise")
    if name in reference.available():
        return reference.entry(name).get("noise")
    config = Path(name) / "config.json"
    if Path(name).is_dir() and config.is_file():
        try:
            return json.loads(config.read_text()).get("noise")
        except (OSError, ValueError):
            return None
    return None


def refuse_color_mode(name: str, options: dict) -> None:
    """``ValueError`` when ``options`` give a classical method ``name`` a colour path (``color_mode``)."""
    if options.get("color_mode") is not None:
        raise ValueError(
            f"color_mode applies to gray neural models on colour images; {name!r} is a classical method "
            "(it denoises colour images itself): leave color_mode out for it"
        )


def model_is_color(name: str) -> bool | None:
    """True/False for shipped weights and the papers' networks (their channel count), None for anything else."""
    from . import pretrained, reference

    if name in pretrained.available():
        return pretrained.channels(name) == 3
    if name in reference.available():
        return reference.channels(name) == 3
    return None


def denoise(image, sigma: float | None = None, model: str | None = None, **options):
    """Denoise ``image`` with ``model`` (by default :func:`default_model`).

    Parameters
    ----------
    image : ndarray
        float32 in [0, 1], ``(H, W, C)`` or ``(N, H, W, C)``, C 1 (gray) or 3 (RGB).
    sigma : float or None
        Noise level on the 0-255 scale for models and methods that take one (FFDNet, BM3D...);
        blind models ignore it.
    model : str or None
        Any name :func:`make_denoiser` takes; default :func:`default_model`.
    **options
        Denoiser options (``tile``, ``color_mode``, ``passes``...).

    Returns
    -------
    ndarray
        float32, the shape of ``image``, clipped to [0, 1].
    """
    import numpy as np

    if model is None:
        model = default_model()
    return np.clip(make_denoiser(model, sigma=sigma, **options).denoise(image), 0.0, 1.0).astype(np.float32)
