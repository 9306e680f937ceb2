"""Training speed of float32 against mixed bfloat16, measured in one run on this machine.

A DnCNN-S ``train_on_batch`` (depth 17, 64 patches of 40x40 by default, Adam, MSE) is timed
under each precision: the model is built under the dtype policy that ``TrainConfig.precision``
sets (:func:`denoise_tf.train.build_model`), so BatchNorm, the last convolution, the output and
the loss stay float32 exactly as in training. The two precisions alternate in ``--rounds``
rounds of ``--steps`` timed steps (after ``--warmup`` untimed ones), so a change of machine load
hits both alike; the table gives the min / median / max of the per-round rates and the ratio of
the medians. The CPU's bfloat16 instructions (``avx512_bf16`` / ``amx_bf16``) and the 1-minute
load average before and after are written beside it: stop other jobs first.

The quality side (the same fine-tuning in both precisions, then BSD68 PSNR) is
``--quality``: it trains ``--quality-steps`` steps of the ``dncnn_s25`` recipe from the shipped
``dncnn-s25`` weights (constant learning rate 1e-4) in each precision and evaluates both on
BSD68 at sigma 25 with the project's protocol.

Usage::

    python benchmarks/bench_precision.py                    # speed, writes results_precision.md
    python benchmarks/bench_precision.py --quality          # adds the fine-tuning PSNR check
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from reference import cpu_name, write_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402

from denoise_tf.config import PRECISIONS, TrainConfig  # noqa: E402
from denoise_tf.hardware import cpu_has_bf16  # noqa: E402
from denoise_tf.train import build_model  # noqa: E402



def compiled_model(precision: str, depth: int):
    """A DnCNN of ``depth`` built as training builds it under ``precision``, compiled with Adam + MSE."""
    config = TrainConfig(model="dncnn", model_options={"depth": depth, "channels": 1}, precision=precision)
    model = build_model(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
    return model


def time_steps(model, x, y, steps: int) -> float:
    """Seconds per ``train_on_batch`` step, over ``steps`` steps."""
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def speed(args) -> dict:
    """Patches per second of each precision, one list entry per round."""
    rng = np.random.default_rng(0)
    clean = rng.random((args.batch, args.patch, args.patch, 1), dtype=np.float32)
    noisy = (clean + rng.normal(0, 25 / 255, clean.shape)).astype(np.float32)
    models = {p: compiled_model(p, args.depth) for p in PRECISIONS}
    for model in models.values():
        time_steps(model, noisy, clean, args.warmup)
    rates = {p: [] for p in PRECISIONS}
    for _ in range(args.rounds):
        for precision, model in models.items():
            rates[precision].append(args.batch / time_steps(model, noisy, clean, args.steps))
    return rates


def quality(args) -> dict:
    """BSD68 sigma 25 PSNR after the same fine-tuning in each precision."""
    import tempfile

    from denoise_tf import evaluate
    from denoise_tf.train import train

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for precision in PRECISIONS:
            config = TrainConfig.load(
                REPO / "configs" / "dncnn_s25.yaml",
                overrides=[
                    f"name=precision-{precision}",
                    f"output_dir={tmp}",
                    f"precision={precision}",
                    "init_weights=dncnn-s25",
                    "lr_schedule=constant",
                    "learning_rate=0.0001",
                    f"steps_per_epoch={args.quality_steps}",
                    "epochs=1",
                    "val_limit=2",
                    "tensorboard=false",
                ],
            )
            start = time.perf_counter()
            train(config, verbose=0)
            seconds = time.perf_counter() - start
            rows = evaluate.evaluate(str(Path(tmp) / config.name), "bsd68", sigmas=[25])
            results[precision] = (float(np.mean([row["psnr"] for row in rows])), seconds)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=17)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--patch", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality", action="store_true", help="also fine-tune in both precisions and compare BSD68 PSNR")
    parser.add_argument("--quality-steps", type=int, default=100)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_precision.md")))
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    rates = speed(args)
    lines = [
        "# Training precision: float32 against mixed bfloat16",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} CPU cores, bfloat16 instructions: "
        f"{'yes' if cpu_has_bf16() else 'no'}; Keras {keras.__version__} on the {keras.backend.backend()} backend.",
        f"1-minute load average at the start: {load_before:.2f}.",
        "",
        f"DnCNN depth {args.depth}, `train_on_batch` of {args.batch} patches of {args.patch}x{args.patch} "
        f"(Adam, MSE); {args.rounds} alternating rounds of {args.steps} timed steps after {args.warmup} warm-up steps.",
        "",
        "| precision | patches/s min | median | max |",
        "|---|---:|---:|---:|",
    ]
    for precision, values in rates.items():
        lines.append(f"| {precision} | {min(values):.1f} | {statistics.median(values):.1f} | {max(values):.1f} |")
    ratio = statistics.median(rates["mixed_bfloat16"]) / statistics.median(rates["float32"])
    lines += ["", f"mixed_bfloat16 / float32, ratio of the medians: **{ratio:.2f}x**."]
    if args.quality:
        results = quality(args)
        lines += [
            "",
            f"Quality: {args.quality_steps} steps of `configs/dncnn_s25.yaml` (batch 128, constant 1e-4) from the "
            "shipped `dncnn-s25` weights in each precision, then BSD68 at sigma 25 (the project's protocol):",
            "",
            "| precision | BSD68 PSNR (dB) | wall time (s) |",
            "|---|---:|---:|",
        ]
        for precision, (psnr, seconds) in results.items():
            lines.append(f"| {precision} | {psnr:.3f} | {seconds:.0f} |")
        diff = results["mixed_bfloat16"][0] - results["float32"][0]
        lines += ["", f"mixed_bfloat16 - float32: **{diff:+.3f} dB**."]
    lines += ["", f"1-minute load average at the end: {os.getloadavg()[0]:.2f}."]
    write_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
