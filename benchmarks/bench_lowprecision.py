"""The bfloat16 inference path against the float32 ones: time per 512x512 image, and the PSNR it costs.

Speed (always): each shipped model (``--models``; default ``dncnn-s25``, ``dncnn-b``,
``ffdnet-gray``, ``cdncnn-opponent``) runs one batch-1 call on a 512x512 image (gray: the
Set12 512x512 image; colour models: the bundled astronaut tiled to 512x512) with Gaussian noise
of sigma 25 on each inference path:

* ``keras float32``: the model's compiled call (``tf.function``), the ``keras`` backend;
* ``tflite float32``: the cached float32 TFLite export (XNNPACK), what ``auto`` takes today
  (:func:`denoise_tf.export.cached_export`);
* ``tflite fp16 weights`` / ``tflite dynamic int8``: other TFLite options
  (:func:`denoise_tf.export.export` with ``quantize="float16"`` / ``"dynamic"``);
* ``keras bf16, BN kept``: the model under Keras' ``mixed_bfloat16`` policy, BatchNorm left as
  it is (it then computes in float32 between casts);
* ``bf16, last conv float32`` / ``bf16, first conv bf16``: the copy of ``bf16`` with only the
  last convolution in float32 (``float32_convs=1``) / with the first convolution, so the image
  it reads, in bfloat16 too (``float32_first=False``): the two choices of the path, measured;
* ``bf16``: the ``bf16`` backend, :func:`denoise_tf.lowprecision.load` (BatchNorm folded,
  ``mixed_bfloat16`` after the first convolution up to the last ``--float32-convs``
  convolutions, default :data:`denoise_tf.lowprecision.FLOAT32_CONVS`).

The paths alternate in ``--rounds`` rounds (A, B, C, ..., A, B, C, ...) after one untimed call
each, so a change of machine load hits all alike; each cell is the median of the rounds, and
the speed-up of a path is the median over rounds of the float32 path's time over its time in
the same round. The 1-minute load average before and after, the CPU time other processes used
during the run (``/proc/stat`` less this process's own), and the CPU's flags line (its vector
and matrix extensions) are written beside the figures.

Quality (``--psnr``): BSD68 at sigma 25, all 68 images unless ``--limit``, on the evaluation
protocol (:func:`denoise_tf.evaluate.noisy_input`, image ``k`` from seed ``[0, k]``, input not
clipped, output clipped, :func:`denoise_tf.metrics.psnr`), each image through the float32 path
``evaluate`` takes (``auto`` float32) and through the ``bf16`` backend on the same noisy input.
For a colour model BSD68 runs its gray path (the shared luminance network) and CBSD68 (sigma
25) its colour path as well. The cost is the float32 mean minus the bfloat16 mean (the larger
of the two sets for a colour model); the ``bf16, last conv float32`` variant is scored beside
it, and so is ``bf16, first conv bf16`` (unless ``--no-extra``).

``--write-registry`` (needs ``--psnr`` and every model's speed) writes the figures to
``denoise_tf/weights/lowprecision.json``, which decides which shipped models ``auto`` runs in
bfloat16 for ``denoise`` and the web page (:func:`denoise_tf.lowprecision.adopted`: under
0.02 dB and faster).

Usage::

    python benchmarks/bench_lowprecision.py                                 # speed, writes results_lowprecision.md
    python benchmarks/bench_lowprecision.py --psnr --write-registry         # speed, PSNR, the registry
    python benchmarks/bench_lowprecision.py --models ffdnet-gray --rounds 3 --no-extra  # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.pop("DENOISE_TF_BACKEND", None)  # every path is chosen here

import numpy as np  # noqa: E402
from reference import cpu_name, write_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402

from denoise_tf import datasets, evaluate, lowprecision, metrics, models, pretrained, zoo  # noqa: E402
from denoise_tf import export as ex  # noqa: E402
from denoise_tf.inference import compiled_call, model_channels, takes_level  # noqa: E402

MODELS = ("dncnn-s25", "dncnn-b", "ffdnet-gray", "cdncnn-opponent")
#: The bf16 variants measured beside the path: label -> LowPrecisionModel options.
VARIANTS = {"bf16, last conv float32": {"float32_convs": 1}, "bf16, first conv bf16": {"float32_first": False}}
#: The CPU flags worth naming for inference precision.
FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
SIGMA = 25.0


def cpu_flags() -> str:
    """The vector and matrix extensions on the first ``flags`` line of ``/proc/cpuinfo``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return " ".join(flag for flag in FLAGS if flag in have) or "none of " + " ".join(FLAGS)
    except OSError:
        pass
    return "unknown (no /proc/cpuinfo)"


