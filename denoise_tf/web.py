"""A Gradio web demo: denoise your own photo (or a bundled sample) in the browser.

``python -m denoise_tf demo --web`` serves it on http://127.0.0.1:7860 (``--port``, ``--share``);
from a notebook or Colab, ``from denoise_tf import web; web.launch()`` shows it inline.

The page takes an uploaded image (or a bundled sample from :func:`denoise_tf.demo.sample_images`),
optionally adds synthetic noise (a kind from :func:`denoise_tf.noise.available` and the strength
of its first numeric parameter, seeded), runs a denoiser (shipped weights from
:func:`denoise_tf.pretrained.available`, the papers' own networks from
:func:`denoise_tf.reference.available`, fetched on first use, and classical methods from
:func:`denoise_tf.classical.available`, all listed from their registries) and shows original /
noisy / denoised side by side, a before/after slider (``gr.ImageSlider`` where the installed
Gradio has it), PSNR/SSIM when a clean reference exists (the clean image behind synthetic noise,
or an uploaded reference), the time taken and a download button for the result.

Large images (a side over :data:`TILE` pixels) run through tiled inference
(:func:`denoise_tf.inference.denoise` with ``tile=TILE``) under a progress bar. Images over
:data:`DEFAULT_MAX_PIXELS` (16 megapixels) are refused with a message; raise the limit with the
``DENOISE_TF_WEB_MAX_PIXELS`` environment variable or ``build_app(max_pixels=...)``.

Input handling (every problem becomes a message in the page's status box; the app keeps
serving): uploads go through the package's one image reader (:func:`denoise_tf.images.read`),
which checks the format and the pixel limit from the file's header before decoding, so an image
over the limit is refused without being decoded whatever its name; a file that is not an image or
is corrupt is refused; a 16-bit PNG/TIFF is scaled by 65535 (and the result saved as 16-bit PNG);
an alpha channel is dropped; a colour image given to a gray model is denoised in the opponent
colour space (one luminance and two chroma planes, see :func:`denoise_tf.zoo.make_denoiser`);
a gray image given to a colour model is repeated to RGB and the result converted back to gray
(the opponent-space colour model runs it once through its shared gray network instead).

Files: uploads over :data:`DEFAULT_MAX_FILE_SIZE` (128 MiB; ``DENOISE_TF_WEB_MAX_FILE_SIZE`` or
``launch(max_file_size=...)``) are stopped by Gradio while they arrive. Everything the app writes
(its results and, unless ``GRADIO_TEMP_DIR`` is set, Gradio's uploads and cached outputs) lives in
one temporary folder per process (:func:`app_folder`), removed when the server stops and at exit.
Each request's own files are removed when the request ends (Gradio keeps the copies it serves,
for :data:`CACHE_SECONDS`); an upload that was refused is removed at once.

Speed: the neural models run on the fast inference path (:func:`exported_model`: the float32
TFLite export, cached per weights sha256 in the user cache, where it is available and matches
Keras within 1e-4; on a CPU with bfloat16 instructions the bfloat16 path of
:mod:`denoise_tf.lowprecision` for the shipped weights measured to lose under 0.02 dB with it;
``$DENOISE_TF_BACKEND=keras`` forces Keras), warmed up at start-up. Each
request records what its stages cost (:data:`STAGES`: decode, noise, sigma estimate, denoise,
metrics, PNG encoding of each output, Gradio cache copies; ``benchmarks/bench_web_stages.py``
adds upload, queue and download). An output that equals another is written once (the noisy
view of an image used as it is, the denoised view and the 8-bit download).

The processing is in plain functions (:func:`load_image`, :func:`process`...) that the tests call
without a browser; Gradio is imported only by :func:`build_app` / :func:`launch`.
"""

from __future__ import annotations

import atexit
import collections
import functools
import itertools
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Environment variable that overrides :data:`DEFAULT_MAX_PIXELS`.
ENV_MAX_PIXELS = "DENOISE_TF_WEB_MAX_PIXELS"
#: Largest image (height x width) the app accepts unless raised: 16 megapixels.
DEFAULT_MAX_PIXELS = 16_000_000
#: Environment variable that overrides :data:`DEFAULT_MAX_FILE_SIZE` (bytes, or "50mb").
ENV_MAX_FILE_SIZE = "DENOISE_TF_WEB_MAX_FILE_SIZE"
#: Largest upload in bytes (128 MiB: a 16-megapixel 16-bit RGBA TIFF without compression fits).
DEFAULT_MAX_FILE_SIZE = 128 * 2**20
#: Gradio's copies of uploads and results older than this (seconds) are removed, checked as often.
CACHE_SECONDS = 3600
#: Images with a side longer than this run tiled (tiles of TILE x TILE, 32 pixels overlap).
TILE = 512
#: Noise choice meaning "use the image as it is".
NO_NOISE = "none"
#: Sliders stop at 10x the default for parameters whose allowed range is huge (Poisson peak).
_HUGE = 1000.0


class InputError(ValueError):
    """A problem with the user's input, shown as a message in the page."""


# --------------------------------------------------------------------------------------------
# Registries


def max_pixels(value: int | None = None) -> int:
    """The pixel limit: ``value``, else ``$DENOISE_TF_WEB_MAX_PIXELS``, else :data:`DEFAULT_MAX_PIXELS`."""
    if value is None:
        text = os.environ.get(ENV_MAX_PIXELS, "").strip()
        if not text:
            return DEFAULT_MAX_PIXELS
        try:
            value = int(float(text))
        except ValueError:
            raise ValueError(f"{ENV_MAX_PIXELS} must be a number of pixels, got {text!r}") from None
    if value < 1:
        raise ValueError(f"max_pixels must be >= 1, got {value}")
    return int(value)


_SIZE_UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30}


def max_file_size(value: int | str | None = None) -> int:
    """The upload limit in bytes: ``value``, else ``$DENOISE_TF_WEB_MAX_FILE_SIZE``, else :data:`DEFAULT_MAX_FILE_SIZE`.

    A text value is a number of bytes with an optional unit (``"50mb"``, ``"2gb"``; units of 1024).
    """
    name = "max_file_size"
    if value is None:
        value = os.environ.get(ENV_MAX_FILE_SIZE, "").strip() or DEFAULT_MAX_FILE_SIZE
        name = ENV_MAX_FILE_SIZE
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9.e+]+)\s*([kmg]?b)?\s*", value.lower())
        try:
            value = float(match.group(1)) * _SIZE_UNITS[match.group(2) or "b"]
        except (AttributeError, ValueError):
            raise ValueError(f"{name} must be a number of bytes such as 134217728 or '128mb', got {value!r}") from None
    if not value >= 1:
        raise ValueError(f"{name} must be >= 1 byte, got {value}")
    return int(value)


_upload_limit = max_file_size  # for functions whose ``max_file_size`` argument shadows the function


def denoiser_names() -> list[str]:
    """Shipped neural weights, the papers' networks (``paper/...``), then the classical methods (each sorted)."""
    from . import classical, pretrained, reference

    return list(pretrained.available()) + reference.available() + sorted(classical.available())


def denoiser_choices() -> list[tuple[str, str]]:
    """``(label, name)`` pairs for the denoiser menu, from the registries.

    A paper's network not yet in the user cache says how much its first use downloads.
    """
    from . import pretrained, reference

    neural = set(pretrained.available())

    def label(n: str) -> str:
        if n in reference.available():
            cached = reference.is_cached(n)
            return f"{n} (the paper's network{'' if cached else f', downloads {reference.size_mb(n):.1f} MB on first use'})"
        return f"{n} ({'neural' if n in neural else 'classical'})"

    return [(label(n), n) for n in denoiser_names()]


def default_denoiser() -> str:
    from .demo import default_model

    return default_model()


def noise_choices() -> list[str]:
    """:data:`NO_NOISE` and the noise kinds of :func:`denoise_tf.noise.available`."""
    from . import noise

    return [NO_NOISE] + list(noise.available())


def strength_param(kind: str) -> dict | None:
    """The "strength" knob of a noise kind: its first numeric parameter with a scalar default.

    Returns ``{"name", "low", "high", "default", "step", "doc"}`` or None (no such parameter,
    e.g. ``mixed``, or :data:`NO_NOISE`).
    """
    from . import noise

    if kind == NO_NOISE:
        return None
    kinds = noise.available()
    if kind not in kinds:
        raise InputError(f"unknown noise kind {kind!r}: expected one of {noise_choices()}")
    for name, p in kinds[kind].items():
        default = p["default"]
        if p["type"] not in ("float", "int") or isinstance(default, (tuple, list)) or default is None:
            continue
        if p["low"] is None or p["high"] is None:
            continue
        low, high = float(p["low"]), float(p["high"])
        if high - low > _HUGE and default > 0:
            high = min(high, 10.0 * float(default))
        step = 1.0 if p["type"] == "int" or high - low > 20 else (high - low) / 100.0
        return {"name": name, "low": low, "high": high, "default": float(default), "step": step, "doc": p["doc"]}
    return None


def noise_spec(kind: str, strength: float | None = None) -> str | None:
    """The noise spec text for ``kind`` at ``strength`` (its :func:`strength_param`); None for no noise."""
    if kind in (None, "", NO_NOISE):
        return None
    param = strength_param(kind)
    if param is None or strength is None:
        return kind
    value = min(max(float(strength), param["low"]), param["high"])
    if param["step"] == 1.0 and float(value).is_integer():
        value = int(value)
    return f"{kind}:{param['name']}={value}"


@dataclass(frozen=True)
class DenoiserInfo:
    name: str
    neural: bool
    channels: int | None  # 1 or 3 for neural models, None for classical (either)
    level_input: bool  # takes a noise-level input (FFDNet): the sigma knob is required
    uses_sigma: bool  # sigma matters (level-input models, classical methods that use it)


