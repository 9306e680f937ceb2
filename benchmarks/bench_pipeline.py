"""Input pipeline throughput against the DnCNN-S training step on this machine.

The target: the input pipeline delivers at least 10x the patches per second that the
training step consumes, on both paths. Measured here:

* :class:`denoise_tf.pipeline.PatchDataset` (TF-free), single thread: ``batch(epoch, i)`` in a loop;
* the same through Keras' ``PyDataset`` machinery with ``workers=4`` (threads, the
  ``OrderedEnqueuer`` that ``model.fit`` uses);
* :func:`denoise_tf.pipeline.tf_patch_dataset` (``tf.data`` over the NumPy path, prefetch 4);
* :func:`denoise_tf.pipeline.patch_dataset` (the native ``tf.data`` path: stateless crops, flip/
  rotate modes and noise in TF ops, ``map(num_parallel_calls=AUTOTUNE)``, prefetch), over the
  pre-cut patches and cropping fresh 40x40 windows from the whole images;
* the DnCNN-S training step (depth 17, 64 filters, gray, batch 128, 40x40, Adam, MSE) with
  ``train_on_batch`` (one untimed warm-up step, then the mean of ``--steps`` steps).

Batches are DnCNN-S's: 128 gray 40x40 patches (Train400 cut at stride 10 at scales
1 / 0.9 / 0.8 / 0.7; ``--images`` of them, or generated images when Train400 is not under the data
root), one of the 8 flip/rotate modes each, fresh Gaussian noise of sigma 25. Two extra rows
give the fresh-crop datasets of the colour recipes (single thread, no target): CDnCNN-B's
:class:`~denoise_tf.pipeline.CropPatchDataset` (50x50 colour, sigma 0-55, CBSD432) and
seed 001's :class:`~denoise_tf.pipeline.PairedPatchDataset` (16 colour 256x256 windows).

Usage::

    python benchmarks/bench_pipeline.py                  # writes benchmarks/results_pipeline.md
    python benchmarks/bench_pipeline.py --batches 20 --steps 3 --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402

from denoise_tf import datasets, models, pipeline  # noqa: E402

NOISE = "gaussian:sigma=25"
BATCH, PATCH = 128, 40


def _images(count: int, color: bool, name: str):
    """``count`` images of a named set, or generated ones (name ``generated``) when it is missing."""
    try:
        images, _ = datasets.load(name, color=color, limit=count)
        return images, name
    except (FileNotFoundError, ValueError):
        rng = np.random.default_rng(0)
        shape = (321, 481, 3) if color else (180, 180, 1)
        return [rng.random(shape, dtype=np.float32) for _ in range(count)], "generated"


def rate_loop(dataset, batches: int) -> float:
    """Patches per second of ``dataset.batch(0, i)`` in one thread (one untimed batch first)."""
    dataset.batch(0, 0)
    start = time.perf_counter()
    count = 0
    for i in range(batches):
        inputs, _ = dataset.batch(0, 1 + i % (len(dataset) - 1))
        count += len(inputs)
    return count / (time.perf_counter() - start)


def rate_pydataset(dataset, batches: int) -> float:
    """Patches per second through Keras' PyDataset adapter (the enqueuer ``fit`` uses)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(dataset, shuffle=False)
    adapter.on_epoch_begin()
    iterator = adapter.get_numpy_iterator()
    next(iterator)  # starts the workers
    start = time.perf_counter()
    count = 0
    for _ in range(batches):
        inputs, _ = next(iterator)
        count += len(inputs)
    elapsed = time.perf_counter() - start
    adapter.on_epoch_end()
    return count / elapsed


def rate_tf(patches, batches: int, native: bool = False) -> float:
    """Patches per second of a ``tf.data`` path (one untimed batch first).

    ``native``: :func:`~denoise_tf.pipeline.patch_dataset` over ``patches`` (pre-cut patches or
    whole images); else the ``from_generator`` wrapper :func:`~denoise_tf.pipeline.tf_patch_dataset`.
    """
    if native:
        dataset = pipeline.patch_dataset(patches, NOISE, patch_size=PATCH, batch_size=BATCH, steps_per_epoch=batches + 1, seed=0)
    else:
        dataset = pipeline.tf_patch_dataset(patches, NOISE, batch_size=BATCH, steps_per_epoch=batches + 1, seed=0)
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    count = 0
    for _ in range(batches):
        inputs, _ = next(iterator)
        count += int(inputs.shape[0])
    return count / (time.perf_counter() - start)


