"""Benchmark DnCNN-S inference through :func:`denoise_tf.inference.denoise` on this machine.

DnCNN-S (depth 17, 64 filters, gray) on one 256x256 and one 512x512 image, four ways:

* untiled vs tiled (``--tile 128 --overlap 32`` by default; tiles run ``--batch-size`` at a time);
* ``runner="compiled"`` (the cached ``tf.function`` / ``jax.jit`` call) vs
  ``runner="predict_on_batch"``.

Every configuration gets one untimed call first (tracing / compilation), then the median of
``--repeats`` timed calls. The table gives seconds per image, megapixels per second, the conv
GFLOP/s achieved on the image's own FLOPs (``2 * 9 * cin * cout`` per pixel per conv; the extra
work tiling spends on overlaps counts as overhead, not as FLOPs) and that rate as a share of
the FP32 matmul rate measured in the same run (NumPy 2048x2048 float32 matmul, best of 5).

Usage::

    python benchmarks/bench_inference.py
    KERAS_BACKEND=jax python benchmarks/bench_inference.py --sizes 256 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from reference import matmul_gflops  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402

from denoise_tf import inference  # noqa: E402
from denoise_tf.models import build  # noqa: E402




def conv_flops(model, height: int, width: int) -> float:
    """Forward conv FLOPs of one image for a full-resolution conv stack (DnCNN)."""
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    return float(sum(2 * np.prod(layer.kernel.shape) * height * width for layer in convs))


def timed(function, repeats: int) -> float:
    function()  # trace / compile, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--depth", type=int, default=17)
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    reference = matmul_gflops()
    model = build("dncnn", depth=args.depth, channels=1)
    rng = np.random.default_rng(0)
    rows = []
    for size in args.sizes:
        image = rng.random((size, size, 1), dtype=np.float32)
        flops = conv_flops(model, size, size)
        for tile in (None, args.tile):
            tiles = inference.tile_count(size, size, tile, args.overlap) if tile else 1
            for runner in inference.RUNNERS:
                options = dict(tile=tile, overlap=args.overlap, batch_size=args.batch_size, runner=runner)
                seconds = timed(lambda: inference.denoise(model, image, **options), args.repeats)
                gflops = flops / seconds / 1e9
                rows.append(
                    (
                        f"{size}x{size}",
                        "untiled" if tile is None else f"tile {tile}/{args.overlap} ({tiles} tiles)",
                        runner,
                        f"{seconds:.3f}",
                        f"{size * size / seconds / 1e6:.3f}",
                        f"{gflops:.1f}",
                        f"{100 * gflops / reference:.0f}%",
                    )
                )
                print(" | ".join(rows[-1]), file=sys.stderr, flush=True)

    threads = ""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        threads = f", TF intra-op threads {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}"
    load = f", load average {os.getloadavg()[0]:.1f} at the end" if hasattr(os, "getloadavg") else ""
    print(f"## DnCNN-S inference (depth {args.depth}, 64 filters, gray, batch of 1 image)\n")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, backend {keras.backend.backend()}, "
        f"keras {keras.__version__}{threads}{load}; median of {args.repeats} after one untimed call.\n"
    )
    print(f"FP32 matmul reference (NumPy 2048x2048, best of 5): **{reference:.1f} GFLOP/s**\n")
    header = ("image", "mode", "runner", "s / image", "Mpix/s", "conv GFLOP/s", "of matmul")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
