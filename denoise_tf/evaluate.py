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

Other noise (``evaluate(..., noise=[spec, ...])``, CLI ``--noise``): image ``k`` gets
``noise.apply(clean, spec, seed=[seed, k])`` for each spec (any :func:`denoise_tf.noise.parse`
string: ``salt_and_pepper:amount=0.05``, ``iso:iso=3200``, ``mixed:kinds=...,count=1-3``), then
``clip_input`` as above. Level-taking denoisers get an **oracle level** per image, on the 0-255
scale: for the ``gaussian`` kind the sigma the noise was drawn with (as on the sigma path); for
every other kind the RMS of that image's actual noise, ``255 * sqrt(mean((noisy - clean)^2))``,
measured on the noisy input the denoiser sees (after ``clip_input``). It is what a perfect noise
estimator would report, so classical baselines get their best case; rows record it as ``level``.

Colour: every model of one table is scored on the same images. ``color=None`` (the default)
reads the set as it is (a colour set such as ``cbsd68`` in RGB, a gray set in gray, a folder
file by file), ``color=True`` in RGB (gray files repeated), ``color=False`` in gray (ITU-R 601
luminance). A gray neural model on an RGB image denoises it along a decorrelating colour path
(:mod:`denoise_tf.colour`, option ``color_mode``; by default ``"opponent"``, and
``"opponent-rgb-luma"`` for fixed-sigma models, see :func:`denoise_tf.zoo.make_denoiser`; ``"rgb"`` is the plain
channel-by-channel path) and its rows are named after that path: ``dncnn-b (opponent)``,
``dncnn-s25 (opponent, per-channel luma)``, ``dncnn-b (per channel)``. A colour model on a gray
image gets it repeated to RGB and its output converted back to gray. Each row records
``color``: True when it was scored on an RGB image.

Denoiser options that change results (``passes=2``, ``self_ensemble=True``, ``color_mode``) are
named in the rows' ``model`` (``dilated-iso (2 passes)``, see :func:`display_name`), so each
variant is its own row group and its own cache file in :mod:`denoise_tf.report`.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .zoo import make_denoiser, model_kind, refuse_color_mode


#: Denoiser options that do not change the result (execution only): left out of display names.
EXECUTION_OPTIONS = ("tile", "overlap", "batch_size", "progress", "runner")


def refuse_lower_precision(backend: str | None = None) -> None:
    """``ValueError`` when evaluation would run the bfloat16 path (``backend``, else ``$DENOISE_TF_BACKEND``).

    Evaluation scores float32 outputs only (``auto`` keeps to them: it never takes the
    bfloat16 path here), so its rows and ``RESULTS.md`` match the Keras float32 model on every
    machine.
    """
    from .zoo import ENV_BACKEND, default_backend

    if (backend or default_backend()) == "bf16":
        where = "backend='bf16'" if backend else f"{ENV_BACKEND}=bf16"
        raise ValueError(
            f"evaluation runs float32 only, and {where} asks for the bfloat16 path (for denoise and the web page): "
            "use the backend auto, keras or tflite"
        )


def display_name(model: str, **options) -> str:
    """The row name of ``model`` run with ``options``: ``dilated-iso (2 passes)``, ``x (self-ensemble)``.

    ``passes=1``, ``self_ensemble=False``, ``color_mode=None`` and the execution options
    (:data:`EXECUTION_OPTIONS`) leave the name unchanged; ``color_mode`` (the colour path of a
    gray model on RGB images) comes first, by its label in :data:`denoise_tf.colour.LABELS`
    (``dncnn-b (opponent)``, ``dncnn-b (per channel)``); any other option is written ``key=value``.
    """
    from .colour import LABELS

    parts = []
    if options.get("color_mode") is not None:
        parts.append(LABELS.get(options["color_mode"], f"color_mode={options['color_mode']}"))
    for key, value in options.items():
        if key in EXECUTION_OPTIONS or key == "color_mode" or (key == "passes" and value == 1) or (key == "self_ensemble" and not value):
            continue
        if key == "passes":
            parts.append(f"{value} passes")
        elif key == "self_ensemble":
            parts.append("self-ensemble")
        else:
            parts.append(f"{key}={value}")
    return f"{model} ({', '.join(parts)})" if parts else str(model)


def row_name(model: str, denoiser, image: np.ndarray, **options) -> str:
    """The ``model`` field of one row: :func:`display_name`, with the colour path where one was taken.

    ``denoiser`` is what :func:`denoise_tf.zoo.make_denoiser` returned; ``image`` ``(H, W, C)`` the noisy input.
    A gray neural model on an RGB image names the colour path its denoiser takes (its
    ``color_mode``, as :func:`denoise_tf.zoo.make_denoiser` set it); every other pairing leaves ``color_mode``
    out of the name.
    """
    options = {k: v for k, v in options.items() if k != "color_mode"}
    network = getattr(denoiser, "model", None)
    if network is not None:
        from . import inference

        path = inference.colour_path(network, image.shape[-1], getattr(denoiser, "options", {}).get("color_mode"))
        if path is not None:
            return display_name(model, color_mode=path, **options)
    return display_name(model, **options)


