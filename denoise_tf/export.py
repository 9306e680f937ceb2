"""Fast CPU inference: fold BatchNorm, export to TFLite / SavedModel / ONNX, run the export.

* :func:`fold_batchnorm` returns a copy of a Keras model where every ``Conv -> BatchNormalization``
  pair (a linear conv whose output only feeds the BN) is one conv with a bias: ``W' = W * s``,
  ``b' = (b - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``. Same outputs (to float
  rounding), one op less per layer. Works on any functional or Sequential model (DnCNN, FFDNet,
  the dilated residual CNN, the U-Net); a BN that does not directly follow such a conv raises
  ``ValueError`` (``strict=False`` keeps it instead).
* :func:`export` writes ``format="tflite"`` (default; BN folded first, dynamic batch/height/
  width, so one file runs any image size), ``"saved_model"`` (a TF SavedModel folder with a
  ``serve`` endpoint) or ``"onnx"`` (needs the optional ``tf2onnx`` + ``onnx`` packages).
  TFLite ``quantize=``: ``None`` (float32), ``"float16"`` (fp16 weights), ``"dynamic"`` (int8
  weights, float activations) or ``"int8"`` (int8 weights and activations, calibrated on noisy
  patches of ``calibration`` images; the file keeps float32 inputs and outputs; an int8 model
  whose outputs agree with the float model's on those patches to less than
  :data:`INT8_MIN_AGREEMENT_DB` is refused). The model's
  name, channels, noise-level input and tiling geometry travel inside the file (TFLite
  metadata, ONNX metadata props, ``assets.extra/denoise_tf.json`` of a SavedModel).
* :func:`load_exported` returns an :class:`ExportedModel` that :func:`denoise_tf.inference.denoise`
  and :class:`~denoise_tf.inference.NeuralDenoiser` take like a Keras model (tiling, multi-pass,
  self-ensemble, sigma for FFDNet). TFLite runs on the LiteRT interpreter (``ai_edge_litert``
  when installed, else ``tf.lite.Interpreter``) with XNNPACK and ``num_threads`` threads.
* :func:`quantization_loss` measures PSNR of the Keras model and of an export on the same noisy
  images.
* The fast path: :func:`fast_model` gives the export a denoiser runs on for a ``backend`` of
  :data:`BACKENDS` (``"auto"``: the float32 TFLite export where TensorFlow runs, the model is
  large enough to gain and the export matches the Keras model within :data:`EXACT_ATOL` on a
  probe input; else the Keras path; for ``denoise`` and the web page, ``lower_precision=True``
  lets ``"auto"`` take the bfloat16 path of :mod:`denoise_tf.lowprecision` for shipped weights
  measured to lose under 0.02 dB with it, where the CPU has bfloat16 instructions; ``"bf16"``
  forces that path). :func:`cached_export` makes that export once per weights
  (sha256 of the architecture and weights, :func:`weights_digest`) under the user cache
  (:func:`export_folder`), with the file's own sha256 beside it.

Example::

    from denoise_tf import export, inference, pretrained
    model = pretrained.load("dncnn-s25")
    export.export(model, "dncnn-s25.tflite")
    fast = export.load_exported("dncnn-s25.tflite")
    clean = inference.denoise(fast, noisy, tile=256)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from .batchnorm import fold_batchnorm, has_batchnorm  # noqa: F401  (public: export.fold_batchnorm)
from .checksums import sha256

FORMATS = ("tflite", "saved_model", "onnx")
QUANTIZE = (None, "float16", "dynamic", "int8")
METADATA_NAME = "denoise_tf"
#: The least agreement (PSNR in dB of its outputs against the float model's, data range 1) an
#: ``int8`` export must reach on its own calibration inputs; below it :func:`export` writes nothing.
INT8_MIN_AGREEMENT_DB = 35.0
_SAVED_MODEL_META = Path("assets.extra") / "denoise_tf.json"


def _model_info(model) -> dict:
    from . import __version__
    from .inference import tile_geometry, model_channels, takes_level

    align, radius = tile_geometry(model)
    return {
        "name": model.name,
        "channels": model_channels(model),
        "takes_level": takes_level(model),
        "align": int(align),
        "radius": int(min(radius, 1 << 30)),
        "denoise_tf": __version__,
    }


def _input_specs(model, info: dict) -> list:
    import tensorflow as tf

    specs = [tf.TensorSpec((None, None, None, info["channels"]), tf.float32, name="image")]
    if info["takes_level"]:
        specs.append(tf.TensorSpec((None, 1), tf.float32, name="level"))
    return specs


def _endpoint(model, info: dict):
    if info["takes_level"]:
        return lambda image, level: model([image, level], training=False)
    return lambda image: model(image, training=False)


def _write_saved_model(model, info: dict, folder) -> None:
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", _endpoint(model, info), input_signature=_input_specs(model, info))
    archive.write_out(str(folder), verbose=False)


def _calibration_patches(images, info: dict, patch_size: int, count: int, sigma, seed: int) -> list:
    """Noisy calibration inputs: random crops of the clean images plus Gaussian noise at ``sigma``."""
    if isinstance(images, np.ndarray):
        images = list(images) if images.ndim == 4 else [images]
    images = [np.asarray(image, dtype=np.float32) for image in images]
    if not images:
        raise ValueError("calibration is empty: expected a few clean (H, W, C) float32 images in [0, 1]")
    for image in images:
        if image.ndim != 3 or image.shape[-1] != info["channels"]:
            raise ValueError(
                f"calibration images must be (H, W, {info['channels']}) float32 in [0, 1] (the model's channels), "
                f"got shape {image.shape}"
            )
    rng = np.random.default_rng(seed)
    low, high = (float(sigma), float(sigma)) if np.isscalar(sigma) else (float(sigma[0]), float(sigma[1]))
    samples = []
    for k in range(count):
        image = images[k % len(images)]
        h, w, _ = image.shape
        ph, pw = min(patch_size, h), min(patch_size, w)
        y, x = rng.integers(0, h - ph + 1), rng.integers(0, w - pw + 1)
        level = rng.uniform(low, high)
        patch = image[y : y + ph, x : x + pw] + rng.normal(0.0, level / 255.0, (ph, pw, image.shape[-1]))
        sample = {"image": patch[None].astype(np.float32)}
        if info["takes_level"]:
            sample["level"] = np.full((1, 1), level / 255.0, np.float32)
        samples.append(sample)
    return samples


def _convert_tflite(model, info: dict, quantize, samples) -> tuple[bytes, dict]:
    import tensorflow as tf

    notes = {}
    with tempfile.TemporaryDirectory() as folder:
        _write_saved_model(model, info, folder)

        def converter(ops):
            conv = tf.lite.TFLiteConverter.from_saved_model(folder)
            conv.target_spec.supported_ops = ops
            if quantize == "float16":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.target_spec.supported_types = [tf.float16]
            elif quantize == "dynamic":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
            elif quantize == "int8":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = lambda: iter(samples)
            return conv

        first = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] if quantize == "int8" else [tf.lite.OpsSet.TFLITE_BUILTINS]
        attempts = [first]
        if quantize == "int8":
            attempts.append([tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS])
        attempts.append([tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS])
        errors = []
        for ops in attempts:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the calibrator's tf.lite.Interpreter deprecation notice
                    content = converter(ops).convert()
            except Exception as error:  # converter errors are plain Exceptions / ConverterError
                message = str(error).strip()
                errors.append(f"{[o.name for o in ops]}: {message.splitlines()[-1] if message else repr(error)}")
                continue
            notes["ops"] = [o.name for o in ops]
            return content, notes
    raise RuntimeError(f"TFLite conversion of {model.name!r} failed: " + "; ".join(errors))


def _int8_agreement(model, content: bytes, samples) -> float:
    """PSNR (dB, data range 1) of an int8 TFLite model's outputs against ``model``'s, pooled over the calibration inputs."""
    from . import metrics

    runner = _TFLiteRunner(content, num_threads=2)
    squared, count = 0.0, 0
    for sample in samples:
        inputs = [sample["image"]] + ([sample["level"]] if "level" in sample else [])
        reference = np.asarray(model(inputs if len(inputs) == 2 else inputs[0], training=False), dtype=np.float64)
        fast = np.asarray(runner(*inputs), dtype=np.float64)
        squared += float(metrics.mse(reference, fast)) * reference.size
        count += reference.size
    mse = squared / max(count, 1)
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def _embed_tflite_metadata(content: bytes, meta: dict) -> bytes:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    obj.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(obj.buffers) - 1
    obj.metadata = [m for m in (obj.metadata or []) if m.name not in (METADATA_NAME, METADATA_NAME.encode())] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def _read_tflite_metadata(content: bytes) -> dict:
    from tensorflow.lite.python import schema_py_generated as schema

    root = schema.Model.GetRootAs(content, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        name = entry.Name()
        if (name.decode() if isinstance(name, bytes) else name) == METADATA_NAME:
            return json.loads(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode())
    return {}


def _write_onnx(model, info: dict, path: Path, meta: dict) -> None:
    try:
        import onnx
        import tf2onnx
    except ImportError as error:
        raise ImportError(
            f"format='onnx' needs the optional packages tf2onnx and onnx (and onnxruntime to run it): "
            f"pip install tf2onnx onnx onnxruntime ({error})"
        ) from error
    import tensorflow as tf

    specs = _input_specs(model, info)
    function = tf.function(_endpoint(model, info), input_signature=specs)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=specs, opset=17)
    onnx.helper.set_model_props(proto, {METADATA_NAME: json.dumps(meta)})
    onnx.save(proto, str(path))


def export(
    model,
    path,
    format: str = "tflite",
    quantize: str | None = None,
    calibration=None,
    *,
    sigma=25.0,
    calibration_patches: int = 64,
    patch_size: int = 64,
    fold: bool = True,
    overwrite: bool = False,
    seed: int = 0,
) -> Path:
    """Export a Keras denoising model for fast CPU inference.

    Parameters
    ----------
    model : keras.Model
        A denoising model (one input ``(N, H, W, C)``, or ``[noisy, level (N, 1)]``).
    path : str or PathLike
        Output file (``tflite``, ``onnx``) or folder (``saved_model``).
    format : {"tflite", "saved_model", "onnx"}
    quantize : {None, "float16", "dynamic", "int8"}
        TFLite only: float32, fp16 weights, int8 weights (dynamic range), or full int8
        (weights and activations; needs ``calibration``). Inputs and outputs stay float32.
    calibration : images
        Clean ``(H, W, C)`` float32 images in [0, 1] (a list or an ``(N, H, W, C)`` array) for
        ``quantize="int8"``; ``calibration_patches`` random ``patch_size`` crops of them, with
        Gaussian noise of ``sigma`` (0-255; a ``(low, high)`` pair draws it per patch, and
        level-input models get ``sigma / 255``), set the activation ranges.
    fold : bool
        Fold BatchNorm into the convs first (:func:`fold_batchnorm`, non-strict).
    overwrite : bool
        Replace an existing ``path``; otherwise an existing path raises ``FileExistsError``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        Unknown ``format`` or ``quantize``, ``quantize`` with a non-TFLite format, ``int8``
        without ``calibration``, calibration images of the wrong shape, an ``int8`` model that
        agrees with the float model to less than :data:`INT8_MIN_AGREEMENT_DB` on its
        calibration inputs (nothing is written then; the agreement is stored in the metadata,
        ``calibration.agreement_db``, otherwise).
    FileExistsError
        ``path`` exists and ``overwrite`` is False (or it is a folder that is not a SavedModel).
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}: expected one of {list(FORMATS)}")
    if quantize not in QUANTIZE:
        raise ValueError(f"unknown quantize {quantize!r}: expected one of {list(QUANTIZE)}")
    if quantize is not None and format != "tflite":
        raise ValueError(f"quantize={quantize!r} is for format='tflite' only, got format={format!r}")
    if quantize == "int8" and calibration is None:
        raise ValueError(
            "quantize='int8' needs calibration images: pass calibration= a few clean (H, W, C) float32 images in [0, 1]"
        )
    path = Path(path)
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists: pass overwrite=True to replace it")
        if path.is_dir() and not (path / "saved_model.pb").is_file():
            raise FileExistsError(f"{path} is a folder but not a SavedModel: refusing to replace it")
    info = _model_info(model)
    source = model
    if fold and has_batchnorm(model):
        model = fold_batchnorm(model, strict=False)
    meta = {**info, "format": format, "quantize": quantize, "batchnorm_folded": bool(fold and has_batchnorm(source))}
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "tflite":
        samples = None
        if quantize == "int8":
            samples = _calibration_patches(calibration, info, patch_size, calibration_patches, sigma, seed)
            meta["calibration"] = {"patches": len(samples), "patch_size": patch_size, "sigma": sigma}
        content, notes = _convert_tflite(model, info, quantize, samples)
        meta.update(notes)
        if quantize == "int8":
            agreement = _int8_agreement(model, content, samples)
            meta["calibration"]["agreement_db"] = round(agreement, 2)
            if agreement < INT8_MIN_AGREEMENT_DB:
                raise ValueError(
                    f"the int8 export of {source.name!r} agrees with the float model to only {agreement:.1f} dB PSNR on its "
                    f"{len(samples)} calibration inputs (expected at least {INT8_MIN_AGREEMENT_DB:g} dB): a few inputs that "
                    "drive some activations far beyond their usual range set the int8 scales; calibrate on other images, "
                    f"or use quantize='dynamic' or 'float16'. Nothing was written to {path}"
                )
        content = _embed_tflite_metadata(content, meta)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)
    elif format == "saved_model":
        with tempfile.TemporaryDirectory(dir=path.parent) as folder:
            staging = Path(folder) / "model"
            _write_saved_model(model, info, staging)
            (staging / _SAVED_MODEL_META).parent.mkdir(parents=True, exist_ok=True)
            (staging / _SAVED_MODEL_META).write_text(json.dumps(meta, indent=2))
            if path.exists():
                shutil.rmtree(path)
            shutil.move(str(staging), str(path))
    else:
        tmp = path.with_name(path.name + ".tmp")
        _write_onnx(model, info, tmp, meta)
        os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------