def _or_none(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except ImportError:
        return None


def step_rate(steps: int, patches) -> float:
    """DnCNN-S ``train_on_batch`` patches per second (batch 128, 40x40)."""
    keras.utils.set_random_seed(0)
    model = models.build("dncnn", depth=17, channels=1)
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    noisy, clean = pipeline.PatchDataset(patches, NOISE, batch_size=BATCH, seed=0).batch(0, 0)
    model.train_on_batch(noisy, clean)  # tracing
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(noisy, clean)
    return steps * BATCH / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=40, help="Train400 images to cut into patches (default 40)")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per pipeline (default 40)")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps (default 5)")
    parser.add_argument("--workers", type=int, default=4, help="PyDataset workers (default 4)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results_pipeline.md")
    args = parser.parse_args(argv)

    gray, gray_source = _images(args.images, False, "train400")
    patches = pipeline.grid_patches(gray, PATCH, 10, [1.0, 0.9, 0.8, 0.7])
    steps = max(2, len(patches) // BATCH)
    single = pipeline.PatchDataset(patches, NOISE, batch_size=BATCH, steps_per_epoch=steps, seed=0)
    threaded = pipeline.PatchDataset(
        patches, NOISE, batch_size=BATCH, steps_per_epoch=args.batches + 1, seed=0, workers=args.workers
    )
    rows = []
    step = step_rate(args.steps, patches)
    for label, rate in (
        ("PatchDataset, single thread", rate_loop(single, args.batches)),
        (f"PatchDataset via PyDataset, workers={args.workers}", rate_pydataset(threaded, args.batches)),
        ("tf_patch_dataset (tf.data from_generator over the NumPy path, prefetch 4)", _or_none(rate_tf, patches, args.batches)),
        ("patch_dataset (native tf.data, AUTOTUNE map), pre-cut patches", _or_none(rate_tf, patches, args.batches, native=True)),
        (f"patch_dataset (native tf.data, AUTOTUNE map), crops of the {len(gray)} whole images", _or_none(rate_tf, gray, args.batches, native=True)),
    ):
        if rate is None:  # no TensorFlow (e.g. the JAX-only GPU machine)
            rows.append((label, "128 x 40x40 gray, sigma 25", None, "n/a", "n/a"))
            continue
        rows.append((label, "128 x 40x40 gray, sigma 25", rate, f"{rate / step:.1f}x", "yes" if rate >= 10 * step else "NO"))

    colour, colour_source = _images(16, True, "cbsd432")
    crop = pipeline.CropPatchDataset(colour, "gaussian:sigma=0-55", patch_size=50, batch_size=BATCH, steps_per_epoch=8, seed=0)
    rows.append(("CropPatchDataset (cdncnn_b), single thread", "128 x 50x50 colour, sigma 0-55", rate_loop(crop, max(4, args.batches // 4)), "-", "-"))
    compact = [pipeline.compact_image(im) for im in colour]
    noisy = [pipeline.compact_image(np.clip(im + 0.03 * np.random.default_rng(k).standard_normal(im.shape, dtype=np.float32), 0, 1)) for k, im in enumerate(colour)]
    paired = pipeline.PairedPatchDataset(noisy, compact, patch_size=256, batch_size=16, steps_per_epoch=8, seed=0)
    rows.append(("PairedPatchDataset (sequential_sidd), single thread", "16 x 256x256 colour pairs", rate_loop(paired, max(4, args.batches // 4)), "-", "-"))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Input pipeline vs DnCNN-S training step",
        "",
        f"`python benchmarks/bench_pipeline.py` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (load average {load:.1f} at the end), Python {platform.python_version()}, "
        f"Keras {keras.__version__} ({keras.backend.backend()} backend), NumPy {np.__version__}.",
        f"Patches: {len(patches):,} DnCNN-S patches from {len(gray)} {gray_source} images; colour rows: "
        f"{len(colour)} {colour_source} images. {args.batches} timed batches per pipeline row, {args.steps} timed steps.",
        "",
        f"DnCNN-S training step (depth 17, batch 128, 40x40, `train_on_batch`): **{step:,.0f} patches/s** "
        f"({BATCH / step * 1000:.0f} ms per step). Target: pipeline >= 10x that = {10 * step:,.0f} patches/s.",
        "",
        "| pipeline | batch | patches/s | x step | >= 10x |",
        "|---|---|---:|---:|:---:|",
    ]
    lines += [
        f"| {label} | {batch} | {'n/a' if rate is None else f'{rate:,.0f}'} | {ratio} | {ok} |"
        for label, batch, rate, ratio, ok in rows
    ]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (REPO / "benchmarks" / "results_pipeline.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