def check_noise_specs(specs: Sequence[str]) -> list[str]:
    """Each spec parsed (so a typo fails before any work) and returned stripped.

    Raises
    ------
    ValueError
        A spec :func:`denoise_tf.noise.parse` rejects; the message names the spec.
    """
    from . import noise

    if isinstance(specs, str):
        specs = [specs]
    checked = []
    for spec in specs:
        try:
            noise.parse(str(spec))
        except (ValueError, TypeError) as error:
            raise ValueError(f"bad noise spec {spec!r}: {error}") from None
        checked.append(str(spec).strip())
    if not checked:
        raise ValueError("noise takes at least one spec")
    return checked


def oracle_level(clean: np.ndarray, noisy: np.ndarray, spec: str, drawn) -> float:
    """The noise level (0-255) given to level-taking denoisers for one image (module docstring).

    ``drawn`` is the level :func:`denoise_tf.noise.apply` returned (0-1 scale): used as the sigma
    for the ``gaussian`` kind; any other kind gets the RMS of ``noisy - clean`` times 255.
    """
    from . import noise

    if noise.parse(spec).kind == "gaussian":
        return float(drawn) * 255.0
    diff = noisy.astype(np.float64) - clean.astype(np.float64)
    return float(np.sqrt(np.mean(diff * diff)) * 255.0)


def noisy_input(clean: np.ndarray, spec: str, seed, clip_input: bool = False, return_level: bool = False):
    """The protocol's noisy image: noise from ``seed``; clipped and 8-bit quantized if ``clip_input``.

    ``return_level=True`` also returns the level :func:`denoise_tf.noise.apply` drew (0-1 scale).
    """
    from . import noise

    noisy, level = noise.apply(clean, spec, seed=seed, return_level=True)
    if clip_input:
        noisy = np.round(np.clip(noisy, 0.0, 1.0) * 255.0) / 255.0
    noisy = noisy.astype(np.float32)
    return (noisy, level) if return_level else noisy


def evaluate(
    model: str,
    dataset: str = "bsd68",
    sigmas: Sequence[float] | None = None,
    limit: int | None = None,
    seed: int = 0,
    clip_input: bool = False,
    color: bool | None = None,
    data_root: str | os.PathLike | None = None,
    progress: bool = False,
    noise: Sequence[str] | None = None,
    **options,
) -> list[dict]:
    """Run the protocol; one row per (image, sigma) or (image, noise spec).

    Parameters
    ----------
    sigmas : sequence of float or None
        Gaussian noise levels (0-255); default ``(15, 25, 50)`` when ``noise`` is None too.
    color : bool or None
        How the set is read, the same for every model (module docstring): None as it is (a
        colour set in RGB, gray models through their colour path), True RGB, False gray.
    noise : sequence of str or None
        Noise specs used instead of ``sigmas`` (module docstring: oracle level, ``level`` column).
    **options
        Denoiser options (``passes=2``, ``tile=...``, ``color_mode="rgb"`` for gray neural
        models); results-changing ones rename the rows' model (:func:`display_name`, :func:`row_name`).

    Returns
    -------
    list of dict
        Sigma path: ``model, dataset, sigma, image, color, noisy_psnr, psnr, ssim, mse, seconds``.
        Noise path: ``model, dataset, noise, level, image, color, noisy_psnr, psnr, ssim, mse, seconds``.
        ``color`` is True for a row scored on an RGB image, False for a gray one.

    Raises
    ------
    ValueError
        Unknown model, both ``sigmas`` and ``noise`` given, a bad noise spec, or ``color_mode``
        for a classical method or not a known transform.
    """
    from tqdm.auto import tqdm

    from . import datasets, inference, metrics

    if sigmas is not None and noise is not None:
        raise ValueError("pass either sigmas (Gaussian noise) or noise (specs), not both")
    if model_kind(model) == "classical":  # an unknown model name fails here, before the set is read
        refuse_color_mode(model, options)
    else:
        refuse_lower_precision(options.get("backend"))
    if options.get("color_mode") is not None:
        inference.resolve_color_mode(options["color_mode"])
    specs = check_noise_specs(noise) if noise is not None else None
    name = display_name(model, **{k: v for k, v in options.items() if k != "color_mode"})
    images, names = datasets.load(dataset, color=color, limit=limit, data_root=data_root)
    pairs = list(zip(images, names))
    rows = []

    def scores(image_name, clean, noisy, restored, seconds) -> dict:
        return {
            "image": image_name,
            "color": bool(clean.shape[-1] == 3),
            "noisy_psnr": metrics.psnr(clean, np.clip(noisy, 0.0, 1.0)),
            "psnr": metrics.psnr(clean, restored),
            "ssim": metrics.ssim(clean, restored),
            "mse": metrics.mse(clean, restored),
            "seconds": seconds,
        }

    if specs is None:
        sigmas = list((15, 25, 50) if sigmas is None else sigmas)
        denoiser = make_denoiser(model, sigma=sigmas[0], **options) if sigmas else None  # weights load once
        for sigma in sigmas:
            denoiser.sigma = sigma
            spec = f"gaussian:sigma={sigma:g}"
            for k, (clean, image_name) in enumerate(tqdm(pairs, desc=f"{name} sigma={sigma:g}", disable=not progress)):
                noisy = noisy_input(clean, spec, [seed, k], clip_input)
                start = time.perf_counter()
                restored = np.clip(denoiser.denoise(noisy), 0.0, 1.0)
                row = scores(image_name, clean, noisy, restored, time.perf_counter() - start)
                label = row_name(model, denoiser, noisy, **options)
                rows.append({"model": label, "dataset": dataset, "sigma": float(sigma), **row})
        return rows
    denoiser = None
    for spec in specs:
        for k, (clean, image_name) in enumerate(tqdm(pairs, desc=f"{name} {spec}", disable=not progress)):
            noisy, drawn = noisy_input(clean, spec, [seed, k], clip_input, return_level=True)
            level = oracle_level(clean, noisy, spec, drawn)
            if denoiser is None:  # built once (neural weights load once); the level is set per image
                denoiser = make_denoiser(model, sigma=level, **options)
            denoiser.sigma = level
            start = time.perf_counter()
            restored = np.clip(denoiser.denoise(noisy), 0.0, 1.0)
            row = scores(image_name, clean, noisy, restored, time.perf_counter() - start)
            label = row_name(model, denoiser, noisy, **options)
            rows.append({"model": label, "dataset": dataset, "noise": spec, "level": level, **row})
    return rows


