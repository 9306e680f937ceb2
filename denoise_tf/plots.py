"""Figures shared by the notebooks, the demo and the report (matplotlib, Agg-safe)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np


def _figure(rows: int, cols: int, size: float):
    import matplotlib

    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    return fig, axes


def show_image(ax, image: np.ndarray, title: str = "") -> None:
    """Draw an HWC float image in [0, 1] (gray or RGB) without axes."""
    image = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    if image.ndim == 3 and image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(image)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def side_by_side(
    rows: Sequence[Sequence[np.ndarray]],
    titles: Sequence[Sequence[str]],
    path: str | os.PathLike | None = None,
    size: float = 3.2,
    suptitle: str | None = None,
):
    """A grid of images: one row per example (e.g. clean / noisy / denoised), titles per cell.

    Saves to ``path`` (PNG, parent folders created) when given; returns the figure.
    """
    fig, axes = _figure(len(rows), max(len(r) for r in rows), size)
    for i, (images, names) in enumerate(zip(rows, titles)):
        for j, ax in enumerate(axes[i]):
            if j < len(images):
                show_image(ax, images[j], names[j] if j < len(names) else "")
            else:
                ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def training_curves(run_dirs, path: str | os.PathLike | None = None, labels: Sequence[str] | None = None):
    """Loss and validation PSNR per epoch from one or more run folders' ``log.csv``.

    Returns the figure; saves it to ``path`` when given.
    """
    import csv

    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    fig, axes = _figure(1, 2, 4.0)
    for k, run_dir in enumerate(run_dirs):
        log = Path(run_dir) / "log.csv"
        if not log.is_file():
            raise FileNotFoundError(f"no log.csv in run folder {run_dir}")
        rows = list(csv.DictReader(log.open()))
        epochs = [int(r["epoch"]) + 1 for r in rows]
        label = labels[k] if labels else Path(run_dir).name
        axes[0][0].plot(epochs, [float(r["loss"]) for r in rows], label=label)
        if rows and "val_psnr" in rows[0]:
            axes[0][1].plot(epochs, [float(r["val_psnr"]) for r in rows], label=label)
    axes[0][0].set(xlabel="epoch", ylabel="training loss (MSE)", yscale="log", title="loss")
    axes[0][1].set(xlabel="epoch", ylabel="PSNR (dB)", title="validation PSNR")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig
