"""What one web request costs, stage by stage: upload, decode, denoise, metrics, PNGs, queue, download.

Starts the Gradio app (``denoise_tf.web``) on 127.0.0.1 in this process and sends it requests
the way a browser does, over plain HTTP: the upload (``POST /gradio_api/upload``), the call
(``POST /gradio_api/call/denoise``, then its event stream until ``complete``) and one download
of each distinct output file. The page's own stages come from the app itself
(``web.STAGES``: decode, noise, sigma estimate, prepare, denoise, metrics, PNG encoding of each
output, Gradio's cache copies); ``queue + transport`` is the call's time minus the page's
handler. For comparison it also times the same request through ``gradio_client`` (which polls
its event stream every 50 ms and downloads every output, duplicates included) and the bare
denoiser call. Requests: one 512x512 gray PNG (camera tiled, Gaussian sigma 25, the image used
as it is: no synthetic noise, sigma estimated where the model takes one) for each model, and one
512x512 colour photo (astronaut) for the page's default model.

The machine is judged before and during the run, not by the load it adds itself: the run counts
as idle when the 1-minute load average before it is below 1.5 and other processes used under 0.5
cores on average while it ran (the machine's busy CPU time from ``/proc/stat`` less this
process's own; where that file is missing, the load after the run less the benchmark's own
threads, below 1.5). The load after the run and the FP32 matmul rate at both ends are recorded
too. Timings from a loaded machine are labelled so, and only an idle run states whether the
targets are met; the report states the rule and the figures it judged.

    python benchmarks/bench_web_stages.py [--models ffdnet-gray median] [--colour-model NAME] [--requests 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from reference import cpu_name, matmul_gflops, write_report  # noqa: E402

from denoise_tf import datasets, noise, web  # noqa: E402

#: Targets: one 512x512 gray request end to end with the FFDNet-style model (seconds).
TARGETS = {"ffdnet-gray": 0.6}
IDLE_LOAD = 1.5
#: Most CPU other processes may use during an idle run (cores, averaged over the run).
IDLE_OTHER_CORES = 0.5
PAGE_STAGES = ("decode", "noise", "sigma", "prepare", "denoise", "metrics", "png result", "png original", "png noisy", "png denoised", "cache")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _threads() -> int:
    """The cores this process may use: the denoisers' compute threads (TFLite and TensorFlow use them all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _cpu_seconds() -> tuple[float, float, float] | None:
    """``(wall clock, busy CPU seconds of the whole machine, CPU seconds of this process)``; None without ``/proc/stat``."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(fields[:3]) + sum(fields[5:8])  # user, nice, system; irq, softirq, steal (not idle, iowait)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), own.ru_utime + own.ru_stime


def judge(loads: dict, start, end) -> tuple[bool, str]:
    """``(idle, the rule with the figures it judged)`` for a run (see the module docstring).

    ``loads``: the 1-minute load average ``before`` and ``after`` the run and the benchmark's
    own compute ``threads``; ``start`` / ``end``: :func:`_cpu_seconds` at both ends (or None).
    """
    before_ok = loads["before"] < IDLE_LOAD
    if start is not None and end is not None:
        wall = max(end[0] - start[0], 1e-9)
        others = max(0.0, (end[1] - start[1]) - (end[2] - start[2])) / wall
        loads["others"] = others
        idle = before_ok and others < IDLE_OTHER_CORES
        rule = (
            f"idle when the load before the run is below {IDLE_LOAD} ({loads['before']:.2f}) and other processes used "
            f"under {IDLE_OTHER_CORES} cores on average during it ({others:.2f}: busy CPU time from /proc/stat less "
            f"this process's own, over {wall:.0f} s); the load after ({loads['after']:.2f}) includes the benchmark's own "
            f"{loads['threads']} threads and is not judged"
        )
    else:
        rest = loads["after"] - loads["threads"]
        idle = before_ok and rest < IDLE_LOAD
        rule = (
            f"idle when the load before the run is below {IDLE_LOAD} ({loads['before']:.2f}) and the load after it less "
            f"the benchmark's own {loads['threads']} threads is too ({loads['after']:.2f} - {loads['threads']} = {rest:.2f})"
        )
    return idle, rule


def _files(value) -> list[dict]:
    """Every FileData dict in an output value (nested lists and dicts)."""
    if isinstance(value, dict):
        found = [value] if value.get("url") or (value.get("path") and "meta" in value) else []
        return found + [f for v in value.values() if isinstance(v, (dict, list)) for f in _files(v)]
    if isinstance(value, list):
        return [f for v in value for f in _files(v)]
    return []


def http_request(http, url: str, path: Path, model: str, sigma_auto: bool = True) -> dict:
    """One request as a browser makes it; seconds per client-side stage and the server's stages."""
    times = {}
    start = time.perf_counter()
    with open(path, "rb") as handle:
        response = http.post(url + "gradio_api/upload", files={"files": (path.name, handle, "image/png")})
    response.raise_for_status()
    server_path = response.json()[0]
    times["upload"] = time.perf_counter() - start
    upload = {"path": server_path, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
    data = [upload, None, None, web.NO_NOISE, 25, 0, model, sigma_auto, 25]
    before = len(web.STAGES)
    start = time.perf_counter()
    event = http.post(url + "gradio_api/call/denoise", json={"data": data}).json()["event_id"]
    output, kind = None, None
    with http.stream("GET", url + f"gradio_api/call/denoise/{event}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                output = json.loads(line.split(":", 1)[1])
                break
    times["call"] = time.perf_counter() - start
    if kind != "complete" or "OK" not in str(output[5]):
        raise RuntimeError(f"request failed: {kind} {str(output)[:300]}")
    record = web.STAGES[-1] if len(web.STAGES) > before else {"stages": {}}
    stages = dict(record["stages"])
    times["queue + transport"] = times["call"] - stages.get("handler", 0.0)
    urls = sorted({f["url"] for f in _files(output[:4]) if f.get("url")})  # the views; the download waits for a click
    start = time.perf_counter()
    size = 0
    for file_url in urls:
        got = http.get(file_url)
        got.raise_for_status()
        size += len(got.content)
    times["download"] = time.perf_counter() - start
    times["end to end"] = times["upload"] + times["call"] + times["download"]
    return {"client": times, "page": stages, "files": len(urls), "bytes": size, "backend": record.get("backend")}


def _median(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def bench(url: str, label: str, model: str, path: Path, image: np.ndarray, requests: int) -> dict:
    import httpx
    from gradio_client import Client, handle_file

    warm = web.warmup(model)
    if image.shape[-1] == 3 or web.denoiser_info(model).level_input:
        web.process(image, model)  # the colour path's batch shape, the sigma estimate
    start = time.perf_counter()
    web.run_denoiser(model, image, sigma=25.0 if web.denoiser_info(model).uses_sigma else None)
    bare = [time.perf_counter() - start]
    for _ in range(max(1, requests // 2)):
        start = time.perf_counter()
        web.run_denoiser(model, image, sigma=25.0 if web.denoiser_info(model).uses_sigma else None)
        bare.append(time.perf_counter() - start)
    runs = []
    with httpx.Client(timeout=600) as http:
        http_request(http, url, path, model)  # warm: the routes, the upload folder, the cache
        for _ in range(requests):
            runs.append(http_request(http, url, path, model))
    client = Client(url, verbose=False)
    request = (handle_file(str(path)), None, None, web.NO_NOISE, 25, 0, model, True, 25)
    client.predict(*request, api_name="/denoise")
    via_client = []
    for _ in range(requests):
        start = time.perf_counter()
        client.predict(*request, api_name="/denoise")
        via_client.append(time.perf_counter() - start)
    client_stages = ("upload", "queue + transport", "download", "end to end")
    gflop = None
    if web.denoiser_info(model).channels == 1 and image.shape[-1] == 1:  # a gray model on a gray image
        from bench_models import conv_flops

        gflop = conv_flops(web.load_model(model), *image.shape[:2]) / 1e9
    row = {
        "label": label,
        "model": model,
        "backend": runs[-1]["backend"] or "classical",
        "warmup": warm,
        "bare": _median(bare[1:]),
        "page": {s: _median([r["page"].get(s) for r in runs]) for s in PAGE_STAGES + ("handler",)},
        "client": {s: _median([r["client"][s] for r in runs]) for s in client_stages},
        "files": runs[-1]["files"],
        "bytes": runs[-1]["bytes"],
        "gradio_client": _median(via_client),
        "gflop": gflop,
    }
    print(f"{label}: end to end {row['client']['end to end']:.3f} s (gradio_client {row['gradio_client']:.3f} s), "
          f"page {row['page']['handler']:.3f} s, denoise {row['page']['denoise']:.3f} s", flush=True)
    return row


def report(rows: list, args, loads: dict, rates: dict) -> list[str]:
    import gradio

    idle, rule = loads["idle"], loads["rule"]
    label = "idle machine" if idle else "LOADED machine: not idle-machine figures"
    lines = [
        "# Web request cost, stage by stage (`benchmarks/bench_web_stages.py`)",
        "",
        f"**{label}** (rule: {rule}). 1-minute load average {loads['before']:.2f} before, {loads['after']:.2f} after, on "
        f"{os.cpu_count()} cores ({cpu_name()}); FP32 matmul rate {rates['before']:.1f} GFLOP/s before, "
        f"{rates['after']:.1f} after. gradio {gradio.__version__}; app and client on 127.0.0.1 in one process.",
        "",
        f"Each row: medians of {args.requests} requests after a warm-up (`web.warmup`). Client stages over plain HTTP, as "
        "a browser makes them: upload, call (queue, the page's handler, Gradio's pre/post-processing, the event stream), "
        "one download of each distinct view; `queue + transport` = call minus the page's handler. Page stages from "
        "`web.STAGES` (empty cells: the stage did not run). `gradio_client`: the same request through "
        "`gradio_client.Client.predict` (it polls every 50 ms and downloads every output, duplicates included). "
        "Bare: `web.run_denoiser` alone.",
        "",
        "| request | path | bare denoiser (s) | decode | sigma | prepare | denoise | PNGs | cache | page total | upload | queue + transport | download (files, kB) | **end to end (s)** | gradio_client (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ms(value) -> str:
        return "" if value is None or value != value else f"{value * 1000:.0f} ms"

    for r in rows:
        p, c = r["page"], r["client"]
        pngs = sum(v for k, v in p.items() if k.startswith("png") and v == v)
        lines.append(
            f"| {r['label']} | {r['backend']} | {r['bare']:.3f} | {ms(p['decode'])} | {ms(p['sigma'])} | {ms(p['prepare'])} | "
            f"{ms(p['denoise'])} | {ms(pngs)} | {ms(p['cache'])} | {ms(p['handler'])} | {ms(c['upload'])} | "
            f"{ms(c['queue + transport'])} | {ms(c['download'])} ({r['files']}, {r['bytes'] / 1024:.0f}) | "
            f"**{c['end to end']:.3f}** | {r['gradio_client']:.3f} |"
        )
    lines.append("")
    rate = max(rates["before"], rates["after"])
    for r in rows:
        target = TARGETS.get(r["model"]) if "gray" in r["label"] else None
        overhead = r["client"]["end to end"] - r["page"]["denoise"]
        text = f"- {r['label']}: {r['client']['end to end']:.2f} s end to end, of which the denoiser {r['page']['denoise']:.2f} s and the rest {overhead:.2f} s"
        if r["gflop"]:
            achieved = r["gflop"] / r["page"]["denoise"]
            text += (
                f"; the model's {r['gflop']:.1f} GFLOP of convolutions ran at {achieved:.1f} GFLOP/s "
                f"({achieved / rate:.2f}x the best matmul rate of this run, {rate:.1f} GFLOP/s)"
            )
            if target is not None:
                text += f"; within {target:g} s the model must run at {r['gflop'] / max(target - overhead, 1e-3):.0f} GFLOP/s or more"
        if target is not None:
            if idle:
                text += f"; target {target:g} s: {'met' if r['client']['end to end'] <= target else 'not met'}"
            else:
                text += f"; target {target:g} s: not judged here (loaded machine)"
        lines.append(text + ".")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ffdnet-gray", "median"], help="denoisers for the gray request")
    parser.add_argument("--colour-model", default=None, help="denoiser for the colour photo (default: the page's default model; 'none' skips it)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--requests", type=int, default=5, help="timed requests per row (after one warm-up)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results_web_stages.md"))
    args = parser.parse_args(argv)

    loads = {"before": _load(), "threads": _threads()}
    cpu_start = _cpu_seconds()
    rates = {"before": matmul_gflops()}
    folder = Path(tempfile.mkdtemp(prefix="bench_web_stages_"))
    gray = np.tile(web.load_sample("camera.png"), (2, 2, 1))[: args.size, : args.size]
    gray_noisy = noise.apply(gray, "gaussian:sigma=25", seed=[0])
    gray_path = datasets.save_image(folder / f"gray{args.size}.png", gray_noisy)
    colour = web.load_sample("astronaut.png")
    colour = np.tile(colour, (2, 2, 1))[: args.size, : args.size] if colour.shape[-1] == 3 else None
    requests = [(f"{name}, {args.size}x{args.size} gray", name, gray_path) for name in args.models]
    colour_model = args.colour_model or web.default_denoiser()
    if colour is not None and colour_model != "none":
        colour_path = datasets.save_image(folder / f"colour{args.size}.png", noise.apply(colour, "gaussian:sigma=25", seed=[1]))
        requests.append((f"{colour_model}, {args.size}x{args.size} colour", colour_model, colour_path))

    app = web.build_app(default_model=args.models[0])
    app.queue(default_concurrency_limit=1)
    port = _port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    rows = []
    try:
        for label, model, path in requests:
            image = datasets.read_image(path)
            count = args.requests if "colour" not in label else max(2, args.requests // 2)
            rows.append(bench(f"http://127.0.0.1:{port}/", label, model, path, image, count))
    finally:
        app.close()
    rates["after"] = matmul_gflops()
    loads["after"] = _load()
    loads["idle"], loads["rule"] = judge(loads, cpu_start, _cpu_seconds())
    print(f"{'idle' if loads['idle'] else 'LOADED'} machine: {loads['rule']}", flush=True)
    write_report(report(rows, args, loads, rates), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