def condition(row: dict):
    """The test condition of a row or summary: its noise spec, else its sigma."""
    return row["noise"] if "noise" in row else row["sigma"]


def _row_color(row: dict) -> bool | None:
    """A row's ``color`` as a bool (CSV caches hold 1/0), None for rows without one."""
    value = row.get("color")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "1.0", "true")
    return bool(value)


def summarize(rows: Iterable[dict]) -> list[dict]:
    """Mean PSNR / SSIM / MSE / seconds per (model, dataset, sigma or noise spec, color), in first-seen order.

    Noise-spec groups carry ``noise`` (and the mean oracle ``level``) instead of ``sigma``; groups
    of rows with a ``color`` field carry it (gray and colour rows are never averaged together).
    """
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["model"], row["dataset"], "noise" in row, condition(row), _row_color(row)), []).append(row)
    summary = []
    for (model, dataset, is_spec, cond, color), items in groups.items():
        keys = ("noisy_psnr", "psnr", "ssim", "mse", "seconds") + (("level",) if is_spec else ())
        summary.append(
            {
                "model": model,
                "dataset": dataset,
                ("noise" if is_spec else "sigma"): cond,
                **({} if color is None else {"color": color}),
                "images": len(items),
                **{key: float(np.mean([float(r[key]) for r in items])) for key in keys},
            }
        )
    return summary


def write_csv(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """Write rows (dicts with the same keys) as CSV; parent folders are created.

    Booleans (``color``) are written 1 / 0, so every column but the text ones reads back as a number.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: int(v) if isinstance(v, (bool, np.bool_)) else v for k, v in row.items()} for row in rows)
    return path


def markdown_table(summary: Sequence[dict]) -> str:
    """A Markdown table: one row per model (and image kind), PSNR / SSIM per sigma (or per noise spec).

    Where the summary rows carry ``color`` the table says which images they were scored on: in
    the header (``model (colour images)``) when all that carry it agree, else in an ``images``
    column (``colour`` / ``gray``, ``–`` for rows without it), one table row per (model, image kind).
    """
    conditions = list(dict.fromkeys(condition(row) for row in summary))
    columns = sorted(c for c in conditions if not isinstance(c, str)) + [c for c in conditions if isinstance(c, str)]

    def label(cond) -> str:
        return f"`{cond}` PSNR / SSIM" if isinstance(cond, str) else f"σ={cond:g} PSNR / SSIM"

    kinds = {_row_color(row) for row in summary} - {None}  # rows without ``color`` (older caches) do not count
    mixed = len(kinds) > 1
    kind_name = {True: "colour", False: "gray", None: "–"}
    first = f"model ({kind_name[next(iter(kinds))]} images)" if len(kinds) == 1 else "model"
    header = f"| {first} | " + ("images | " if mixed else "") + " | ".join(label(c) for c in columns) + " |"
    lines = [header, "|---|" + ("---|" if mixed else "") + "---|" * len(columns)]
    for model, color in dict.fromkeys((row["model"], _row_color(row)) for row in summary):
        cells = []
        for cond in columns:
            match = [r for r in summary if r["model"] == model and _row_color(r) == color and condition(r) == cond]
            cells.append(f"{match[0]['psnr']:.2f} / {match[0]['ssim']:.4f}" if match else "–")
        lines.append(f"| {model} | " + (f"{kind_name[color]} | " if mixed else "") + " | ".join(cells) + " |")
    return "\n".join(lines)