# Loading and running an export


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send what native code writes to file descriptor 2 to the null device for a moment.

    TFLite prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." from C++ when an
    interpreter first allocates its tensors, past Python's logging and ``TF_CPP_MIN_LOG_LEVEL``.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _TFLiteRunner:
    """``f(image[, level]) -> ndarray`` on a TFLite interpreter; resizes the inputs when the shape changes."""

    def __init__(self, content: bytes, num_threads: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            self.interpreter = _interpreter_class()(model_content=content, num_threads=num_threads)
        inputs = self.interpreter.get_input_details()
        by_rank = {len(d["shape_signature"]): d for d in inputs}
        if 4 not in by_rank or len(inputs) > 2:
            shapes = [d["shape_signature"].tolist() for d in inputs]
            raise ValueError(f"TFLite model inputs {shapes}: expected (N, H, W, C) [and (N, 1)]")
        self.image = by_rank[4]
        self.level = by_rank.get(2) if len(inputs) == 2 else None
        self.output = self.interpreter.get_output_details()[0]
        self.shapes = None
        self.lock = threading.Lock()

    @staticmethod
    def _quantize(detail, value):
        if detail["dtype"] in (np.int8, np.uint8, np.int16):
            scale, zero = detail["quantization"]
            info = np.iinfo(detail["dtype"])
            return np.clip(np.round(value / scale + zero), info.min, info.max).astype(detail["dtype"])
        return value.astype(detail["dtype"], copy=False)

    def __call__(self, image, level=None):
        image = np.ascontiguousarray(image, dtype=np.float32)
        if (level is None) != (self.level is None):
            raise ValueError(f"this model takes {'[image, level]' if self.level is not None else 'one image input'}")
        if level is not None:
            level = np.ascontiguousarray(np.reshape(level, (-1, 1)), dtype=np.float32)
        with self.lock:
            it = self.interpreter
            shapes = (image.shape, None if level is None else level.shape)
            if shapes != self.shapes:
                it.resize_tensor_input(self.image["index"], image.shape, strict=False)
                if level is not None:
                    it.resize_tensor_input(self.level["index"], level.shape, strict=False)
                if self.shapes is None:
                    with _native_stderr_silenced():  # the delegate's INFO line on first allocation
                        it.allocate_tensors()
                else:
                    it.allocate_tensors()
                self.shapes = shapes
            it.set_tensor(self.image["index"], self._quantize(self.image, image))
            if level is not None:
                it.set_tensor(self.level["index"], self._quantize(self.level, level))
            it.invoke()
            out = it.get_tensor(self.output["index"])
        if self.output["dtype"] != np.float32:
            scale, zero = self.output["quantization"]
            return ((out.astype(np.float32) - zero) * scale).astype(np.float32)
        return np.array(out, dtype=np.float32)


class _SavedModelRunner:
    def __init__(self, path: Path):
        import tensorflow as tf

        self.loaded = tf.saved_model.load(str(path))
        self.function = getattr(self.loaded, "serve", None) or self.loaded.signatures["serving_default"]

    def __call__(self, image, level=None):
        args = (image,) if level is None else (image, np.reshape(level, (-1, 1)).astype(np.float32))
        out = self.function(*[np.asarray(a, np.float32) for a in args])
        if isinstance(out, dict):
            out = next(iter(out.values()))
        return np.asarray(out, dtype=np.float32)


class _OnnxRunner:
    def __init__(self, path: Path, num_threads: int):
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError(f"running an ONNX export needs onnxruntime: pip install onnxruntime ({error})") from error
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        self.image = next(i.name for i in inputs if len(i.shape) == 4)
        self.level = next((i.name for i in inputs if len(i.shape) == 2), None)

    def __call__(self, image, level=None):
        feed = {self.image: np.asarray(image, np.float32)}
        if self.level is not None:
            feed[self.level] = np.reshape(level, (-1, 1)).astype(np.float32)
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


class _InputSpec:
    """Stands in for a Keras input tensor: ``shape`` and ``name``."""

    def __init__(self, shape, name):
        self.shape = tuple(shape)
        self.name = name
        self.dtype = "float32"

    def __repr__(self):
        return f"<input {self.name} shape={self.shape}>"


def _numpy_call(runner):
    """The ``compiled_call`` function of an export (holds the runner, not the model)."""

    def call(*inputs):
        return runner(inputs[0], inputs[1] if len(inputs) > 1 else None)

    return call


class ExportedModel:
    """An exported denoiser that :func:`denoise_tf.inference.denoise` accepts like a Keras model.

    Attributes: ``name``, ``format``, ``quantize``, ``path``, ``metadata`` (what :func:`export`
    stored), ``inputs`` (``[image]`` or ``[image, level]`` with ``.shape``), ``geometry``
    (``(alignment, receptive radius)``, the tiling constraints). Calling it (or
    ``predict_on_batch``) on ``(N, H, W, C)`` float32 (``[noisy, level]`` for level models)
    returns the raw ``(N, H, W, C)`` float32 output.
    """

    def __init__(self, runner, metadata: dict, path: Path, channels: int | None, takes_level: bool, name=None):
        self._run = runner
        self.metadata = dict(metadata)
        self.path = Path(path)
        self.format = metadata.get("format")
        self.quantize = metadata.get("quantize")
        self.name = name or metadata.get("name") or self.path.stem
        self.inputs = [_InputSpec((None, None, None, channels), "image")]
        if takes_level:
            self.inputs.append(_InputSpec((None, 1), "level"))
        # Without stored geometry: tile positions on multiples of 8 suit any 2/4/8 down-sampling.
        self.geometry = (int(metadata.get("align", 8)), int(metadata.get("radius", 1 << 30)))
        #: ``f(noisy[, level]) -> ndarray``, the export's compiled call (holds the runner, not ``self``).
        self.numpy_call = _numpy_call(runner)

    def __call__(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            return self._run(*inputs)
        return self._run(inputs)

    def predict_on_batch(self, inputs):
        return self(inputs)

    def __repr__(self):
        return f"ExportedModel({self.name!r}, format={self.format!r}, quantize={self.quantize!r}, path='{self.path}')"


def load_exported(path, num_threads: int = 2, name: str | None = None) -> ExportedModel:
    """Load what :func:`export` wrote (a ``.tflite`` / ``.onnx`` file or a SavedModel folder).

    Parameters
    ----------
    num_threads : int
        CPU threads of the TFLite interpreter (XNNPACK) or the ONNX Runtime session.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    ValueError
        ``path`` is not a TFLite flatbuffer, an ONNX file or a SavedModel folder.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no exported model at {path}: expected a .tflite or .onnx file or a SavedModel folder")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise ValueError(f"{path} is a folder without saved_model.pb: expected a SavedModel folder")
        meta_file = path / _SAVED_MODEL_META
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {"format": "saved_model"}
        runner = _SavedModelRunner(path)
        channels = meta.get("channels")
        takes_level = bool(meta.get("takes_level", False))
        return ExportedModel(runner, meta, path, channels, takes_level, name)
    content = path.read_bytes()
    if content[4:8] == b"TFL3":
        meta = {"format": "tflite", **_read_tflite_metadata(content)}
        runner = _TFLiteRunner(content, num_threads)
        channels = int(runner.image["shape_signature"][-1])
        return ExportedModel(runner, meta, path, channels, runner.level is not None, name)
    if path.suffix.lower() == ".onnx":
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        props = {p.key: p.value for p in proto.metadata_props}
        meta = {"format": "onnx", **json.loads(props.get(METADATA_NAME, "{}"))}
        runner = _OnnxRunner(path, num_threads)
        channels = meta.get("channels")
        return ExportedModel(runner, meta, path, channels, runner.level is not None, name)
    raise ValueError(f"{path}: not a TFLite flatbuffer (no TFL3 identifier), an .onnx file or a SavedModel folder")


# --------------------------------------------------------------------------------------------
# Accuracy of an export


def quantization_loss(model, exported, images, sigma: float = 25.0, seed: int = 0, **options) -> dict:
    """PSNR of the Keras model and of its export on the same noisy images.

    ``images``: clean ``(H, W, C)`` float32 images in [0, 1] (a list, or an ``(N, H, W, C)``
    array); image ``k`` gets Gaussian noise of ``sigma`` (0-255) from seed ``[seed, k]`` (not
    clipped). ``exported``: an :class:`ExportedModel` or a path. ``options`` go to
    :func:`denoise_tf.inference.denoise` for both (``tile``, ``overlap``...).

    Returns
    -------
    dict
        ``psnr_noisy``, ``psnr_keras``, ``psnr_exported`` (means over the images, dB),
        ``difference`` (``psnr_keras - psnr_exported``: the loss of the export, positive when
        it is worse), ``psnr_between`` (exported output against the Keras output), ``images``,
        ``sigma``.
    """
    from .inference import denoise
    from .metrics import psnr

    if not isinstance(exported, ExportedModel):
        exported = load_exported(exported)
    if isinstance(images, np.ndarray):
        images = list(images) if images.ndim == 4 else [images]
    rows = []
    for k, clean in enumerate(images):
        clean = np.asarray(clean, dtype=np.float32)
        rng = np.random.default_rng([seed, k])
        noisy = (clean + rng.normal(0.0, sigma / 255.0, clean.shape)).astype(np.float32)
        reference = denoise(model, noisy, sigma=sigma, **options)
        fast = denoise(exported, noisy, sigma=sigma, **options)
        rows.append(
            (
                float(psnr(clean, np.clip(noisy, 0, 1))),
                float(psnr(clean, reference)),
                float(psnr(clean, fast)),
                float(psnr(reference, fast)) if not np.array_equal(reference, fast) else float("inf"),
            )
        )
    noisy_db, keras_db, export_db, between = (float(np.mean(column)) for column in zip(*rows))
    return {
        "psnr_noisy": noisy_db,
        "psnr_keras": keras_db,
        "psnr_exported": export_db,
        "difference": keras_db - export_db,
        "psnr_between": between,
        "images": len(rows),
        "sigma": float(sigma),
    }



# --------------------------------------------------------------------------------------------
# The fast path: a cached float32 TFLite export per weights, used where it is exact

#: Inference paths a denoiser can take: ``"auto"`` (the TFLite export where it is available
#: and exact, else Keras; see :func:`fast_model` for the bfloat16 path it may take), ``"keras"``
#: (the model's compiled call), ``"tflite"`` (always the export; refused where TensorFlow is
#: missing) or ``"bf16"`` (the bfloat16 copy of :mod:`denoise_tf.lowprecision`; refused on a CPU
#: without bfloat16 instructions).
BACKENDS = ("auto", "keras", "tflite", "bf16")
#: The paths whose outputs match the Keras float32 model within :data:`EXACT_ATOL` (evaluation
#: takes only these).
EXACT_BACKENDS = ("auto", "keras", "tflite")
#: ``"auto"`` keeps smaller models on Keras: their export (seconds, once per weights) would
#: cost more than it saves.
FAST_MIN_PARAMS = 50_000
#: Largest difference (float32, [0, 1] scale) between the export and the Keras model on a probe
#: input for ``"auto"`` to take the export.
EXACT_ATOL = 1e-4
_PROBE_SIZE = 64


def check_backend(backend: str) -> str:
    """``backend`` when it is one of :data:`BACKENDS`; ``ValueError`` otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    return backend


def tflite_unavailable() -> str | None:
    """Why the TFLite path cannot run here (a sentence), or None when it can.

    It needs Keras on the TensorFlow backend (the export traces the model with TensorFlow) and
    an importable ``tensorflow``.
    """
    from .hardware import tensorflow_unavailable

    return tensorflow_unavailable("the TFLite path")


def weights_digest(model) -> str:
    """Hex sha256 of a Keras model's architecture (class, name, layer configs) and weights.

    Two models with the same layers and the same weight values share it; any changed weight
    changes it. Costs about 20 ms for a 0.56M-parameter DnCNN.
    """
    import hashlib

    digest = hashlib.sha256()
    try:
        config = json.dumps(model.get_config(), sort_keys=True, default=str)
    except Exception:  # a model without a serializable config: its layer classes and names
        config = ";".join(f"{type(layer).__name__}:{layer.name}" for layer in model._flatten_layers(include_self=False))
    digest.update(f"{type(model).__name__}|{model.name}|{config}".encode())
    for weight in model.get_weights():
        weight = np.ascontiguousarray(weight)
        digest.update(f"{weight.dtype}{weight.shape}".encode())
        digest.update(weight.tobytes())
    return digest.hexdigest()


def export_folder() -> Path:
    """Where :func:`cached_export` keeps its files: ``exports/`` in the user cache (:func:`denoise_tf.datasets.cache_dir`)."""
    from .datasets import cache_dir

    return cache_dir() / "exports"


def _export_intact(path: Path, digest_file: Path) -> bool:
    """True when the cached export exists and matches the sha256 written beside it."""
    if not path.is_file():
        return False
    try:
        recorded = digest_file.read_text(encoding="ascii").split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        recorded = None
    if recorded is not None and recorded == sha256(path):
        return True
    warnings.warn(
        f"cached export {path} does not match its sha256 ({digest_file.name} "
        f"{'differs' if recorded else 'missing'}): exporting it again",
        stacklevel=3,
    )
    return False


def _probe_inputs(model) -> tuple:
    from .inference import model_channels, takes_level

    channels = model_channels(model) or 1
    rng = np.random.default_rng(0)
    image = np.clip(0.5 + 0.3 * rng.standard_normal((1, _PROBE_SIZE, _PROBE_SIZE, channels)), 0, 1).astype(np.float32)
    return (image, np.full((1, 1), 25 / 255, np.float32)) if takes_level(model) else (image,)


def export_difference(model, exported) -> float:
    """Largest absolute difference between ``exported`` and ``model`` on a fixed 64x64 probe input."""
    from .inference import compiled_call

    inputs = _probe_inputs(model)
    return float(np.abs(np.asarray(exported.numpy_call(*inputs)) - compiled_call(model)(*inputs)).max())


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def cached_export(model, name: str | None = None, folder=None, digest: str | None = None, num_threads: int | None = None) -> ExportedModel:
    """The float32 TFLite export of ``model`` (BN folded, XNNPACK), made once per weights and cached.

    The file is ``<folder>/<name>-<sha256[:16]>.tflite`` (``folder`` default
    :func:`export_folder`; the hash :func:`weights_digest` of the model, or ``digest``). Its own
    sha256 is written beside it (``<file>.sha256``) when it is made; a cached file whose hash
    differs (changed or damaged since) or has none is exported again, never loaded. A new export
    is checked against the Keras model on a probe input (:func:`export_difference`); one further
    off than :data:`EXACT_ATOL` is not cached and raises ``ValueError``. ``num_threads``: the
    interpreter's threads (default: the CPU cores this process may use).

    Raises
    ------
    ValueError
        The export is not exact (the difference is in the message).
    RuntimeError
        The TFLite converter failed.
    """
    folder = Path(folder) if folder is not None else export_folder()
    digest = digest or weights_digest(model)
    num_threads = num_threads or _cores()
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name or model.name))[:60]
    path = folder / f"{stem}-{digest[:16]}.tflite"
    digest_file = path.with_name(path.name + ".sha256")
    if not _export_intact(path, digest_file):
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.part.tflite")
        partial_digest = partial.with_suffix(".sha256")
        try:
            export(model, partial, overwrite=True)
            difference = export_difference(model, load_exported(partial, num_threads=num_threads))
            if not difference <= EXACT_ATOL:
                raise ValueError(
                    f"the TFLite export of {model.name!r} differs from the Keras model by {difference:.2g} on a probe "
                    f"input (more than {EXACT_ATOL:g}): not used"
                )
            partial_digest.write_text(f"{sha256(partial)}  {path.name}\n", encoding="ascii")
            # atomic renames: a killed export leaves no half file under the final names; the hash
            # goes first, so a model file never sits beside another file's hash for long
            os.replace(partial_digest, digest_file)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
            partial_digest.unlink(missing_ok=True)
    return load_exported(path, num_threads=num_threads, name=name)


