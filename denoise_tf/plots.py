"""Figures shared by the notebooks, the demo and the report (matplotlib, Agg-safe)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np


def figure_grid(rows: int, cols: int, size: float):
    """A matplotlib ``(figure, axes)`` grid of ``rows`` x ``cols`` panels of ``size`` inches (Agg without a display)."""
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
    fig, axes = figure_grid(len(rows), max(len(r) for r in rows), size)
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
    fig, axes = figure_grid(1, 2, 4.0)
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


# --------------------------------------------------------------------------------------------
# Evaluation figures (notebooks 05 and 06): comparisons, zoomed crops, residual maps, PSNR
# across noise levels, time per image.


def _save(fig, path) -> None:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)


def _as_image(image, what: str) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"{what} must be one image (H, W) or (H, W, C) with C 1 or 3, got shape {image.shape}")
    return image


def _same_length(**named) -> int:
    lengths = {name: len(values) for name, values in named.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"lists must have the same length, got {lengths}")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError(f"nothing to draw: {', '.join(named)} are empty")
    return n


def comparison(
    clean: Sequence[np.ndarray],
    noisy: Sequence[np.ndarray],
    outputs: dict,
    path: str | os.PathLike | None = None,
    names: Sequence[str] | None = None,
    size: float = 3.0,
):
    """Original / noisy / each denoiser's output side by side, one row per image.

    Parameters
    ----------
    clean, noisy : list of ndarray
        One clean image and its noisy version per row, ``(H, W, C)`` float in [0, 1].
    outputs : dict
        ``{denoiser name: [denoised image per row]}`` (insertion order is the column order).
    names : list of str or None
        Image names put before the "original" title of each row.

    Titles give PSNR (dB) and SSIM against the clean image (noisy values clipped to [0, 1] for
    display and scoring, as :mod:`denoise_tf.evaluate` does). Returns the figure; saves it to
    ``path`` when given.
    """
    from . import metrics

    n = _same_length(clean=clean, noisy=noisy, **{f"outputs[{k!r}]": v for k, v in outputs.items()})
    if names is not None:
        _same_length(clean=clean, names=names)
    rows, titles = [], []
    for i in range(n):
        ref = _as_image(clean[i], "clean image")
        row = [ref, np.clip(_as_image(noisy[i], "noisy image"), 0.0, 1.0)] + [_as_image(v[i], f"output of {k}") for k, v in outputs.items()]
        for image in row[1:]:
            if image.shape != ref.shape:
                raise ValueError(f"image shapes differ in row {i}: {image.shape} vs the clean {ref.shape}")
        label = f"{names[i]}: original" if names is not None else "original"
        cells = [label] + [
            f"{name}\n{metrics.psnr(ref, image):.2f} dB / {metrics.ssim(ref, image):.3f}"
            for name, image in zip(["noisy"] + list(outputs), row[1:])
        ]
        rows.append(row)
        titles.append(cells)
    return side_by_side(rows, titles, path=path, size=size)


def _check_box(box, shapes) -> tuple[int, int, int, int]:
    try:
        top, left, height, width = (int(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box must be (top, left, height, width) in pixels, got {box!r}") from None
    if top < 0 or left < 0 or height < 1 or width < 1:
        raise ValueError(f"box must have top, left >= 0 and height, width >= 1, got {box!r}")
    for shape in shapes:
        if top + height > shape[0] or left + width > shape[1]:
            raise ValueError(f"box {box!r} (top, left, height, width) leaves an image of size {shape[0]}x{shape[1]}")
    return top, left, height, width


def zoom_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    box,
    path: str | os.PathLike | None = None,
    size: float = 3.0,
):
    """Whole images with a red box (top row) and the boxed region enlarged (bottom row).

    ``box`` is ``(top, left, height, width)`` in pixels and must lie inside every image; the
    crops are drawn with nearest-neighbour interpolation so single pixels stay visible. Returns
    the figure; saves it to ``path`` when given.
    """
    from matplotlib.patches import Rectangle

    n = _same_length(images=images, titles=titles)
    images = [_as_image(image, f"image {k}") for k, image in enumerate(images)]
    top, left, height, width = _check_box(box, [image.shape for image in images])
    fig, axes = figure_grid(2, n, size)
    for k, (image, title) in enumerate(zip(images, titles)):
        show_image(axes[0][k], image, title)
        axes[0][k].add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor="red", linewidth=1.5))
        show_image(axes[1][k], image[top : top + height, left : left + width], f"zoom {height}x{width} px")
        for spine in axes[1][k].spines.values():
            spine.set_edgecolor("red")
    for ax in axes[1]:
        for image in ax.get_images():
            image.set_interpolation("nearest")
    fig.tight_layout()
    _save(fig, path)
    return fig


def residual_maps(
    clean: np.ndarray,
    noisy: np.ndarray,
    denoised: Sequence[np.ndarray],
    titles: Sequence[str],
    path: str | os.PathLike | None = None,
    size: float = 3.0,
    limit: float | None = None,
):
    """What each denoiser removed and what it got wrong, on the 0-255 scale with colour bars.

    Top row: ``noisy - denoised`` (the removed part: pure noise for an ideal denoiser; edges or
    texture showing here were wiped out with it), diverging colours in ``[-limit, limit]``.
    Bottom row: ``|denoised - clean|`` (the error left), ``0`` to the 99.5th percentile over all
    maps. Colour images are reduced over channels (mean of the signed difference, RMS of the
    error). ``limit`` defaults to the 99.5th percentile of ``|noisy - clean|``. Returns the
    figure; saves it to ``path`` when given.
    """
    n = _same_length(denoised=denoised, titles=titles)
    clean = _as_image(clean, "clean image")
    noisy = _as_image(noisy, "noisy image")
    denoised = [_as_image(image, f"denoised image {k}") for k, image in enumerate(denoised)]
    for image in [noisy] + denoised:
        if image.shape != clean.shape:
            raise ValueError(f"image shapes differ: {image.shape} vs the clean {clean.shape}")
    removed = [255.0 * np.mean(noisy - image, axis=-1) for image in denoised]
    errors = [255.0 * np.sqrt(np.mean((image - clean) ** 2, axis=-1)) for image in denoised]
    if limit is None:
        limit = float(np.percentile(np.abs(255.0 * (noisy - clean)), 99.5)) or 1.0
    top = float(np.percentile(np.stack(errors), 99.5)) or 1.0
    fig, axes = figure_grid(2, n, size)
    fig.set_size_inches(size * n + 1.0, size * 2)
    fig.set_layout_engine("constrained")
    for k in range(n):
        shown = axes[0][k].imshow(removed[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[0][k].set_title(f"{titles[k]}: noisy − denoised", fontsize=9)
        error = axes[1][k].imshow(errors[k], cmap="magma", vmin=0.0, vmax=top)
        axes[1][k].set_title(f"{titles[k]}: |denoised − clean|\nRMS {np.sqrt(np.mean(errors[k] ** 2)):.1f}", fontsize=9)
        for ax in (axes[0][k], axes[1][k]):
            ax.axis("off")
    fig.colorbar(shown, ax=list(axes[0]), shrink=0.9, label="removed (0-255)")
    fig.colorbar(error, ax=list(axes[1]), shrink=0.9, label="error (0-255)")
    _save(fig, path)
    return fig


def psnr_curves(
    summary: Sequence[dict],
    path: str | os.PathLike | None = None,
    metric: str = "psnr",
    noisy: bool = True,
    title: str | None = None,
):
    """Mean PSNR (or SSIM) across noise levels, one line per model.

    ``summary`` is :func:`denoise_tf.evaluate.summarize` output (keys ``model``, ``sigma``,
    ``psnr``, ``ssim``, ``noisy_psnr``, ``dataset``, ``images``). With ``noisy=True`` (PSNR only)
    a dashed line shows the noisy input's PSNR. Returns the figure; saves it to ``path`` when given.
    """
    if metric not in ("psnr", "ssim"):
        raise ValueError(f"metric must be 'psnr' or 'ssim', got {metric!r}")
    summary = list(summary)
    if not summary:
        raise ValueError("summary is empty: pass denoise_tf.evaluate.summarize(rows) of at least one row")
    missing = sorted({"model", "sigma", metric} - set(summary[0]))
    if missing:
        raise ValueError(f"summary rows need keys model, sigma, {metric} (evaluate.summarize output); missing {missing}")
    fig, axes = figure_grid(1, 1, 4.5)
    ax = axes[0][0]
    fig.set_size_inches(6.0, 4.5)
    for model in dict.fromkeys(row["model"] for row in summary):
        points = sorted((row["sigma"], row[metric]) for row in summary if row["model"] == model)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=model)
    if noisy and metric == "psnr" and "noisy_psnr" in summary[0]:
        levels = sorted({row["sigma"] for row in summary})
        means = [float(np.mean([r["noisy_psnr"] for r in summary if r["sigma"] == s])) for s in levels]
        ax.plot(levels, means, linestyle="--", color="gray", label="noisy input")
    datasets = sorted({str(row.get("dataset", "")) for row in summary} - {""})
    counts = sorted({row["images"] for row in summary if "images" in row})
    plural = "" if counts == [1] else "s"
    where = f"{', '.join(datasets)}" + (f" ({'/'.join(map(str, counts))} image{plural})" if counts else "")
    name = "PSNR (dB)" if metric == "psnr" else "SSIM"
    ax.set(xlabel="noise sigma (0-255)", ylabel=f"mean {name}", title=title or f"{where}: {name} across noise levels".strip(": "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return fig


def time_per_image(rows: Sequence[dict], path: str | os.PathLike | None = None, title: str | None = None):
    """Median seconds per image for each model, log scale.

    ``rows`` are :func:`denoise_tf.evaluate.evaluate` rows (or ``summarize`` output): dicts with
    ``model`` and ``seconds``. The median keeps one slow first call (imports, graph tracing) from
    dominating. Returns the figure; saves it to ``path`` when given.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: pass denoise_tf.evaluate.evaluate(...) rows")
    if not {"model", "seconds"} <= set(rows[0]):
        raise ValueError(f"rows need keys 'model' and 'seconds' (evaluate output), got {sorted(rows[0])}")
    models = list(dict.fromkeys(row["model"] for row in rows))
    seconds = [float(np.median([r["seconds"] for r in rows if r["model"] == m])) for m in models]
    order = np.argsort(seconds)
    fig, axes = figure_grid(1, 1, 4.0)
    ax = axes[0][0]
    fig.set_size_inches(6.5, 0.35 * len(models) + 1.5)
    ax.barh([models[i] for i in order], [max(seconds[i], 1e-4) for i in order], color="tab:blue")
    for y, i in enumerate(order):
        ax.text(max(seconds[i], 1e-4) * 1.1, y, f"{seconds[i] * 1000:.0f} ms" if seconds[i] < 1 else f"{seconds[i]:.2f} s", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(max(s, 1e-4) for s in seconds) / 2, max(max(s, 1e-4) for s in seconds) * 5)
    ax.set(xlabel="seconds per image (median, log scale)", title=title or "time per image")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    _save(fig, path)
    return fig