def denoiser_info(name: str) -> DenoiserInfo:
    """What the page needs to know about a denoiser (from the registries; no model is built)."""
    from . import classical, pretrained, reference

    if name in pretrained.available():
        entry = pretrained.entry(name)
        level = entry.get("model", "") == "ffdnet" or "ffdnet" in name
        channels = pretrained.entry_channels(entry)
        return DenoiserInfo(name, True, channels, level, level)
    if name in reference.available():
        level = reference.entry(name)["model"] == "ffdnet"
        return DenoiserInfo(name, True, reference.channels(name), level, level)
    if name in classical.available():
        return DenoiserInfo(name, False, None, False, classical.takes_sigma(name))
    raise InputError(f"unknown denoiser {name!r}: expected one of {denoiser_names()}")


_LOAD_LOCK = threading.RLock()


@functools.lru_cache(maxsize=None)
def _model(name: str):
    from . import pretrained, reference

    return reference.load(name) if name in reference.available() else pretrained.load(name)


def load_model(name: str):
    """The Keras model of shipped weights ``name``, built once per process."""
    with _LOAD_LOCK:
        return _model(name)


@functools.lru_cache(maxsize=None)
def _export(name: str, backend: str):
    from . import export, pretrained

    return export.fast_model(load_model(name), backend, name=name, lower_precision=name in pretrained.available())


def exported_model(name: str):
    """The export shipped model ``name`` runs on (made once per process), or None for the Keras path.

    The inference path is :func:`denoise_tf.zoo.default_backend` (``$DENOISE_TF_BACKEND``;
    ``auto``: the float32 TFLite export cached per weights sha256 in the user cache where it is
    available and exact, or for shipped weights adopted for it the bfloat16 path where the CPU
    has bfloat16 instructions, see :func:`denoise_tf.export.fast_model`).
    """
    from .zoo import default_backend

    with _LOAD_LOCK:
        return _export(name, default_backend())


def backend_label(name: str) -> str:
    """``"tflite"``, ``"bf16"`` or ``"keras"``: the path a neural ``name`` runs on here."""
    exported = exported_model(name)
    return "keras" if exported is None else str(getattr(exported, "format", None) or "tflite")


# --------------------------------------------------------------------------------------------
# Reading inputs


def load_image(path, limit: int | None = None, max_bytes: int | None = None) -> tuple[np.ndarray, dict, list[str]]:
    """Read an uploaded file: ``(image float32 (H, W, C) in [0, 1], info, notes)``.

    The file goes through :func:`denoise_tf.images.read`, which checks the format and the pixel
    limit (:func:`max_pixels`) from the header before decoding anything. ``info`` holds
    ``format``, ``width``, ``height``, ``channels``, ``bits`` (8, 16 or 32 for floating point)
    and ``alpha``; ``notes`` tell about conversions (16-bit, floating point, alpha).

    Raises :class:`InputError` for a missing, empty, non-image or corrupt file, a file over
    ``max_bytes`` (default :func:`max_file_size`) and an image over the pixel limit.
    """
    from . import images

    if path is None:
        raise InputError("no image: upload one or pick a sample")
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InputError(f"{name}: file not found (upload it again)")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{name}: the file is empty")
    max_bytes = max_file_size(max_bytes)
    if size > max_bytes:
        raise InputError(f"{name}: {size / 2**20:.1f} MiB is over the upload limit of {max_bytes / 2**20:g} MiB ({ENV_MAX_FILE_SIZE})")
    limit = max_pixels(limit)
    try:
        image, found = images.read(path, color=None, max_pixels=limit)
    except images.ImageTooLargeError as error:
        raise InputError(_too_large(name, error.width, error.height, limit)) from None
    except (ValueError, OSError) as error:
        text = str(error)
        for part in (f": {path}", f"{path}: "):
            text = text.replace(part, "")
        if not text.startswith("not a readable image"):
            text = f"not a readable image: {text}"
        raise InputError(f"{name}: {text}") from None
    info = {"format": found.format, "width": found.width, "height": found.height,
            "channels": found.channels, "bits": found.bits, "alpha": found.alpha}
    notes = []
    if found.bits == 16:
        notes.append("16-bit image: scaled by 65535 (the result is saved as a 16-bit PNG)")
    elif found.floating:
        notes.append("floating-point image: clipped to [0, 1] (the result is saved as a 16-bit PNG)")
    elif found.header_bits is not None and found.header_bits < 8:
        notes.append(f"{found.header_bits}-bit image: read as 8-bit")
    if found.alpha:
        notes.append("alpha channel dropped (not composited)")
    if not np.all(np.isfinite(image)):
        raise InputError(f"{name}: the image contains NaN or infinite values")
    return image, info, notes


def _too_large(name: str, width: int, height: int, limit: int) -> str:
    return (
        f"{name}: {width}x{height} = {width * height / 1e6:.1f} megapixels is over the limit of "
        f"{limit / 1e6:g} megapixels; raise it with the {ENV_MAX_PIXELS} environment variable "
        "or build_app(max_pixels=...)"
    )


