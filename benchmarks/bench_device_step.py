"""Step time of the device-resident training loop (:mod:`denoise_tf.device_training`) on the default JAX device.

For DnCNN-S (``configs/dncnn_s25.yaml``: depth 17, 128 patches of 40x40, sigma 25) and DnCNN-B
(``configs/dncnn_b.yaml``: depth 20, 128 patches of 50x50, blind sigma 0-55), in mixed bfloat16
by default (``--precision float32`` for the other):

* ms per optimizer step of the compiled call the training loop runs (crops, flips and noise
  made on the device, forward, backward, Adam), timed over ``--calls`` calls of ``--steps``
  steps after one untimed call that compiles. The batches are cut from synthetic images of
  Train400's layout (400 images at the scales 1 / 0.9 / 0.8 / 0.7, padded to 180x180): the
  arithmetic does not depend on the pixels, and no data folder is needed;
* conv FLOPs per step: 3x the forward conv FLOPs of the batch (forward and two backward convs;
  :func:`bench_models.conv_flops`), and the achieved TFLOP/s;
* that rate as a fraction of a bfloat16 ``jnp.matmul`` of ``--matmul-size`` squared matrices
  measured in the same run (8192 on an accelerator, 2048 on a CPU), the float32 matmul rate
  beside it;
* the minutes the paper's 80,000 steps (50 epochs of 1,600) would take at that step time.

More rows: ``--single`` (one step per call: the cost of a host round trip per step),
``--interleave R`` (R DnCNN-S runs queued one after another, as ``train_many`` does: ms per
step of one run, all R counted) and ``--stack R`` (R DnCNN-S runs as one ``jax.vmap`` over
stacked variables). The table says which device it ran on; a CPU result is not a GPU figure.

Usage::

    python benchmarks/bench_device_step.py                       # writes results_device_step.md
    python benchmarks/bench_device_step.py --single --interleave 3 --stack 3 --output "$OUT/device_step.md"
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from reference import cpu_name, write_report  # noqa: E402

PAPER_STEPS = 80_000
CASES = {"DnCNN-S": "dncnn_s25.yaml", "DnCNN-B": "dncnn_b.yaml"}


def synthetic_images(count: int, size: int = 180, scales=(1.0, 0.9, 0.8, 0.7), seed: int = 0):
    """Random gray images in Train400's layout: ``count`` images at each scale, as :class:`DeviceImages`."""
    import jax.numpy as jnp

    from denoise_tf import device_training as dt

    rng = np.random.default_rng(seed)
    images = [rng.random((int(size * s), int(size * s), 1), dtype=np.float32) for _ in range(count) for s in scales]
    stack, sizes, logits = dt.stack_images(images, 50, weights=[im.shape[0] ** 2 for im in images])
    return dt.DeviceImages(jnp.asarray(stack), jnp.asarray(sizes), jnp.asarray(logits))


def matmul_tflops(n: int, dtype: str, repeats: int = 5) -> float:
    """Best-of-``repeats`` rate of an ``n x n`` by ``n x n`` ``jnp.matmul`` in ``dtype`` (TFLOP/s)."""
    import jax
    import jax.numpy as jnp

    key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(key_a, (n, n), jnp.float32).astype(dtype)
    b = jax.random.normal(key_b, (n, n), jnp.float32).astype(dtype)
    product = jax.jit(jnp.matmul)
    product(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e12


def setup(name: str, precision: str, steps: int, unroll: int | None = None):
    """Config, model, optimizer, :class:`CompiledStep` and the initial state of one case."""
    import keras

    from denoise_tf import device_training as dt
    from denoise_tf.config import TrainConfig

    config = TrainConfig.load(REPO / "configs" / CASES[name], overrides=[f"precision={precision}"])
    keras.utils.set_random_seed(0)
    model = dt.build_model(config)
    optimizer = dt.make_optimizer(config, 1e-3)
    model.compile(optimizer=optimizer, loss=config.loss)
    optimizer.build(model.trainable_variables)
    step = dt.CompiledStep(model, optimizer, config, steps, unroll)
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    return config, model, step, state


def time_case(name: str, data, precision: str, steps: int, calls: int, interleave: int = 1, stack: int = 1,
              unroll: int | None = None) -> dict:
    """Seconds to compile and ms per step of one run (``interleave`` / ``stack`` runs all counted)."""
    import jax
    import jax.numpy as jnp

    from denoise_tf import device_training as dt

    config, model, step, state = setup(name, precision, steps, unroll)
    noise = dt.gaussian_noise(config.noise)
    sigma = jnp.asarray([noise.low, noise.high], jnp.float32)
    epoch = jnp.asarray(0, jnp.int32)
    runs = max(interleave, stack)
    if stack > 1:
        stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x] * stack), state)
        call = jax.jit(jax.vmap(step.function, in_axes=(0, None, 0, None, None, 0)), donate_argnums=(0,))
        seeds = jnp.arange(stack, dtype=jnp.uint32)
        sigmas = jnp.stack([sigma] * stack)

        def one(states, start):
            return [call(states[0], data, seeds, epoch, start, sigmas)[0]]

        states = [stacked]
    else:
        seeds = [jnp.asarray(k, jnp.uint32) for k in range(interleave)]
        states = [jax.tree_util.tree_map(jnp.copy, state) for _ in range(interleave)]

        def one(states, start):
            return [step.run(s, data, seeds[k], epoch, start, sigma)[0] for k, s in enumerate(states)]

    begin = time.perf_counter()
    states = one(states, jnp.asarray(0, jnp.int32))
    jax.block_until_ready(states)
    compile_s = time.perf_counter() - begin
    begin = time.perf_counter()
    for c in range(calls):
        states = one(states, jnp.asarray((c + 1) * steps, jnp.int32))
    jax.block_until_ready(states)
    seconds = (time.perf_counter() - begin) / (calls * steps * runs)

    from bench_models import conv_flops

    flops = 3 * conv_flops(model, config.patch_size, config.patch_size) * config.batch_size
    return {"config": config, "compile_s": compile_s, "step_s": seconds, "flops": flops, "runs": runs}