#: (weights sha256, name) of exports that failed: ``"auto"`` does not retry them in this process.
_FAILED: dict[tuple, str] = {}


def fast_model(model, backend: str = "auto", name: str | None = None, folder=None, lower_precision: bool = False):
    """The export a denoiser of ``model`` runs on under ``backend``, or None for the Keras path.

    ``"keras"``: None. ``"tflite"``: :func:`cached_export` (errors raise). ``"bf16"``: the
    bfloat16 path (:func:`denoise_tf.lowprecision.load`; refused where it cannot run).
    ``"auto"``: the cached export when the TFLite path runs here (:func:`tflite_unavailable`),
    the model has at least :data:`FAST_MIN_PARAMS` parameters and the export is exact; None
    otherwise, without a word (the Keras path gives the same outputs, more slowly). A model
    that is already an export (:class:`ExportedModel`) returns None: it runs as it is.

    ``lower_precision``: ``model`` is the shipped weights ``name`` and runs for ``denoise`` or
    the web page, where a PSNR cost under 0.02 dB is accepted. ``"auto"`` then takes the bfloat16
    path where it runs here (:func:`denoise_tf.lowprecision.unavailable`: a CPU with bfloat16
    instructions) and the weights are adopted (:func:`denoise_tf.lowprecision.adopted`: measured,
    under 0.02 dB on BSD68, faster); elsewhere nothing changes. Evaluation never passes it.

    Raises
    ------
    ValueError
        Unknown ``backend``; ``"tflite"`` or ``"bf16"`` where it cannot run (the reason in the
        message) or a TFLite export that is not exact.
    """
    check_backend(backend)
    if backend == "keras" or isinstance(model, ExportedModel) or getattr(model, "numpy_call", None) is not None:
        return None
    if backend == "bf16" or (backend == "auto" and lower_precision):
        from . import lowprecision

        if backend == "bf16":
            return lowprecision.load(model, name=name)
        key = ("bf16", name)
        if name is not None and key not in _FAILED and lowprecision.unavailable() is None and lowprecision.adopted(name):
            try:
                return lowprecision.load(model, name=name)
            except Exception as error:  # the float32 path below gives the exact outputs
                _FAILED[key] = f"{type(error).__name__}: {error}"
    reason = tflite_unavailable()
    if reason is not None:
        if backend == "tflite":
            raise ValueError(f"backend='tflite' cannot run here: {reason}; use backend='auto' or 'keras'")
        return None
    if backend == "auto" and model.count_params() < FAST_MIN_PARAMS:
        return None
    digest = weights_digest(model)
    key = (digest, name)
    if backend == "auto" and key in _FAILED:
        return None
    try:
        return cached_export(model, name=name, folder=folder, digest=digest)
    except Exception as error:
        if backend == "tflite":
            raise
        _FAILED[key] = f"{type(error).__name__}: {error}"
        return None


def describe(exported) -> str:
    """How a denoiser runs, in words: ``"tflite (XNNPACK float32, <file>)"`` for an export, ``"bf16 (...)"``, else the Keras path."""
    if exported is not None and getattr(exported, "format", None) == "bf16":
        return exported.describe()
    if exported is not None:
        return f"tflite (XNNPACK float32, {exported.path})"
    import keras

    compiled = {"tensorflow": "tf.function", "jax": "jax.jit"}.get(keras.backend.backend(), "predict_on_batch")
    return f"keras ({compiled})"


__all__ = [
    "BACKENDS",
    "EXACT_ATOL",
    "EXACT_BACKENDS",
    "FAST_MIN_PARAMS",
    "FORMATS",
    "QUANTIZE",
    "ExportedModel",
    "cached_export",
    "check_backend",
    "describe",
    "export",
    "export_difference",
    "export_folder",
    "fast_model",
    "fold_batchnorm",
    "has_batchnorm",
    "load_exported",
    "quantization_loss",
    "tflite_unavailable",
    "weights_digest",
]