def cpu_seconds() -> tuple[float, float, float] | None:
    """``(wall clock, busy CPU seconds of the machine, CPU seconds of this process)``; None without ``/proc/stat``."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    own = resource.getrusage(resource.RUSAGE_SELF)
    busy = sum(fields[:3]) + sum(fields[5:8])
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), own.ru_utime + own.ru_stime


def others_cores(start, end) -> float | None:
    """Cores other processes used on average between two :func:`cpu_seconds` readings."""
    if start is None or end is None:
        return None
    wall = max(end[0] - start[0], 1e-9)
    return max(0.0, (end[1] - start[1]) - (end[2] - start[2])) / wall


def test_image(channels: int, size: int) -> tuple[np.ndarray, str]:
    """A clean ``size x size`` image of ``channels`` and where it came from."""
    if channels == 1:
        try:
            images, names = datasets.load("set12")
            image, name = next((im, n) for im, n in zip(images, names) if im.shape[:2] == (size, size))
            return image, f"Set12 {name}"
        except (FileNotFoundError, StopIteration, ValueError):
            pass
        images, names = datasets.load("samples", color=False)
        image = images[names.index("camera.png")]
        return np.tile(image, (4, 4, 1))[:size, :size], "bundled camera.png, tiled"
    images, names = datasets.load("samples")
    image = images[names.index("astronaut.png")]
    return np.tile(image, (2, 2, 1))[:size, :size], "bundled astronaut.png, tiled"


def unfolded_bf16(name: str):
    """The shipped model built under ``mixed_bfloat16`` with its BatchNorm layers kept (as training builds it)."""
    info = pretrained.entry(name)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(lowprecision.POLICY)
    try:
        model = models.build(info["model"], **info.get("model_options", {}))
    finally:
        keras.config.set_dtype_policy(previous)
    model.set_weights(pretrained.load(name).get_weights())
    return model


def paths_of(name: str, model, folder: Path, extra: bool, float32_convs: int) -> dict:
    """``{path label: f(noisy[, level]) -> ndarray}`` for one model; the float32 path ``auto`` takes is marked."""
    paths = {"keras float32": compiled_call(model)}
    exported = ex.fast_model(model, "auto", name=name)  # the float32 path evaluate and auto take today
    if exported is not None:
        paths["tflite float32"] = exported.numpy_call
    if extra:
        for quantize, label in (("float16", "tflite fp16 weights"), ("dynamic", "tflite dynamic int8")):
            try:
                path = ex.export(model, folder / f"{name}-{quantize}.tflite", quantize=quantize, overwrite=True)
                paths[label] = ex.load_exported(path, num_threads=ex._cores()).numpy_call
            except Exception as error:  # a converter that fails is reported, not fatal
                print(f"{name}: {label} failed: {error}", flush=True)
        paths["keras bf16, BN kept"] = compiled_call(unfolded_bf16(name))
        for label, options in VARIANTS.items():
            paths[label] = lowprecision.LowPrecisionModel(model, name, **{"float32_convs": float32_convs, **options}).numpy_call
    paths["bf16"] = lowprecision.LowPrecisionModel(model, name, float32_convs=float32_convs).numpy_call
    return paths


def speed(name: str, args, folder: Path) -> dict:
    model = zoo.load_model(name)
    channels = model_channels(model) or 1
    clean, source = test_image(channels, args.size)
    rng = np.random.default_rng([0, 0])
    noisy = (clean + rng.normal(0.0, SIGMA / 255.0, clean.shape)).astype(np.float32)
    inputs = (noisy[None], np.full((1, 1), SIGMA / 255.0, np.float32)) if takes_level(model) else (noisy[None],)
    paths = paths_of(name, model, folder, args.extra, args.float32_convs)
    reference = "tflite float32" if "tflite float32" in paths else "keras float32"
    quality = {}
    for label, call in paths.items():  # one untimed call each: traces, buffers, oneDNN primitives
        out = np.clip(np.asarray(call(*inputs))[0], 0, 1)
        quality[label] = float(metrics.psnr(clean, out))
    times = {label: [] for label in paths}
    for _ in range(args.rounds):
        for label, call in paths.items():
            start = time.perf_counter()
            call(*inputs)
            times[label].append(time.perf_counter() - start)
        print(f"{name}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items()), flush=True)
    ratios = {label: statistics.median(r / t for r, t in zip(times[reference], times[label])) for label in paths}
    return {"source": source, "size": args.size, "channels": channels, "times": times, "ratios": ratios, "reference": reference,
            "psnr": quality, "noisy_psnr": float(metrics.psnr(clean, np.clip(noisy, 0, 1)))}


def bf16_denoiser(name: str, options: dict):
    """The ``bf16`` backend's denoiser of shipped ``name`` with :class:`~denoise_tf.lowprecision.LowPrecisionModel` ``options``."""
    model = zoo.load_model(name)
    return zoo.neural_denoiser(model, name, sigma=SIGMA, exported=lowprecision.LowPrecisionModel(model, name, **options))