def device_name() -> str:
    import jax

    device = jax.devices()[0]
    return f"{getattr(device, 'device_kind', device.platform)} ({jax.default_backend()})"



def report(command: str, args, on_cpu: bool, bf16: float, fp32: float, load: float, rows: list) -> list[str]:
    """The Markdown report of the rows measured so far."""
    import jax
    import keras

    end_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    kind = "CPU" if on_cpu else "accelerator"
    lines = [
        "# Device-resident training step (denoise_tf.device_training)",
        "",
        f"Command: `{command}`",
        "",
        f"Device: **{device_name()}** ({kind}); host CPU {cpu_name()}, {os.cpu_count()} cores; "
        f"jax {jax.__version__}, keras {keras.__version__}, Python {platform.python_version()}.",
        f"Precision {args.precision}; {args.calls} timed call(s) of {args.steps} steps after one untimed (compiling) call; "
        f"unroll {args.unroll or ('all (straight-line)' if on_cpu else 1)}.",
        f"Reference in the same run: {args.matmul_size}x{args.matmul_size} `jnp.matmul` at **{bf16:.3f} TFLOP/s** in "
        f"bfloat16, {fp32:.3f} TFLOP/s in float32.",
    ]
    if on_cpu:
        lines.append(
            f"**This is a CPU measurement, not the GPU figure** (XLA's CPU backend; 1-minute load average {load:.2f} at "
            f"the start, {end_load:.2f} at the end). On the GPU run `python benchmarks/bench_device_step.py --output "
            "\"$OUT/device_step.md\"` (scripts/GPU.md)."
        )
    return lines + [
        "",
        "ms/step is per optimizer step of one run (rows with several runs count all of them); conv FLOPs are 3x the "
        "forward conv FLOPs of the batch; the % is of the bfloat16 matmul rate; minutes are for the paper's 80,000 steps.",
        "",
        "| model | batch | runs | steps/call | ms/step | conv GFLOP/step | TFLOP/s | of bf16 matmul | min for 80k steps | compile s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


def main(argv=None) -> int:
    import jax

    on_cpu = jax.default_backend() == "cpu"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", choices=("mixed_bfloat16", "float32"), default="mixed_bfloat16")
    parser.add_argument("--steps", type=int, default=2 if on_cpu else 200, help="steps per compiled call (default 200; 2 on a CPU)")
    parser.add_argument("--calls", type=int, default=1 if on_cpu else 3, help="timed calls (default 3; 1 on a CPU)")
    parser.add_argument("--models", nargs="*", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--single", action="store_true", help="add DnCNN-S at one step per call")
    parser.add_argument("--interleave", type=int, default=0, help="add R DnCNN-S runs queued one after another")
    parser.add_argument("--stack", type=int, default=0, help="add R DnCNN-S runs stacked with jax.vmap")
    parser.add_argument("--unroll", type=int, default=None, help="steps per loop iteration (default 1; all on a CPU)")
    parser.add_argument("--images", type=int, default=400, help="synthetic training images (each at 4 scales)")
    parser.add_argument("--matmul-size", type=int, default=2048 if on_cpu else 8192)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results_device_step.md"))
    args = parser.parse_args(argv)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    bf16 = matmul_tflops(args.matmul_size, "bfloat16")
    fp32 = matmul_tflops(args.matmul_size, "float32")
    print(f"matmul {args.matmul_size}: bfloat16 {bf16:.3f} TFLOP/s, float32 {fp32:.3f} TFLOP/s", flush=True)
    data = synthetic_images(args.images)
    cases = [(name, args.steps, 1, 1) for name in args.models]
    if args.single:
        cases.append(("DnCNN-S", 1, 1, 1))
    if args.interleave > 1:
        cases.append(("DnCNN-S", args.steps, args.interleave, 1))
    if args.stack > 1:
        cases.append(("DnCNN-S", args.steps, 1, args.stack))
    command = " ".join(["python benchmarks/bench_device_step.py", *(sys.argv[1:] if argv is None else argv)])
    rows = []
    for name, steps, interleave, stack in cases:
        calls = args.calls if steps == args.steps else max(args.calls, args.steps * args.calls)
        result = time_case(name, data, args.precision, steps, calls, interleave, stack, args.unroll)
        config = result["config"]
        rate = result["flops"] / result["step_s"] / 1e12
        how = f"{interleave} runs queued" if interleave > 1 else f"{stack} runs vmapped" if stack > 1 else "1 run"
        row = (
            f"| {name} | {config.batch_size} x {config.patch_size}x{config.patch_size} | {how} | {steps} | "
            f"{1000 * result['step_s']:.2f} | {result['flops'] / 1e9:.0f} | {rate:.3f} | {100 * rate / bf16:.1f} % | "
            f"{result['step_s'] * PAPER_STEPS / 60:.1f} | {result['compile_s']:.1f} |"
        )
        print(row, flush=True)
        rows.append(row)
        # Written after every row, so a run stopped by a time limit keeps what it measured.
        lines = report(command, args, on_cpu, bf16, fp32, load, rows)
        Path(args.output).write_text("\n".join(lines) + "\n")
    write_report(report(command, args, on_cpu, bf16, fp32, load, rows), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