@functools.lru_cache(maxsize=1)
def _samples() -> tuple[tuple, tuple]:
    from .demo import sample_images

    images, names = sample_images(None, limit=100)
    return tuple(images), tuple(names)


def sample_names() -> list[str]:
    return list(_samples()[1])


def load_sample(name: str) -> np.ndarray:
    """A bundled sample image by file name (its own channels; read once per process, a copy each call)."""
    images, names = _samples()
    if name not in names:
        raise InputError(f"unknown sample {name!r}: expected one of {list(names)}")
    return images[names.index(name)].copy()


# --------------------------------------------------------------------------------------------
# Processing


@dataclass
class Result:
    """Everything the page shows for one request."""

    original: np.ndarray
    noisy: np.ndarray  # the denoiser's input (may leave [0, 1] for Gaussian noise)
    denoised: np.ndarray
    model: str
    reference: np.ndarray | None = None
    spec: str | None = None
    sigma: float | None = None
    tiled: bool = False
    seconds: float = 0.0  # denoiser only
    total_seconds: float = 0.0
    notes: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)  # noisy_psnr, noisy_ssim, psnr, ssim (with a reference)
    stages: dict = field(default_factory=dict)  # seconds per stage of the request (STAGES)
    backend: str | None = None  # "tflite", "bf16" or "keras" for neural models


#: The stage timings of the last requests, newest last: ``{"request", "model", "stages": {name: s}}``.
#: Stages: ``decode`` (the upload read), ``noise``, ``sigma`` (estimate), ``prepare`` (checks,
#: the model's path), ``denoise``,
#: ``metrics``, ``png result`` (the download file), ``png <view>`` (each view written), ``cache``
#: (Gradio's copies), ``handler`` (all of the page's own work for the request).
STAGES: "collections.deque[dict]" = collections.deque(maxlen=100)


def match_channels(image: np.ndarray, channels: int | None, model: str) -> tuple[np.ndarray, str | None]:
    """How an image meets a model's channel count: ``(image, note)``.

    Colour to a gray model: denoised along the model's colour path
    (:func:`denoise_tf.zoo.gray_colour_path`: the opponent luminance and chroma channels, see
    :mod:`denoise_tf.colour`). Gray to a colour model: repeated to RGB (converted back after
    denoising).
    """
    have = image.shape[-1]
    if channels is None or channels == have:
        return image, None
    if channels == 1 and have == 3:
        from . import colour, pretrained, reference, zoo

        neural = model in pretrained.available() or model in reference.available()
        mode = zoo.gray_colour_path(load_model(model), model) if neural else colour.DEFAULT
        return image, f"colour image, gray model {model}: denoised along the {colour.LABELS[mode]} colour path"
    if channels == 3 and have == 1:
        from . import pretrained, reference, zoo

        neural = model in pretrained.available() or model in reference.available()
        if neural and zoo.luminance_model(load_model(model)) is not None:
            return image, f"gray image, colour model {model}: denoised as its own luminance, in one pass of the shared gray network"
        return image, f"gray image, colour model {model}: repeated to RGB, the result converted back to gray"
    raise InputError(f"{model} expects {channels} channel(s), the image has {have}")