def psnr_cost(name: str, dataset: str, limit: int | None, variants: dict) -> list:
    """Mean PSNR of the float32 path and of each bf16 variant (``{label: options}``) on ``dataset`` at sigma 25."""
    float32 = zoo.make_denoiser(name, sigma=SIGMA, backend="auto")  # what evaluate runs
    denoisers = {label: bf16_denoiser(name, options) for label, options in variants.items()}
    images, names = datasets.load(dataset, limit=limit)
    reference, scores = [], {label: [] for label in variants}
    start = time.perf_counter()
    for k, clean in enumerate(images):
        noisy = evaluate.noisy_input(clean, f"gaussian:sigma={SIGMA:g}", [0, k], False)
        reference.append(float(metrics.psnr(clean, np.clip(float32.denoise(noisy), 0, 1))))
        for label, denoiser in denoisers.items():
            scores[label].append(float(metrics.psnr(clean, np.clip(denoiser.denoise(noisy), 0, 1))))
    a = float(np.mean(reference))
    rows = []
    for label, values in scores.items():
        b = float(np.mean(values))
        differences = [x - y for x, y in zip(reference, values)]
        rows.append({"dataset": dataset, "path": label, **variants[label], "images": len(values),
                     "float32_path": float32.backend, "psnr_float32_db": a, "psnr_bf16_db": b, "psnr_cost_db": a - b,
                     "worst_image_db": max(differences), "best_image_db": min(differences)})
        print(f"{name} {dataset}: float32 {a:.4f} dB, {label} {b:.4f} dB", flush=True)
    print(f"{name} {dataset}: {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def registry_entry(name: str, result: dict, costs: list, run: dict) -> dict:
    """One model's record in the registry: the weights measured, the cost, the speed-up and how they were measured."""
    times = result["times"]
    costs = [c for c in costs if c["path"] == "bf16"]
    return {
        "weights_sha256": pretrained.entry(name)["sha256"],
        "float32_convs": costs[0]["float32_convs"],
        "float32_first": costs[0]["float32_first"],
        "psnr_cost_db": round(max(c["psnr_cost_db"] for c in costs), 5),
        "speedup": round(result["ratios"]["bf16"], 3),
        "float32_path": result["reference"],
        "seconds_float32": round(statistics.median(times[result["reference"]]), 4),
        "seconds_bf16": round(statistics.median(times["bf16"]), 4),
        "image": f"{result['size']}x{result['size']} {'gray' if result['channels'] == 1 else 'colour'} ({result['source']})",
        "psnr": [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in c.items()} for c in costs],
        **run,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds (one call of each path per round)")
    parser.add_argument("--no-extra", dest="extra", action="store_false", help="time only keras float32, tflite float32 and bf16")
    parser.add_argument("--psnr", action="store_true", help="also measure the PSNR cost on BSD68 (and CBSD68 for colour models)")
    parser.add_argument("--limit", type=int, help="first N images of each set (quick look; the registry needs all)")
    parser.add_argument("--float32-convs", type=int, default=lowprecision.FLOAT32_CONVS,
                        help="last convolutions kept in float32 on the bf16 path (default %(default)s)")
    parser.add_argument("--write-registry", action="store_true", help=f"write {lowprecision.REGISTRY_FILE.relative_to(REPO)}")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results_lowprecision.md")))
    args = parser.parse_args(argv)
    if args.write_registry and (not args.psnr or args.limit is not None):
        parser.error("--write-registry needs --psnr over whole sets (no --limit)")
    reason = lowprecision.unavailable()
    if reason is not None:
        parser.error(f"the bf16 path cannot run here: {reason}")
    command = "python benchmarks/bench_lowprecision.py " + " ".join(argv if argv is not None else sys.argv[1:])

    load_before = os.getloadavg()[0]
    cpu_start = cpu_seconds()
    results, costs = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            results[name] = speed(name, args, Path(folder))
    if args.psnr:
        for name in args.models:
            sets = ["bsd68"] + (["cbsd68"] if results[name]["channels"] == 3 else [])
            variants = {"bf16": {"float32_convs": args.float32_convs, "float32_first": True}}
            if args.extra:
                variants.update({k: {**variants["bf16"], **v} for k, v in VARIANTS.items()})
            costs[name] = [row for dataset in sets for row in psnr_cost(name, dataset, args.limit, variants)]
    others = others_cores(cpu_start, cpu_seconds())
    load_after = os.getloadavg()[0]

    import tensorflow as tf

    lines = [
        "# Lower-precision inference: bfloat16 against float32",
        "",
        f"Command: `{command.strip()}`.",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} CPU cores; CPU flags: {cpu_flags()}. TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}.",
        f"1-minute load average {load_before:.2f} before, {load_after:.2f} after (the benchmark's own threads count in "
        "the load after)" + (f"; other processes used {others:.2f} cores on average during the run" if others is not None else "")
        + ". A load above the core count, or other processes' use near it, slowed every timing alike; the ratios "
        "(alternating rounds) hold better than the times.",
        "",
        f"Speed: one batch-1 call on a {args.size}x{args.size} image with Gaussian noise sigma 25 (seed [0, 0]); "
        f"{args.rounds} alternating rounds after one untimed call per path; seconds are the median (min-max) of the "
        "rounds; speed-up = median over rounds of the float32 path's time (the one `auto` takes, marked *) over the "
        "path's, in the same round. PSNR of the clipped output on that image.",
    ]
    for name, result in results.items():
        lines += [
            "",
            f"## {name} ({result['source']}; noisy {result['noisy_psnr']:.2f} dB)",
            "",
            "| path | s (median) | min-max | speed-up vs float32 path | PSNR dB | Δ dB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        base = result["psnr"][result["reference"]]
        for label, values in result["times"].items():
            mark = " *" if label == result["reference"] else ""
            lines.append(
                f"| {label}{mark} | {statistics.median(values):.3f} | {min(values):.3f}-{max(values):.3f} | "
                f"{result['ratios'][label]:.2f}x | {result['psnr'][label]:.3f} | {result['psnr'][label] - base:+.3f} |"
            )
    if costs:
        lines += [
            "",
            "## PSNR cost (evaluation protocol, sigma 25)",
            "",
            f"Each image through the float32 path `evaluate` takes and through the `bf16` backend, on the same noisy "
            f"input; cost = float32 mean - bf16 mean; worst / best = the largest / smallest per-image difference. "
            f"Adopted by `auto` (for `denoise` and the web page) where the cost is under "
            f"{lowprecision.MAX_PSNR_COST_DB} dB and bf16 is faster than the float32 path; a colour model is judged "
            "on the larger cost of its two sets. The variants are measured for the record: `auto` takes the `bf16` "
            "row only.",
            "",
            "| model | set | path | images | float32 path | float32 dB | bf16 dB | cost dB | worst / best image dB | speed-up | adopted |",
            "|---|---|---|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for name, rows in costs.items():
            for row in rows:
                label = row["path"]
                entry = {"psnr_cost_db": max(r["psnr_cost_db"] for r in rows if r["path"] == label),
                         "speedup": results[name]["ratios"].get(label)}
                adopted, why = lowprecision.verdict(entry)
                speedup = entry["speedup"]
                lines.append(
                    f"| {name} | {row['dataset']} | {label} | {row['images']} | {row['float32_path']} | "
                    f"{row['psnr_float32_db']:.4f} | {row['psnr_bf16_db']:.4f} | {row['psnr_cost_db']:+.4f} | "
                    f"{row['worst_image_db']:+.4f} / {row['best_image_db']:+.4f} | "
                    f"{'' if speedup is None else f'{speedup:.2f}x'} | "
                    f"{('yes' if adopted else 'no') + ': ' + why if label == 'bf16' else '(variant: ' + why + ')'} |"
                )
    write_report(lines, args.out)
    if args.write_registry:
        run = {
            "command": command.strip(),
            "machine": f"{cpu_name()}, {os.cpu_count()} cores; flags: {cpu_flags()}; TensorFlow {tf.__version__}, "
            f"Keras {keras.__version__}",
            "load_average": {"before": round(load_before, 2), "after": round(load_after, 2),
                             "other_processes_cores": None if others is None else round(others, 2)},
        }
        registry = lowprecision.registry()
        registry["about"] = (
            "Measurements of the bf16 inference path (denoise_tf.lowprecision), written by "
            "benchmarks/bench_lowprecision.py --psnr --write-registry. auto takes the path for denoise and the web "
            "page where the CPU has bfloat16 instructions, for the weights whose sha256 is recorded, when psnr_cost_db "
            f"(BSD68 sigma 25, and CBSD68 for colour models) is under {lowprecision.MAX_PSNR_COST_DB} dB and speedup "
            "(over the float32 path auto takes otherwise) is above 1."
        )
        registry.setdefault("models", {}).update(
            {name: registry_entry(name, results[name], costs[name], run) for name in args.models}
        )
        lowprecision.REGISTRY_FILE.write_text(json.dumps(registry, indent=2) + "\n", encoding="utf-8")
        print(f"written to {lowprecision.REGISTRY_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
