"""The main job on an embedded default: noise the bundled sample images, denoise, save a figure.

``python -m denoise_tf demo`` uses the first shipped model of :data:`DEFAULT_MODELS` (the
colour-trained blind DnCNN, then the gray DnCNN-B) and BM3D when none ships, at sigma 25, and writes ``figures/demo.png`` with PSNR / SSIM.

The images keep their own channels (the bundled astronaut and chelsea are colour, camera is
gray), with independent noise drawn in each RGB channel. A gray model denoises a colour photo
along a decorrelating colour path (DnCNN-B: the opponent colour space, see
:mod:`denoise_tf.colour` and :func:`denoise_tf.zoo.make_denoiser`); a colour model gets
the gray images repeated to RGB.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .zoo import DEFAULT_MODELS, default_model  # noqa: F401  (the demo's default denoiser)


def sample_images(color: bool | None, limit: int = 3):
    """The bundled sample images (or scikit-image's camera/astronaut/coffee when absent).

    ``color``: True RGB, False gray, None each image's own channels.
    """
    from . import datasets

    try:
        return datasets.load("samples", color=color, limit=limit)
    except (ValueError, FileNotFoundError):
        from skimage import data

        images = [data.camera(), data.astronaut(), data.coffee()][:limit]
        images = [datasets.convert_channels(_as_float(im), color) for im in images]
        return images, ["camera", "astronaut", "coffee"][:limit]


def _as_float(image):
    image = image.astype(np.float32) / 255.0
    return image[..., None] if image.ndim == 2 else image


def get_denoiser(name: str, sigma: float | None, backend: str | None = None):
    """A denoiser object with ``.denoise(image)`` and ``.name``: shipped weights or a classical method.

    Gray shipped models take colour images along their default colour path
    (:func:`denoise_tf.zoo.make_denoiser`); ``backend`` is their inference path (None:
    :func:`denoise_tf.zoo.default_backend`, the cached TFLite export where it is exact).
    """
    from . import classical, pretrained, zoo

    if name in pretrained.available():
        return zoo.make_denoiser(name, sigma=sigma, backend=backend)
    return classical.get(name, sigma=sigma)


def run(model: str | None = None, sigma: float = 25.0, seed: int = 0, output="figures/demo.png", limit: int = 3) -> dict:
    """Noise ``limit`` sample images at ``sigma``, denoise with ``model``, save a figure.

    A neural model runs on the default inference path (:func:`denoise_tf.zoo.default_backend`).
    Returns a dict with per-image PSNR/SSIM of the noisy and denoised images (and ``label``, the
    denoiser's name with its colour path, as in evaluation rows), ``backend`` (``"tflite"``,
    ``"keras"``, or None for a classical method) and the figure path.
    """
    from . import evaluate, metrics, noise, plots

    model = model or default_model()
    # Each image keeps its own channels: a gray model takes colour photos along its colour path,
    # a colour model takes a gray photo as its gray copy repeated to RGB (and returns it gray).
    images, names = sample_images(None, limit)
    denoiser = get_denoiser(model, sigma)
    rows, titles, results = [], [], []
    for k, (clean, name) in enumerate(zip(images, names)):
        noisy = noise.apply(clean, f"gaussian:sigma={sigma}", seed=[seed, k])
        start = time.perf_counter()
        restored = denoiser.denoise(noisy)
        seconds = time.perf_counter() - start
        scores = {
            "image": name,
            "noisy_psnr": metrics.psnr(clean, np.clip(noisy, 0, 1)),
            "noisy_ssim": metrics.ssim(clean, np.clip(noisy, 0, 1)),
            "psnr": metrics.psnr(clean, restored),
            "ssim": metrics.ssim(clean, restored),
            "seconds": seconds,
        }
        label = evaluate.row_name(model, denoiser, noisy)  # "dncnn-b (opponent)" on a colour photo
        scores["label"] = label
        results.append(scores)
        rows.append([clean, noisy, restored])
        titles.append(
            [
                f"{name}: clean",
                f"noisy sigma={sigma:g}: {scores['noisy_psnr']:.2f} dB / {scores['noisy_ssim']:.3f}",
                f"{label}: {scores['psnr']:.2f} dB / {scores['ssim']:.3f}",
            ]
        )
    path = Path(output)
    plots.side_by_side(rows, titles, path, suptitle=f"denoise_tf demo: Gaussian sigma={sigma:g}, PSNR / SSIM")
    return {"model": model, "sigma": sigma, "figure": str(path), "images": results, "backend": getattr(denoiser, "backend", None)}
