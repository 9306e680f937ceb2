"""DnCNN-S vs BM3D: time against image size, and peak memory of tiled vs untiled DnCNN-S inference.

One run:

1. **Time vs size.** A gray test image (a Set12 image resized with bicubic interpolation to
   ``N x N``, N in ``--sizes``; the bundled sample ``camera`` when Set12 is absent), Gaussian
   noise sigma = 25 (seed ``[0, k]``, input not clipped), denoised by

   * ``dncnn-s25`` (the shipped interim weights) through :func:`denoise_tf.inference.denoise`,
     whole image, the cached ``tf.function`` runner: one untimed call (tracing for the shape),
     then the median of ``--repeats`` timed calls;
   * the same weights exported to TFLite fp32 (:func:`denoise_tf.export.export`, BN folded,
     XNNPACK, 2 threads) and run through the same ``inference.denoise`` (same timing), when
     ``denoise_tf/export.py`` exists;
   * BM3D (``classical.get("bm3d", sigma=25)``, the ``bm3d`` package, profile ``np``): timed
     once per size (no warm-up needed: nothing is compiled; 1024x1024 takes about a minute).

   The table gives seconds per image, the ratio BM3D / DnCNN-S time per size, and PSNR.
2. **Peak memory.** Each case runs in its own child process (``python bench_denoisers.py
   --child CASE``) that loads ``dncnn-s25``, makes the noisy square input of each
   ``--memory-size`` (float32, 64 MiB at 4096x4096) and, except for the baseline, denoises it
   untiled or tiled (``tile=--tile``, overlap 32, 8 tiles per call); it reports its ``VmHWM``
   (peak resident memory, not ``ru_maxrss``, which Linux carries across exec). The baseline child does everything but the denoising
   call, so ``case - baseline`` is the memory the inference itself needs.

Writes ``benchmarks/results_denoisers.md`` from the numbers of the run.

Usage::

    python benchmarks/bench_denoisers.py                          # about 15 min on the 2-core CPU
    python benchmarks/bench_denoisers.py --sizes 128 256 --memory-size 1024 --output /tmp/x.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIGMA = 25.0
MODEL = "dncnn-s25"


def test_image(size: int) -> tuple[np.ndarray, str]:
    """A clean ``(size, size, 1)`` float32 gray image and where it came from."""
    import cv2

    from denoise_tf import datasets

    try:
        images, names = datasets.load("set12")
        k = names.index("08.png") if "08.png" in names else 0
        base, label = images[k][..., 0], f"Set12 {names[k]}"
    except (FileNotFoundError, ValueError):
        images, names = datasets.load("samples", color=False)
        k = names.index("camera") if "camera" in names else 0
        base, label = images[k][..., 0], f"bundled sample {names[k]}"
    if base.shape != (size, size):
        interpolation = cv2.INTER_AREA if size < min(base.shape) else cv2.INTER_CUBIC
        base = cv2.resize(base, (size, size), interpolation=interpolation)
        label += f" resized from {images[k].shape[0]}x{images[k].shape[1]}"
    return np.clip(base, 0.0, 1.0)[..., None].astype(np.float32), label


def noisy_of(clean: np.ndarray, k: int) -> np.ndarray:
    from denoise_tf import evaluate

    return evaluate.noisy_input(clean, f"gaussian:sigma={SIGMA:g}", [0, k])


def timed(function, repeats: int, warmup: bool) -> tuple[float, np.ndarray]:
    """Median seconds of ``function()`` over ``repeats`` calls (after one untimed call if ``warmup``)."""
    out = function() if warmup else None
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out


# --------------------------------------------------------------------------------------------
# Peak memory: one child process per case


def child(case: str, size: int, tile: int) -> None:
    from denoise_tf import inference, pretrained

    model = pretrained.load(MODEL)
    # Plain NumPy noise (float32): noise.apply at 4096x4096 peaked at ~7 GiB in the 12:51 run and
    # hid the inference memory under the baseline.
    clean = test_image(size)[0]
    noisy = clean + np.random.default_rng(0).standard_normal(clean.shape, dtype=np.float32) * np.float32(SIGMA / 255.0)
    del clean
    start = time.perf_counter()
    if case == "untiled":
        inference.denoise(model, noisy)
    elif case == "tiled":
        inference.denoise(model, noisy, tile=tile)
    elif case != "baseline":
        raise SystemExit(f"unknown case {case!r}: expected baseline, untiled or tiled")
    seconds = time.perf_counter() - start
    print(json.dumps({"case": case, "peak_mib": peak_mib(), "seconds": seconds}))


def peak_mib() -> float:
    """This process's peak resident memory in MiB: ``VmHWM`` of /proc/self/status on Linux.

    Not ``ru_maxrss``: Linux carries it across ``execve``, so a child started by a process that
    had already used 7 GiB reports 7 GiB before doing anything (what spoiled an earlier run).
    """
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(case: str, size: int, tile: int) -> dict:
    command = [sys.executable, __file__, "--child", case, "--memory-size", str(size), "--tile", str(tile)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        return {"case": case, "error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:] or ''}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3, help="timed DnCNN calls per size up to 512 (1024 and up: 1)")
    parser.add_argument("--memory-size", type=int, nargs="+", default=[2048, 4096], help="sides of the square images of the memory cases")
    parser.add_argument("--tile", type=int, default=512, help="tile side of the tiled memory case")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results_denoisers.md"))
    parser.add_argument("--child", choices=["baseline", "untiled", "tiled"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.memory_size[0], args.tile)
        return 0

    import keras
    import tensorflow as tf

    from denoise_tf import classical, inference, pretrained
    from denoise_tf.metrics import psnr

    began = time.perf_counter()
    load_start = os.getloadavg()[0]
    model = pretrained.load(MODEL)
    bm3d = classical.get("bm3d", sigma=SIGMA)
    fast, fast_note = None, ""
    if (REPO / "denoise_tf" / "export.py").is_file():
        from denoise_tf import export as ex

        folder = Path(tempfile.mkdtemp(prefix="bench_denoisers_"))
        start = time.perf_counter()
        ex.export(model, folder / f"{MODEL}.tflite")
        fast = ex.load_exported(folder / f"{MODEL}.tflite", num_threads=2)
        fast_note = f"TFLite fp32 (`denoise_tf.export`, BN folded, XNNPACK, 2 threads; export took {time.perf_counter() - start:.1f} s)"
    else:
        fast_note = "no TFLite path: `denoise_tf/export.py` was absent when this ran"

    rows, label = [], ""
    for k, size in enumerate(args.sizes):
        clean, label = test_image(size)
        noisy = noisy_of(clean, k)
        repeats = args.repeats if size <= 512 else 1
        row = {"size": size, "noisy_psnr": psnr(clean, np.clip(noisy, 0, 1)), "repeats": repeats}
        row["dncnn_s"], out = timed(lambda: inference.denoise(model, noisy), repeats, warmup=True)
        row["dncnn_psnr"] = psnr(clean, out)
        if fast is not None:
            row["tflite_s"], out = timed(lambda: inference.denoise(fast, noisy), repeats, warmup=True)
            row["tflite_psnr"] = psnr(clean, out)
        row["bm3d_s"], out = timed(lambda: bm3d.denoise(noisy), 1, warmup=False)
        row["bm3d_psnr"] = psnr(clean, out)
        rows.append(row)
        print(json.dumps(row), flush=True)

    memory_runs = {}
    if not args.skip_memory:
        for n in args.memory_size:
            memory_runs[n] = []
            for case in ("baseline", "untiled", "tiled"):
                memory_runs[n].append(run_child(case, n, args.tile))
                print(json.dumps({"size": n, **memory_runs[n][-1]}), flush=True)
    total = time.perf_counter() - began
    load_end = os.getloadavg()[0]

    # ---------------------------------------------------------------------------- the report
    lines = [
        "# DnCNN-S vs BM3D: time against image size; peak memory of tiled vs untiled DnCNN-S",
        "",
        f"Written by `benchmarks/bench_denoisers.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"the whole run took {total / 60:.1f} min).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__} ({keras.backend.backend()} backend); "
        f"1-minute load average {load_start:.1f} at the start, {load_end:.1f} at the end (a load above the core "
        "count slows every timing: a niced training job and other work shared the machine, so treat the "
        "numbers as rough).",
        "",
        "## Time against image size",
        "",
        f"Image: {label.rsplit(' resized', 1)[0]} resized (bicubic up, area down) to N x N, gray; Gaussian noise "
        f"sigma = {SIGMA:g}, input not clipped. DnCNN-S: shipped `{MODEL}` weights (interim) through "
        "`denoise_tf.inference.denoise`, whole image, cached `tf.function`; one untimed call (tracing), then the "
        f"median of {args.repeats} calls up to 512x512 and 1 call above. Fast path: {fast_note}. BM3D: "
        "`classical.get('bm3d', sigma=25)` (the `bm3d` package, profile `np`), one call per size. PSNR in dB of "
        "the clipped output against the clean resized image.",
        "",
    ]
    has_fast = fast is not None
    header = "| N x N | DnCNN-S s | " + ("TFLite s | " if has_fast else "") + "BM3D s | BM3D / DnCNN-S | "
    header += ("BM3D / TFLite | " if has_fast else "") + "PSNR noisy / DnCNN-S / BM3D |"
    lines += [header, "|---|" + "---:|" * (header.count("|") - 2)]
    for r in rows:
        cells = [f"{r['size']}", f"{r['dncnn_s']:.3f}"]
        if has_fast:
            cells.append(f"{r['tflite_s']:.3f}")
        cells += [f"{r['bm3d_s']:.2f}", f"**{r['bm3d_s'] / r['dncnn_s']:.1f}x**"]
        if has_fast:
            cells.append(f"{r['bm3d_s'] / r['tflite_s']:.1f}x")
        cells.append(f"{r['noisy_psnr']:.2f} / {r['dncnn_psnr']:.2f} / {r['bm3d_psnr']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        pixels = (b["size"] / a["size"]) ** 2
        lines += [
            "",
            f"From {a['size']}² to {b['size']}² ({pixels:.0f}x the pixels) DnCNN-S time grows "
            f"{b['dncnn_s'] / a['dncnn_s']:.0f}x and BM3D time {b['bm3d_s'] / a['bm3d_s']:.0f}x.",
        ]

    for n, memory in memory_runs.items():
        base = next((m for m in memory if m["case"] == "baseline" and "peak_mib" in m), None)
        lines += [
            "",
            f"## Peak memory, DnCNN-S on one {n}x{n} gray image",
            "",
            "Each case in its own child process; peak = `VmHWM` of /proc/self/status at the "
            f"end of the child. The baseline child imports TensorFlow, loads `{MODEL}` and makes the noisy "
            f"{n}x{n} float32 input ({n * n * 4 / 2**20:.0f} MiB) but does not denoise; inference memory = "
            f"peak - baseline. Tiled: `inference.denoise(model, image, tile={args.tile})` (overlap 32, 8 tiles per "
            "call). MiB = 2^20 bytes.",
            "",
            "| case | peak MiB | inference MiB (peak - baseline) | vs tiled | seconds |",
            "|---|---:|---:|---:|---:|",
        ]
        tiled = next((m for m in memory if m["case"] == "tiled" and "peak_mib" in m), None)
        for m in memory:
            if "peak_mib" not in m:
                lines.append(f"| {m['case']} | failed: {m['error']} | | | |")
                continue
            extra = m["peak_mib"] - base["peak_mib"] if base else float("nan")
            ratio = ""
            if tiled and base and m["case"] != "baseline":
                ratio = f"{extra / max(tiled['peak_mib'] - base['peak_mib'], 1e-9):.1f}x"
            seconds = f"{m['seconds']:.1f}" if m["case"] != "baseline" else "–"
            lines.append(f"| {m['case']} | {m['peak_mib']:,.0f} | {extra:,.0f} | {ratio} | {seconds} |")
        untiled = next((m for m in memory if m["case"] == "untiled" and "peak_mib" in m), None)
        if base and tiled and untiled:
            u, t = untiled["peak_mib"] - base["peak_mib"], tiled["peak_mib"] - base["peak_mib"]
            lines += [
                "",
                f"Untiled inference needs **{u:,.0f} MiB** above the baseline, tiled (tile {args.tile}) "
                f"**{t:,.0f} MiB**: **{u / t:.1f}x** less with tiles (whole process: {untiled['peak_mib'] / tiled['peak_mib']:.1f}x). "
                f"One float32 activation of DnCNN-S (64 channels) at {n}x{n} is {n * n * 64 * 4 / 2**30:.1f} GiB.",
            ]
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
