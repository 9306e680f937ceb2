"""One evaluation protocol for every denoiser (neural or classical) over a set and noise levels.

Protocol (documented once, used by the CLI, the notebooks and RESULTS.md):

* image ``k`` of the set (name order) gets noise from ``noise.apply(clean, spec, seed=[seed, k])``;
  for Gaussian noise at sigma the spec is ``gaussian:sigma=<sigma>``;
* the noisy input is **not** clipped (the DnCNN benchmark protocol); ``clip_input=True`` clips it
  to [0, 1] and quantizes it to 8 bits, as a saved noisy photo would be;
* the output is clipped to [0, 1]; PSNR / SSIM / MSE at data range 1 against the clean image
  (SSIM: Gaussian window sigma 1.5, no sample covariance; see :mod:`denoise_tf.metrics`);
* denoisers that take a noise level (FFDNet, BM3D and the other classical methods) get the true
  sigma; blind models get nothing.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np


def model_kind(name: str) -> str:
    """What ``name`` refers to: ``"pretrained"``, ``"run"``, ``"keras"`` or ``"classical"``.

    Cheap (nothing is loaded), so callers can check every name before starting long work.

    Raises
    ------
    ValueError
        ``name`` is none of them; the message lists the shipped weights and classical methods.
    """
    from . import classical, pretrained

    name = str(name)
    if name in pretrained.available():
        return "pretrained"
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
        f"unknown model {name!r}{missing}: expected shipped weights {pretrained.available()}, a run folder, "
        f"a .keras file, or a classical method {sorted(classical.available())}"
    )


def make_denoiser(name: str, sigma: float | None = None, **options):
    """A denoiser object (``.denoise(image)``, ``.name``) from a name.

    ``name`` is a shipped weights name (``dncnn-s25``, see :mod:`denoise_tf.pretrained`), a run
    folder (its best weights), a ``.keras`` model file, or a classical method (``bm3d``, ``nlm``,
    ``median``...). ``sigma`` (0-255) goes to the methods that take a noise level. An unknown
    name raises ``ValueError`` (see :func:`model_kind`).
    """
    from . import classical, inference, pretrained

    kind = model_kind(name)
    if kind == "pretrained":
        return inference.NeuralDenoiser(pretrained.load(name), sigma=sigma, name=name, **options)
    path = Path(name)
    if kind == "run":
        from .train import load_run_model

        return inference.NeuralDenoiser(load_run_model(path, "best"), sigma=sigma, name=path.name, **options)
    if kind == "keras":
        import keras

        return inference.NeuralDenoiser(keras.models.load_model(path, compile=False), sigma=sigma, name=path.stem, **options)
    return classical.get(name, sigma=sigma, **options)


def model_is_color(name: str) -> bool | None:
    """True/False for shipped weights (their channel count), None for anything else."""
    from . import pretrained

    if name in pretrained.available():
        return pretrained.entry(name).get("model_options", {}).get("channels", 1) == 3
    return None


def noisy_input(clean: np.ndarray, spec: str, seed, clip_input: bool = False) -> np.ndarray:
    """The protocol's noisy image: noise from ``seed``; clipped and 8-bit quantized if ``clip_input``."""
    from . import noise

    noisy = noise.apply(clean, spec, seed=seed)
    if clip_input:
        noisy = np.round(np.clip(noisy, 0.0, 1.0) * 255.0) / 255.0
    return noisy.astype(np.float32)


def evaluate(
    model: str,
    dataset: str = "bsd68",
    sigmas: Sequence[float] = (15, 25, 50),
    limit: int | None = None,
    seed: int = 0,
    clip_input: bool = False,
    color: bool | None = None,
    data_root: str | os.PathLike | None = None,
    progress: bool = False,
    **options,
) -> list[dict]:
    """Run the protocol; one row per (image, sigma).

    Returns
    -------
    list of dict
        ``model, dataset, sigma, image, noisy_psnr, psnr, ssim, mse, seconds``.
    """
    from tqdm.auto import tqdm

    from . import datasets, metrics

    model_kind(model)  # an unknown model name fails here, before the set is read
    if color is None:
        color = model_is_color(model)
    images, names = datasets.load(dataset, color=color, limit=limit, data_root=data_root)
    rows = []
    for sigma in sigmas:
        denoiser = make_denoiser(model, sigma=sigma, **options)
        spec = f"gaussian:sigma={sigma:g}"
        for k, (clean, image_name) in enumerate(tqdm(list(zip(images, names)), desc=f"{model} sigma={sigma:g}", disable=not progress)):
            noisy = noisy_input(clean, spec, [seed, k], clip_input)
            start = time.perf_counter()
            restored = np.clip(denoiser.denoise(noisy), 0.0, 1.0)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "model": model,
                    "dataset": dataset,
                    "sigma": float(sigma),
                    "image": image_name,
                    "noisy_psnr": metrics.psnr(clean, np.clip(noisy, 0.0, 1.0)),
                    "psnr": metrics.psnr(clean, restored),
                    "ssim": metrics.ssim(clean, restored),
                    "mse": metrics.mse(clean, restored),
                    "seconds": seconds,
                }
            )
    return rows


def summarize(rows: Iterable[dict]) -> list[dict]:
    """Mean PSNR / SSIM / MSE / seconds per (model, dataset, sigma), in first-seen order."""
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["model"], row["dataset"], row["sigma"]), []).append(row)
    summary = []
    for (model, dataset, sigma), items in groups.items():
        summary.append(
            {
                "model": model,
                "dataset": dataset,
                "sigma": sigma,
                "images": len(items),
                **{key: float(np.mean([r[key] for r in items])) for key in ("noisy_psnr", "psnr", "ssim", "mse", "seconds")},
            }
        )
    return summary


def write_csv(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """Write rows (dicts with the same keys) as CSV; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def markdown_table(summary: Sequence[dict]) -> str:
    """A Markdown table: one row per model, PSNR / SSIM per sigma."""
    sigmas = sorted({row["sigma"] for row in summary})
    header = "| model | " + " | ".join(f"σ={s:g} PSNR / SSIM" for s in sigmas) + " |"
    lines = [header, "|---|" + "---|" * len(sigmas)]
    for model in dict.fromkeys(row["model"] for row in summary):
        cells = []
        for sigma in sigmas:
            match = [r for r in summary if r["model"] == model and r["sigma"] == sigma]
            cells.append(f"{match[0]['psnr']:.2f} / {match[0]['ssim']:.4f}" if match else "–")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
