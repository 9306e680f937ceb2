"""Fast CPU inference paths for the shipped DnCNN-S and FFDNet weights and the FFDNet paper's own network: time, GFLOP/s, PSNR.

One run:

1. measures the FP32 NumPy matmul rate (``reference.matmul_gflops``; again before each model);
2. for ``dncnn-s25`` and ``ffdnet-gray`` (shipped weights) and ``paper/ffdnet-gray`` (the FFDNet
   paper's trained network, :mod:`denoise_tf.reference`: fetched on first use, or from the mirror
   ``$DENOISE_TF_REFERENCE_URL``; left out with a message when it cannot be fetched) on a 512x512
   gray Set12 image at sigma = 25 (image k of the run gets noise from seed ``[0, k]``, not
   clipped), times one batch-1 call of each path (median of ``--repeats`` after one untimed call):

   * ``keras``: the compiled call of ``denoise_tf.inference.denoise`` (``tf.function``),
   * ``keras, BN folded``: the same on :func:`denoise_tf.export.fold_batchnorm` of the model,
   * ``XLA``: ``tf.function(jit_compile=True)`` around the (unfolded) model,
   * ``TFLite fp32`` / ``fp16`` / ``int8``: :func:`denoise_tf.export.export` then
     :func:`~denoise_tf.export.load_exported` (XNNPACK, 2 threads); int8 is calibrated on
     noisy patches of Train400 images (the first 8; sigma 25 for DnCNN-S, 0-75 for FFDNet);

   beside the achieved GFLOP/s (conv FLOPs as in ``bench_models.conv_flops``), its share of the
   matmul rate, and PSNR of the clipped output (and its difference to the Keras path);
3. times DnCNN-S training steps (``train_on_batch``, 40x40 patches, batch 128, Adam + MSE)
   compiled with ``jit_compile=False`` (what ``train.py``'s ``model.compile(optimizer, loss)``
   resolves to on a CPU-only machine: Keras' ``"auto"`` disables XLA without a GPU) and
   ``jit_compile=True``.

Writes ``benchmarks/results_export.md`` from the numbers of the run.

Usage::

    python benchmarks/bench_export.py
    python benchmarks/bench_export.py --repeats 5 --train-steps 5
    python benchmarks/bench_export.py --models paper/ffdnet-gray --size 64 --repeats 1 --no-train  # quick check
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
from reference import matmul_gflops, write_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402
from bench_models import conv_flops  # noqa: E402

from denoise_tf import datasets, pretrained, zoo  # noqa: E402
from denoise_tf import export as ex  # noqa: E402
from denoise_tf.inference import compiled_call  # noqa: E402
from denoise_tf.metrics import psnr  # noqa: E402

#: name -> int8 calibration sigma: the shipped weights, then the FFDNet paper's network (``paper/...``)
MODELS = {"dncnn-s25": 25.0, "ffdnet-gray": (0.0, 75.0), "paper/ffdnet-gray": (0.0, 75.0)}


def load_images(size: int) -> tuple[np.ndarray, str, list, str]:
    """The test image (first ``size x size`` Set12 image), its name, calibration images, and where they came from."""
    try:
        images, names = datasets.load("set12")
        test = next((im, n) for im, n in zip(images, names) if im.shape[:2] == (size, size))
        calibration, _ = datasets.load("train400", limit=8)
        return test[0], f"Set12 {test[1]}", calibration, "Train400 (first 8 images)"
    except (FileNotFoundError, StopIteration, ValueError):
        images, names = datasets.load("samples", color=False)
        test = max(zip(images, names), key=lambda pair: pair[0].shape[0] * pair[0].shape[1])
        image = test[0][:size, :size]
        others = [im for im, n in zip(images, names) if n != test[1]]
        label = f"bundled sample {test[1]} (cropped to {image.shape[0]}x{image.shape[1]})"
        return image, label, others, "other bundled samples"


def time_call(function, inputs, repeats: int) -> tuple[float, np.ndarray]:
    """Median seconds of ``function(*inputs)`` over ``repeats`` calls after one untimed call; and its output."""
    out = function(*inputs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = function(*inputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), np.asarray(out)


def xla_call(model):
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def graph(*inputs):
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    return lambda *inputs: graph(*inputs).numpy()


def bench_model(name: str, clean: np.ndarray, calibration: list, repeats: int, folder: Path, sigma: float = 25.0):
    model = zoo.load_model(name)  # shipped weights or a paper's network
    rate = matmul_gflops()
    flops = conv_flops(model, *clean.shape[:2])
    noisy = (clean + np.random.default_rng([0, 0]).normal(0, sigma / 255, clean.shape)).astype(np.float32)
    inputs = [noisy[None]]
    if len(model.inputs) == 2:
        inputs.append(np.full((1, 1), sigma / 255, np.float32))

    folded = ex.fold_batchnorm(model)  # compiled_call holds its model weakly: keep a reference
    paths = [("keras (tf.function)", lambda: compiled_call(model), None)]
    paths.append(("keras, BN folded", lambda: compiled_call(folded), None))
    paths.append(("XLA jit_compile", lambda: xla_call(model), None))
    for label, quantize in (("TFLite fp32", None), ("TFLite fp16", "float16"), ("TFLite int8", "int8")):
        paths.append((label, None, quantize))

    rows, keepalive, refused = [], [], []
    reference = None
    for label, make, quantize in paths:
        convert_s, size = None, None
        if make is None:
            path = folder / f"{name.replace('/', '-')}-{quantize or 'fp32'}.tflite"
            start = time.perf_counter()
            try:
                ex.export(model, path, quantize=quantize, calibration=calibration, sigma=MODELS[name],
                          calibration_patches=32, overwrite=True)
            except ValueError as error:  # an int8 file that does not agree with the float model
                if quantize != "int8":
                    raise
                refused.append(f"{label}: {error}")
                print(f"  {name} {label}: refused by export: {error}", flush=True)
                continue
            convert_s = time.perf_counter() - start
            size = path.stat().st_size
            exported = ex.load_exported(path, num_threads=2)
            keepalive.append(exported)
            function = compiled_call(exported)
        else:
            function = make()
            keepalive.append(function)
        seconds, out = time_call(function, inputs, repeats)
        out = np.clip(out[0], 0, 1)
        quality = float(psnr(clean, out))
        if reference is None:
            reference = quality
        gflops = flops / seconds / 1e9
        row = {
            "path": label,
            "ms": seconds * 1e3,
            "gflops": gflops,
            "share": gflops / rate,
            "psnr": quality,
            "delta": quality - reference,
            "convert_s": convert_s,
            "size": size,
        }
        rows.append(row)
        print(f"  {name} {label}: {row['ms']:,.0f} ms, {gflops:.1f} GFLOP/s ({row['share']:.0%}), "
              f"PSNR {quality:.2f} dB ({row['delta']:+.3f})", flush=True)
    noisy_db = float(psnr(clean, np.clip(noisy, 0, 1)))
    keras.backend.clear_session()
    return {"name": name, "matmul": rate, "gflop": flops / 1e9, "noisy_psnr": noisy_db, "rows": rows, "refused": refused}


def bench_training(jit: bool, batch: int, patch: int, warmup: int, steps: int) -> float:
    """Seconds per DnCNN-S training step."""
    from denoise_tf.models import build

    model = build("dncnn", depth=17)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.random((batch, patch, patch, 1), dtype=np.float32)
    y = rng.random((batch, patch, patch, 1), dtype=np.float32)
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = (time.perf_counter() - start) / steps
    keras.backend.clear_session()
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--train-warmup", type=int, default=1)
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results_export.md"))
    args = parser.parse_args(argv)

    import tensorflow as tf

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rate = matmul_gflops()
    print(f"FP32 matmul (NumPy 2048x2048): {rate:.1f} GFLOP/s; load {load:.1f}", flush=True)
    clean, image_name, calibration, calibration_name = load_images(args.size)
    print(f"test image: {image_name} {clean.shape}; calibration: {calibration_name}", flush=True)

    results, skipped = [], []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            try:
                results.append(bench_model(name, clean, calibration, args.repeats, Path(folder)))
            except FileNotFoundError as error:  # a paper's network that cannot be fetched (ReferenceUnavailable)
                if not name.startswith("paper/"):
                    raise
                print(f"  {name} left out: {error}", flush=True)
                skipped.append(name)

    training = {}
    if not args.no_train:
        batch, patch = 128, 40
        flops = 3 * conv_flops(pretrained.load("dncnn-s25"), patch, patch) * batch
        for jit in (False, True):
            train_rate = matmul_gflops()
            step = bench_training(jit, batch, patch, args.train_warmup, args.train_steps)
            training[jit] = {"step": step, "patches": batch / step, "gflops": flops / step / 1e9, "matmul": train_rate}
            print(f"DnCNN-S training jit_compile={jit}: {step:.2f} s/step, {batch / step:.1f} patches/s", flush=True)

    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Export benchmark: fast CPU inference paths",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; 1-minute load average {load:.1f} at the start, "
        f"{end_load:.1f} at the end (the benchmark's own threads add up to its thread count at the end; "
        "a load above the core count at the start means other jobs slowed every timing).",
        f"FP32 matmul rate (NumPy 2048x2048, best of 5): **{rate:.1f} GFLOP/s** at the start; shares use the rate "
        "measured just before each model.",
        "",
        f"Inference: one {clean.shape[0]}x{clean.shape[1]} gray image ({image_name}), Gaussian sigma = 25 "
        "(seed [0, 0], input not clipped), batch 1, median of "
        f"{args.repeats} calls after one untimed call. GFLOP/s counts conv FLOPs only; share = achieved / matmul "
        "rate. PSNR of the clipped output against the clean image; Δ = PSNR minus the Keras path's. "
        f"TFLite: `denoise_tf.export.export` (BN folded first), XNNPACK, 2 threads; int8 calibrated on 32 noisy "
        f"64x64 patches of {calibration_name} (sigma 25 for DnCNN-S, 0-75 for FFDNet). "
        "XLA: `tf.function(jit_compile=True)` around the unfolded model. "
        "`paper/ffdnet-gray` is the FFDNet paper's own trained network (`denoise_tf.reference`), beside the "
        "shipped `ffdnet-gray` trained by this package.",
    ]
    if skipped:
        lines += ["", f"Left out (could not be fetched): {', '.join(skipped)}."]
    for result in results:
        lines += [
            "",
            f"## {result['name']} ({result['gflop']:.1f} GFLOP per image; matmul {result['matmul']:.1f} GFLOP/s; "
            f"noisy input {result['noisy_psnr']:.2f} dB)",
            "",
            "| path | ms | GFLOP/s (share of matmul) | speed-up vs keras | PSNR dB | Δ dB | file | convert s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        base = result["rows"][0]["ms"]
        for r in result["rows"]:
            size = "" if r["size"] is None else f"{r['size'] / 1e6:.2f} MB"
            convert = "" if r["convert_s"] is None else f"{r['convert_s']:.1f}"
            lines.append(
                f"| {r['path']} | {r['ms']:,.0f} | {r['gflops']:.1f} ({r['share']:.0%}) | {base / r['ms']:.2f}x "
                f"| {r['psnr']:.2f} | {r['delta']:+.3f} | {size} | {convert} |"
            )
        fastest = min(result["rows"], key=lambda r: r["ms"])
        int8 = next((r for r in result["rows"] if r["path"] == "TFLite int8"), None)
        lines += ["", f"Fastest: **{fastest['path']}**, {base / fastest['ms']:.2f}x the Keras path."]
        if int8 is not None:
            lines[-1] += f" int8 changes PSNR by {int8['delta']:+.2f} dB."
        for note in result.get("refused", []):
            lines += ["", f"Refused by `export`: {note}"]
    if training:
        lines += [
            "",
            "## DnCNN-S training throughput (40x40 patches, batch 128, Adam + MSE, `train_on_batch`)",
            "",
            f"{args.train_steps} timed steps after {args.train_warmup} warm-up step(s) (the warm-up includes "
            "XLA compilation). Training FLOPs = 3 x forward conv FLOPs.",
            "",
            "| compile | s/step | patches/s | GFLOP/s (share of matmul) |",
            "|---|---:|---:|---:|",
        ]
        for jit, t in training.items():
            label = "jit_compile=True (XLA)" if jit else "jit_compile=False (train.py on CPU: Keras 'auto')"
            share = t["gflops"] / t["matmul"]
            lines.append(f"| {label} | {t['step']:.2f} | {t['patches']:.1f} | {t['gflops']:.1f} ({share:.0%}) |")
        faster = min(training, key=lambda jit: training[jit]["step"])
        ratio = max(t["step"] for t in training.values()) / training[faster]["step"]
        lines += ["", f"Faster here: **jit_compile={faster}** ({ratio:.2f}x)."]
    write_report(lines, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
