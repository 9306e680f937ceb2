"""Benchmark every registered model on this machine (CPU by default).

For each model (default options; each model's own default channels):

* training throughput: ``train_on_batch`` on random 40x40 patches, batch 128 (Adam, MSE),
  ``--warmup`` untimed steps then ``--steps`` timed steps;
* inference time at 256x256, 512x512 and 1024x1024 (batch 1, the compiled
  ``predict_on_batch`` function, one untimed call per size first); 1024 is skipped when the
  512 time predicts more than ``--max-seconds``;
* conv FLOPs counted analytically (``2 * k * k * cin * cout * H * W`` per conv at the
  resolution it runs at; BN, activations and biases ignored) and the achieved GFLOP/s, also
  as a share of the FP32 matmul rate measured in the same run (NumPy 2048x2048 float32
  matmul, measured again just before each model so that the share tracks the load of a
  shared machine; the table shows that rate per model). Training FLOPs are taken as 3x the forward FLOPs (forward + two backward convs).

Usage::

    python benchmarks/bench_models.py                 # all models, writes results_models.md
    python benchmarks/bench_models.py --models dncnn unet --steps 3
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
from reference import matmul_gflops, write_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402

from denoise_tf.models import available, build, receptive_field  # noqa: E402

SIZES = (256, 512, 1024)




def conv_flops(model, height: int, width: int) -> float:
    """Forward conv FLOPs of one ``height x width`` image (multiply-adds count 2)."""
    from keras import layers as klayers

    pixels = float(height * width)  # pixels at the current resolution
    total = 0.0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "downscale", None):  # pixel unshuffle
            pixels /= layer.downscale**2
        elif isinstance(layer, (klayers.MaxPooling2D, klayers.AveragePooling2D)):
            pixels /= layer.strides[0] * layer.strides[1]
        elif isinstance(layer, klayers.UpSampling2D):
            pixels *= layer.size[0] * layer.size[1]
        elif isinstance(layer, klayers.Conv2DTranspose):
            total += 2 * np.prod(layer.kernel.shape) * pixels  # each input pixel scatters k*k*cout
            pixels *= layer.strides[0] * layer.strides[1]
        elif isinstance(layer, klayers.Conv2D):
            pixels /= layer.strides[0] * layer.strides[1]
            total += 2 * np.prod(layer.kernel.shape) * pixels
        elif getattr(layer, "block_size", None):  # pixel shuffle
            pixels *= layer.block_size**2
    return total


def make_inputs(model, batch: int, size: int, rng) -> list | np.ndarray:
    channels = model.inputs[0].shape[-1]
    noisy = rng.random((batch, size, size, channels), dtype=np.float32)
    if len(model.inputs) == 2:  # ffdnet: [noisy, level]
        return [noisy, np.full((batch, 1), 25 / 255, np.float32)]
    return noisy


def bench_training(name: str, batch: int, patch: int, warmup: int, steps: int) -> float:
    """Seconds per training step."""
    model = build(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(0)
    x = make_inputs(model, batch, patch, rng)
    y = rng.random((batch, patch, patch, model.outputs[0].shape[-1]), dtype=np.float32)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def bench_inference(model, size: int, repeats: int) -> float:
    """Median seconds of one batch-1 ``predict_on_batch`` call after one untimed call."""
    x = make_inputs(model, 1, size, np.random.default_rng(size))
    model.predict_on_batch(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="model names (default: all registered)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--patch", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed inference calls at 256 and 512")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="skip 1024x1024 above this estimate")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results_models.md"))
    args = parser.parse_args(argv)
    names = args.models or list(available())

    rate = matmul_gflops()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"FP32 matmul (NumPy 2048x2048): {rate:.1f} GFLOP/s", flush=True)

    rows, notes = [], []
    for name in names:
        local_rate = matmul_gflops()
        model = build(name)
        params = model.count_params()
        rf = receptive_field(model)
        flops = {s: conv_flops(model, s, s) for s in SIZES}
        train_flops = 3 * conv_flops(model, args.patch, args.patch) * args.batch

        step = bench_training(name, args.batch, args.patch, args.warmup, args.steps)
        times = {}
        for size in SIZES[:2]:
            times[size] = bench_inference(model, size, args.repeats)
        estimate = times[512] * 4
        if estimate <= args.max_seconds:
            times[1024] = bench_inference(model, 1024, 1)
        else:
            notes.append(f"{name}: 1024x1024 skipped (about {estimate:.0f} s predicted from 512x512)")
        infer_rate = flops[512] / times[512] / 1e9
        train_rate = train_flops / step / 1e9
        row = {
            "model": name,
            "channels": model.inputs[0].shape[-1],
            "params": params,
            "rf": rf,
            "gflop_512": flops[512] / 1e9,
            "patches_s": args.batch / step,
            "step_s": step,
            "train_gflops": train_rate,
            "matmul": local_rate,
            "train_share": train_rate / local_rate,
            "t256": times[256],
            "t512": times[512],
            "t1024": times.get(1024),
            "infer_gflops": infer_rate,
            "infer_share": infer_rate / local_rate,
        }
        rows.append(row)
        t1024 = "skipped" if row["t1024"] is None else f"{row['t1024'] * 1e3:.0f} ms"
        print(
            f"{name}: {row['patches_s']:.0f} patches/s, 256 {times[256] * 1e3:.0f} ms, "
            f"512 {times[512] * 1e3:.0f} ms, 1024 {t1024}, {infer_rate:.1f} GFLOP/s inference",
            flush=True,
        )
        keras.backend.clear_session()

    def ms(value):
        return "skipped" if value is None else f"{value * 1e3:,.0f}"

    lines = [
        "# Model benchmark",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"Keras {keras.__version__} on the {keras.backend.backend()} backend; "
        f"1-minute load average at the start: {load:.1f}.",
        f"FP32 matmul rate (NumPy 2048x2048, best of 5): **{rate:.1f} GFLOP/s** at the start; "
        "shares use the rate measured just before each model (column `matmul`).",
        "",
        f"Training: `train_on_batch`, {args.patch}x{args.patch} patches, batch {args.batch}, Adam + MSE, "
        f"{args.steps} timed steps after {args.warmup} warm-up steps; training FLOPs = 3 x forward conv FLOPs. "
        "Inference: batch 1, compiled `predict_on_batch`, median of "
        f"{args.repeats} calls (256, 512) or 1 call (1024) after an untimed call. "
        "GFLOP/s counts conv FLOPs only (2 k k cin cout H W per conv); share = achieved / matmul rate. "
        "Default options of each model (its own default channels).",
        "",
        "| model | ch | params | RF | GFLOP @512 | matmul GFLOP/s | train patches/s | train GFLOP/s (share) "
        "| 256 ms | 512 ms | 1024 ms | infer GFLOP/s @512 (share) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['channels']} | {r['params']:,} | {r['rf']} | {r['gflop_512']:.1f} | {r['matmul']:.1f} "
            f"| {r['patches_s']:.0f} | {r['train_gflops']:.1f} ({r['train_share']:.0%}) "
            f"| {ms(r['t256'])} | {ms(r['t512'])} | {ms(r['t1024'])} "
            f"| {r['infer_gflops']:.1f} ({r['infer_share']:.0%}) |"
        )
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines += ["", f"1-minute load average at the end: {end_load:.1f} (a load above the core count slows every timing)."]
    write_report(lines, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