def run_denoiser(model: str, noisy: np.ndarray, sigma: float | None = None, tile: int | None = None, progress: bool = False) -> np.ndarray:
    """Denoise one ``(H, W, C)`` image with a shipped model or a classical method.

    The neural denoiser is :func:`denoise_tf.zoo.neural_denoiser` of the model this page
    loaded once (:func:`load_model`), so channels meet the model as :func:`match_channels` says;
    ``tile`` is passed to :func:`denoise_tf.inference.denoise` (neural models only).
    """
    from . import classical, zoo

    info = denoiser_info(model)
    if not info.neural:
        return classical.get(model, sigma=sigma).denoise(noisy)
    options = {"tile": tile, "overlap": min(32, tile // 2)} if tile else {}
    exported = exported_model(model)
    backend = "keras" if exported is None else None  # the choice is made once, by exported_model
    denoiser = zoo.neural_denoiser(load_model(model), model, sigma=sigma, progress=progress, backend=backend, exported=exported, **options)
    return denoiser.denoise(noisy)


def process(
    image: np.ndarray,
    model: str,
    noise_kind: str | None = None,
    strength: float | None = None,
    seed: int = 0,
    sigma: float | None = None,
    reference: np.ndarray | None = None,
    progress: bool = False,
) -> Result:
    """One request: add noise (optional), denoise, score.

    Parameters
    ----------
    image : ndarray
        ``(H, W, C)`` float32 in [0, 1]: the uploaded (possibly already noisy) image or a sample.
    model : str
        A name of :func:`denoiser_names`.
    noise_kind, strength, seed
        Synthetic noise (:func:`noise_spec`) from ``seed``; ``None`` / :data:`NO_NOISE`: none.
    sigma : float or None
        Noise level (0-255) for denoisers that use one; None estimates it from the noisy image.
    reference : ndarray or None
        Clean reference for PSNR/SSIM; with synthetic noise the clean image is ``image`` itself.
    progress : bool
        tqdm progress over tiles (a Gradio ``Progress(track_tqdm=True)`` shows it in the page).
    """
    from . import metrics, noise

    start = time.perf_counter()
    info = denoiser_info(model)
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise InputError(f"expected an (H, W, 1) or (H, W, 3) image, got shape {image.shape}")
    if min(image.shape[:2]) < 8:
        raise InputError(f"image too small ({image.shape[1]}x{image.shape[0]}): at least 8x8 pixels")
    notes = []
    stages = {}
    clock = time.perf_counter()

    def lap(stage: str) -> float:
        nonlocal clock
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - clock
        clock = now
        return stages[stage]

    spec = noise_spec(noise_kind, strength) if noise_kind not in (None, "", NO_NOISE) else None
    if spec:
        noisy = noise.apply(image, spec, seed=[int(seed)])
        if reference is None:
            reference = image
        lap("noise")
    else:
        noisy = image
    _, note = match_channels(noisy, info.channels, model)
    if note:
        notes.append(note)
    if info.level_input and sigma is None:
        sigma = float(noise.estimate_sigma(noisy))
        notes.append(f"sigma estimated from the image: {sigma:.1f}")
        lap("sigma")
    elif not info.uses_sigma:
        sigma = None
    tile = TILE if info.neural and max(image.shape[:2]) > TILE else None
    backend = backend_label(model) if info.neural else None
    lap("prepare")
    denoised = run_denoiser(model, noisy, sigma=sigma, tile=tile, progress=progress)
    seconds = lap("denoise")
    scores = {}
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float32)
        if reference.ndim == 2:
            reference = reference[..., None]
        if reference.shape[:2] != image.shape[:2]:
            notes.append(
                f"reference is {reference.shape[1]}x{reference.shape[0]}, the image {image.shape[1]}x{image.shape[0]}: no PSNR/SSIM"
            )
            reference = None
        else:
            from .datasets import convert_channels

            if reference.shape[-1] != image.shape[-1]:
                notes.append("reference converted to the image's channels")
                reference = convert_channels(reference, image.shape[-1] == 3)
            clipped = np.clip(noisy, 0.0, 1.0)
            scores = {
                "noisy_psnr": float(metrics.psnr(reference, clipped)),
                "noisy_ssim": float(metrics.ssim(reference, clipped)),
                "psnr": float(metrics.psnr(reference, denoised)),
                "ssim": float(metrics.ssim(reference, denoised)),
            }
            lap("metrics")
    return Result(
        original=image,
        noisy=noisy,
        denoised=denoised,
        model=model,
        reference=reference,
        spec=spec,
        sigma=sigma,
        tiled=tile is not None,
        seconds=seconds,
        total_seconds=time.perf_counter() - start,
        notes=notes,
        scores=scores,
        stages=stages,
        backend=backend,
    )


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Display copy: clipped, 8-bit, ``(H, W)`` for gray and ``(H, W, 3)`` for colour."""
    out = np.round(np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    return out[..., 0] if out.ndim == 3 and out.shape[-1] == 1 else out


def metrics_markdown(result: Result) -> str:
    """The scores and timing as a Markdown table (what the page shows)."""
    h, w, c = result.denoised.shape
    lines = []
    if result.scores:
        s = result.scores
        lines += [
            "| image | PSNR (dB) | SSIM |",
            "|---|---|---|",
            f"| noisy input | {s['noisy_psnr']:.2f} | {s['noisy_ssim']:.4f} |",
            f"| denoised ({result.model}) | {s['psnr']:.2f} | {s['ssim']:.4f} |",
            "",
        ]
    else:
        lines += ["No clean reference: PSNR/SSIM need synthetic noise or an uploaded reference.", ""]
    detail = f"{w}x{h} {'colour' if c == 3 else 'gray'}"
    if result.spec:
        detail += f", noise `{result.spec}`"
    if result.sigma is not None:
        detail += f", sigma {result.sigma:.1f}"
    if result.tiled:
        detail += f", tiled {TILE}x{TILE}"
    if result.backend:
        detail += f", {result.backend}"
    lines.append(f"**Time:** denoiser {result.seconds:.3f} s, whole request {result.total_seconds:.3f} s ({detail})")
    return "\n".join(lines)


def display_files(result: Result, folder, download=None, bits: int = 8) -> tuple[str, str, str]:
    """8-bit PNGs of the original (the clean reference when there is one), noisy and denoised images.

    The page gets files written once per request rather than arrays: Gradio caches an array
    output under its content hash and rewrites that file, which can cut short the download of
    an identical output of a concurrent request; a file output is copied atomically. A view
    equal to another is not written again: without synthetic noise or a reference the original
    is the noisy input itself, and an 8-bit ``download`` file (:func:`save_result`, ``bits``)
    is the denoised view. Each PNG written adds its seconds to ``result.stages``
    (``png <view>``).
    """
    from .datasets import save_image

    def write(key: str, image) -> str:
        start = time.perf_counter()
        path = str(save_image(Path(folder) / f"{key}.png", image))
        result.stages[f"png {key}"] = time.perf_counter() - start
        return path

    same_input = result.reference is None and result.spec is None
    noisy = write("noisy", np.clip(result.noisy, 0.0, 1.0))
    original = noisy if same_input else write("original", result.reference if result.reference is not None else result.original)
    denoised = str(download) if download is not None and bits == 8 else write("denoised", result.denoised)
    return original, noisy, denoised


def save_result(result: Result, stem: str, folder, bits: int = 8) -> Path:
    """Write the denoised image as ``<folder>/<stem>_<model>.png`` (8- or 16-bit)."""
    from .datasets import save_image

    start = time.perf_counter()
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:60] or "image"
    path = save_image(Path(folder) / f"{safe}_{result.model}.png", result.denoised, bits=bits)
    result.stages["png result"] = time.perf_counter() - start
    return path


# --------------------------------------------------------------------------------------------
# The page


def handle(
    upload,
    sample,
    reference_upload,
    noise_kind,
    strength,
    seed,
    model,
    sigma_auto,
    sigma,
    limit: int | None = None,
    folder=None,
    progress: bool = False,
) -> dict:
    """The page's request as plain data (what :func:`build_app`'s button calls).

    Returns ``{"ok", "status", "result", "download", "refused"}``: ``ok`` False with the message
    in ``status`` for bad input (never raises :class:`InputError`); ``refused`` lists the uploaded
    files that were refused (unreadable, too large). The result goes to a new folder under
    ``folder`` (default :func:`app_folder`).
    """
    refused = []
    start = time.perf_counter()
    try:
        notes = []
        bits = 8
        if upload:
            try:
                image, info, notes = load_image(upload, limit)
            except InputError:
                refused.append(str(upload))
                raise
            stem = Path(upload).stem
            bits = 16 if info["bits"] in (16, 32) else 8
        elif sample:
            image, stem = load_sample(sample), Path(sample).stem
        else:
            raise InputError("no image: upload one or pick a sample")
        reference = None
        if reference_upload:
            try:
                reference, _, _ = load_image(reference_upload, limit)
            except InputError:
                refused.append(str(reference_upload))
                raise
        use_sigma = None if sigma_auto or sigma is None else float(sigma)
        seed = 0 if seed in (None, "") else int(seed)
        decoded = time.perf_counter() - start
        result = process(image, model, noise_kind, strength, seed, use_sigma, reference, progress=progress)
        result.stages = {"decode": decoded, **result.stages}
        result.notes[:0] = notes
        # One folder per request: concurrent requests on same-named files never share a result file.
        folder = tempfile.mkdtemp(prefix="result_", dir=folder or app_folder())
        path = save_result(result, stem, folder, bits=bits)
        status = "OK" + ("; " + "; ".join(result.notes) if result.notes else "")
        return {"ok": True, "status": status, "result": result, "download": str(path), "refused": [], "bits": bits}
    except InputError as error:
        return {"ok": False, "status": f"Error: {error}", "result": None, "download": None, "refused": refused}
    except Exception as error:  # a denoiser failure: report it, keep serving
        return {"ok": False, "status": f"Error: {type(error).__name__}: {error}", "result": None, "download": None, "refused": []}


def _will_tile(upload, sample, model) -> bool:
    """Whether a request runs tiled (a neural model, a side over :data:`TILE`), from the file header."""
    from . import images

    try:
        if not denoiser_info(model).neural:
            return False
        if upload:
            header = images.read_header(Path(upload))
            return max(header.width, header.height) > TILE
        if sample:
            images, names = _samples()
            return sample in names and max(images[names.index(sample)].shape[:2]) > TILE
    except Exception:  # the request itself reports what is wrong
        return False
    return False


_FOLDER: Path | None = None
_FOLDER_LOCK = threading.Lock()


def app_folder() -> Path:
    """This process's temporary folder for the app's files (made on first use, removed at exit).

    Results are written under it; :func:`build_app` also points Gradio's upload and output cache
    into it (``$GRADIO_TEMP_DIR``, unless already set), so :func:`cleanup` removes them all.
    """
    global _FOLDER
    with _FOLDER_LOCK:
        if _FOLDER is None or not _FOLDER.is_dir():
            _FOLDER = Path(tempfile.mkdtemp(prefix="denoise_tf_web_"))
            atexit.register(_remove_folder, _FOLDER)
        return _FOLDER


def _remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def cleanup() -> None:
    """Remove :func:`app_folder` and everything in it (:func:`launch` calls it when the server stops)."""
    global _FOLDER
    with _FOLDER_LOCK:
        folder, _FOLDER = _FOLDER, None
    if folder is not None:
        _remove_folder(folder)
        if os.environ.get("GRADIO_TEMP_DIR") == str(folder / "gradio"):
            del os.environ["GRADIO_TEMP_DIR"]


def _inside(path, folder) -> bool:
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError):
        return False


def _remove_refused(paths) -> None:
    """Delete refused uploads, but only files inside Gradio's upload folder (never a user's file)."""
    from gradio.utils import get_upload_folder

    for path in paths:
        if _inside(path, get_upload_folder()):
            Path(path).unlink(missing_ok=True)


def build_app(max_pixels: int | None = None, default_model: str | None = None, default_noise: str = "gaussian"):
    """The Gradio app (``gr.Blocks``); its button is also the API endpoint ``/denoise``.

    API inputs, in order: upload (file or None), sample name, reference (file or None), noise
    kind, strength, seed, denoiser, estimate-sigma flag, sigma. Outputs: original, noisy,
    denoised, before/after pair, scores (Markdown), status, result file.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # Gradio's uploads and cached outputs go into this process's app folder (removed at exit)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(app_folder() / "gradio"))
    import gradio as gr

    limit = globals()["max_pixels"](max_pixels)
    models = denoiser_choices()
    model = default_model or default_denoiser()
    samples = sample_names()
    first = strength_param(default_noise) if default_noise != NO_NOISE else None
    info = denoiser_info(model)
    has_slider = hasattr(gr, "ImageSlider")
    requests = itertools.count(1)

    def on_noise(kind):
        p = strength_param(kind) if kind else None
        if p is None:
            return gr.update(visible=False)
        label = f"{kind} {p['name']} ({p['doc'].split(';')[0]})"
        return gr.update(visible=True, minimum=p["low"], maximum=p["high"], value=p["default"], step=p["step"], label=label)

    def on_model(name):
        show = denoiser_info(name).uses_sigma
        return gr.update(visible=show), gr.update(visible=show)

    def on_run(upload, sample, reference, noise_kind, strength, seed, model, sigma_auto, sigma, progress=gr.Progress(track_tqdm=True)):
        start = time.perf_counter()
        number = next(requests)
        # the request's own folder: its files are copied into Gradio's cache (which serves them
        # and removes them after CACHE_SECONDS), then the folder goes when the request ends
        folder = tempfile.mkdtemp(prefix="request_", dir=app_folder())
        try:
            # the progress bar only where tiles make it move (each update is a message to the page)
            tiled = _will_tile(upload, sample, model)
            if tiled:
                progress(0, desc="denoising")
            out = handle(upload, sample, reference, noise_kind, strength, seed, model, sigma_auto, sigma, limit=limit, folder=folder, progress=tiled)
            status = f"[request {number}] {out['status']}"
            if not out["ok"]:
                _remove_refused(out["refused"])
                gr.Warning(out["status"], duration=8)
                return None, None, None, None, "", status, gr.update(value=None, interactive=False)
            r = out["result"]
            files = display_files(r, Path(out["download"]).parent, download=out["download"], bits=out["bits"])
            moved = time.perf_counter()
            cached = {}  # a file shown twice is copied into Gradio's cache once

            def to_cache(box, path):
                if path not in cached:
                    cached[path] = box.move_resource_to_block_cache(path)
                return cached[path]

            shown = [to_cache(box, f) for box, f in zip((original, noisy, denoised), files)]
            pair_files = tuple(to_cache(pair, f) for f in files[1:])
            result_file = to_cache(download, out["download"])
            r.stages["cache"] = time.perf_counter() - moved
            r.stages["handler"] = time.perf_counter() - start
            STAGES.append({"request": number, "model": r.model, "backend": r.backend, "stages": dict(r.stages)})
            return (*shown, pair_files, metrics_markdown(r), status, gr.update(value=result_file, interactive=True))
        finally:
            _remove_folder(Path(folder))

    with gr.Blocks(title="denoise_tf web demo", delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as app:
        gr.Markdown(
            "# denoise_tf: denoise your own photo\n"
            f"Upload an image (PNG/JPEG/BMP/TIFF, up to {limit / 1e6:g} megapixels) or pick a sample, "
            "optionally add synthetic noise, choose a denoiser and press **Denoise**. PSNR/SSIM are shown "
            "when a clean reference exists (synthetic noise, or an uploaded reference)."
        )
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Upload an image", type="filepath", height=140, elem_id="upload")
                sample = gr.Dropdown(samples, value="camera.png" if "camera.png" in samples else (samples[0] if samples else None), label="...or a bundled sample (used when nothing is uploaded)", elem_id="sample")
                reference = gr.File(label="Clean reference (optional, for PSNR/SSIM)", type="filepath", height=140, elem_id="reference")
                noise_kind = gr.Dropdown(noise_choices(), value=default_noise, label="Add synthetic noise", elem_id="noise")
                strength = gr.Slider(
                    minimum=first["low"] if first else 0,
                    maximum=first["high"] if first else 1,
                    value=first["default"] if first else 0,
                    step=first["step"] if first else 0.01,
                    label=f"{default_noise} {first['name']}" if first else "strength",
                    visible=first is not None,
                    elem_id="strength",
                )
                seed = gr.Number(value=0, precision=0, label="Noise seed", elem_id="seed")
                model_box = gr.Dropdown(models, value=model, label="Denoiser", elem_id="model")
                sigma_auto = gr.Checkbox(value=True, label="Estimate sigma from the image", visible=info.uses_sigma, elem_id="sigma_auto")
                sigma = gr.Slider(0, 75, value=25, step=1, label="sigma: noise level (0-255 scale)", visible=info.uses_sigma, elem_id="sigma")
                run = gr.Button("Denoise", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                status = gr.Textbox(label="Status", interactive=False, elem_id="status")
                scores = gr.Markdown(elem_id="metrics")
                if has_slider:
                    pair = gr.ImageSlider(label="Before / after (drag the handle; fullscreen to zoom)", type="numpy", elem_id="compare")
                else:
                    pair = gr.Gallery(label="Before / after", elem_id="compare")
                with gr.Row():
                    original = gr.Image(label="Original (the clean reference when there is one)", type="numpy", interactive=False, elem_id="original")
                    noisy = gr.Image(label="Noisy (denoiser input)", type="numpy", interactive=False, elem_id="noisy")
                    denoised = gr.Image(label="Denoised", type="numpy", interactive=False, elem_id="denoised")
                download = gr.DownloadButton("Download the result (PNG)", interactive=False, elem_id="download")
        noise_kind.change(on_noise, noise_kind, strength, api_name=False)
        model_box.change(on_model, model_box, [sigma_auto, sigma], api_name=False)
        run.click(
            on_run,
            [upload, sample, reference, noise_kind, strength, seed, model_box, sigma_auto, sigma],
            [original, noisy, denoised, pair, scores, status, download],
            api_name="denoise",
        )
    return app


def warmup(model: str | None = None) -> float:
    """Load ``model`` (default: the page's default) and prepare its inference path; returns seconds.

    The first request otherwise pays for building the model, making or loading its export and
    tracing the graph (seconds on a CPU). On the Keras path two sizes are run, so that
    TensorFlow's relaxed-shape trace is made here too (on the bfloat16 path, also a
    :data:`TILE` x :data:`TILE` image); on the TFLite path one gray
    :data:`TILE` x :data:`TILE` image, so that the interpreter's buffers already fit the
    largest call a request makes (growing them costs seconds; shrinking them, a tenth).
    """
    start = time.perf_counter()
    model = model or default_denoiser()
    if denoiser_info(model).neural:
        path = backend_label(model)
        sizes = {"keras": (64, 96), "bf16": (64, 96, TILE)}.get(path, (TILE,))
        for size in sizes:
            process(np.full((size, size, 1), 0.5, np.float32), model, sigma=25.0)
            if denoiser_info(model).channels == 3:  # gray images may run another network (zoo.luminance_model)
                process(np.full((size, size, 3), (0.4, 0.5, 0.6), np.float32), model, sigma=25.0)
    return time.perf_counter() - start


def launch(
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    inline: bool | None = None,
    max_pixels: int | None = None,
    concurrency: int = 1,
    max_file_size: int | str | None = None,
    **kwargs,
):
    """Build the app and serve it (blocking from a script; inline and non-blocking in a notebook).

    ``concurrency``: requests processed at once (the rest wait in Gradio's queue).
    ``max_file_size``: largest upload (bytes or ``"50mb"``; default :func:`max_file_size`).
    Extra keyword arguments go to ``gr.Blocks.launch`` (e.g. ``prevent_thread_lock=True``).
    When a blocking launch returns (the server stopped), the app's temporary files are removed
    (:func:`cleanup`); otherwise that happens at exit.
    """
    app = build_app(max_pixels=max_pixels)
    threading.Thread(target=warmup, daemon=True).start()
    app.queue(default_concurrency_limit=concurrency)
    upload_limit = _upload_limit(max_file_size)
    # Gradio blocks a script's main thread itself; here the waiting is done below, so that the
    # app's files are removed once the server has stopped (Ctrl+C included)
    interactive = bool(getattr(sys, "ps1", sys.flags.interactive))
    wait = not kwargs.pop("prevent_thread_lock", False) and not interactive
    result = app.launch(
        server_name=host, server_port=port, share=share, inline=inline, show_error=True,
        max_file_size=upload_limit, prevent_thread_lock=True, **kwargs,
    )
    if wait or kwargs.get("debug"):  # with debug=True Gradio has already waited inside launch()
        try:
            if not kwargs.get("debug"):
                app.block_thread()
        finally:
            app.close(verbose=False)
            cleanup()
    return result


__all__ = [
    "CACHE_SECONDS",
    "DEFAULT_MAX_FILE_SIZE",
    "DEFAULT_MAX_PIXELS",
    "ENV_MAX_FILE_SIZE",
    "ENV_MAX_PIXELS",
    "InputError",
    "Result",
    "STAGES",
    "TILE",
    "app_folder",
    "build_app",
    "cleanup",
    "denoiser_choices",
    "exported_model",
    "handle",
    "launch",
    "load_image",
    "max_file_size",
    "max_pixels",
    "noise_choices",
    "noise_spec",
    "process",
    "run_denoiser",
    "strength_param",
    "warmup",
]
