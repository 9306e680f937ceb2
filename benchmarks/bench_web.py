"""Speed of the web demo: one 512x512 request end to end, and 4 concurrent clients on loopback.

Starts the Gradio app (denoise_tf.web) on 127.0.0.1 in this process and drives it with
gradio_client (upload, denoise, download of the outputs), beside the bare model call
(inference.denoise) and the handler without HTTP (web.process + saving the result).
Writes benchmarks/results_web.md.

    python benchmarks/bench_web.py [--models dncnn-b median] [--size 512] [--requests 3] [--clients 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from denoise_tf import datasets, noise, web  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _median_time(function, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _bench_model(label, path, image, args, Client, handle_file, folder) -> dict:
    """Timings of one denoiser (``name``, or ``name@keras`` / ``name@tflite`` to force an inference path).

    Bare call, handler without HTTP, end to end per server concurrency.
    """
    from denoise_tf import zoo

    name, _, backend = label.partition("@")
    previous = os.environ.pop(zoo.ENV_BACKEND, None)
    if backend:
        os.environ[zoo.ENV_BACKEND] = backend
    try:
        result = _bench_denoiser(name, path, image, args, Client, handle_file, folder)
        path_label = web.backend_label(name) if web.denoiser_info(name).neural else None
    finally:
        os.environ.pop(zoo.ENV_BACKEND, None)
        if previous is not None:
            os.environ[zoo.ENV_BACKEND] = previous
    return {**result, "name": f"{name} ({path_label})" if path_label else name}


def _bench_denoiser(name, path, image, args, Client, handle_file, folder) -> dict:
    from denoise_tf import classical

    info = web.denoiser_info(name)
    warm = web.warmup(name)
    if info.neural:
        level = 25.0 if info.level_input else None
        bare_call = lambda: web.run_denoiser(name, image, sigma=level)  # noqa: E731  (the page's inference path)
    else:
        bare_call = lambda: classical.get(name).denoise(image)  # noqa: E731
    bare_call()
    bare, _ = _median_time(bare_call, args.requests)
    handler, _ = _median_time(lambda: web.handle(str(path), None, None, "none", 25, 0, name, True, 25, folder=folder), args.requests)
    print(f"{name}: bare {bare:.3f} s, handler {handler:.3f} s", flush=True)
    request = (handle_file(str(path)), "camera.png", None, "none", 25, 0, name, True, 25)
    rows = []
    for concurrency in args.concurrency:
        app = web.build_app(default_model=name)
        app.queue(default_concurrency_limit=concurrency)
        port = _port()
        app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        url = f"http://127.0.0.1:{port}/"
        try:
            client = Client(url, verbose=False)
            client.predict(*request, api_name="/denoise")  # warm-up (the upload path, the queue)
            single, _ = _median_time(lambda: client.predict(*request, api_name="/denoise"), args.requests)
            clients = [Client(url, verbose=False) for _ in range(args.clients)]

            def work(c):
                for _ in range(args.per_client):
                    out = c.predict(*request, api_name="/denoise")
                    assert "OK" in out[5], out[5]

            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(work, clients))
            elapsed = time.perf_counter() - start
            total = args.clients * args.per_client
            rows.append({"concurrency": concurrency, "single": single, "rate": total / elapsed, "total": total})
            print(f"  concurrency {concurrency}: one request {single:.3f} s, {args.clients} clients {total / elapsed:.2f} req/s", flush=True)
        finally:
            app.close()
    return {"name": name, "warm": warm, "bare": bare, "handler": handler, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", default=["dncnn-b@keras", "dncnn-b", "ffdnet-gray", "median"],
        help="denoisers (the page's default inference path); NAME@keras or NAME@tflite forces one",
    )
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--requests", type=int, default=3, help="sequential requests timed (after one warm-up)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-client", type=int, default=2, help="requests per concurrent client")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2], help="server concurrency limits to try")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results_web.md"))
    args = parser.parse_args(argv)

    import gradio
    import gradio_client
    from gradio_client import Client, handle_file

    folder = Path(tempfile.mkdtemp(prefix="bench_web_"))
    clean = np.tile(web.load_sample("camera.png"), (2, 2, 1))[: args.size, : args.size]
    noisy = noise.apply(clean, "gaussian:sigma=25", seed=[0])
    path = datasets.save_image(folder / f"noisy{args.size}.png", noisy)
    image = datasets.read_image(path)
    results = [_bench_model(name, path, image, args, Client, handle_file, folder) for name in args.models]

    cpu = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
    lines = [
        "# Web demo speed (`benchmarks/bench_web.py`)",
        "",
        f"One {args.size}x{args.size} gray PNG with Gaussian noise (sigma 25) per request; {cpu}, TensorFlow "
        f"CPU, gradio {gradio.__version__}, gradio_client {gradio_client.__version__}, app and clients on "
        f"127.0.0.1 in one process. Medians of {args.requests} timed runs after a warm-up (the model build and "
        "graph tracing are paid once, at start-up: `web.warmup`). End to end = `gradio_client` upload, queue, "
        "denoise, PNG encoding and download of the outputs. Throughput: "
        f"{args.clients} clients, {args.per_client} requests each, at once.",
        "",
        "| denoiser | bare call (s) | handler, no HTTP (s) | server concurrency | end to end, 1 request (s) | "
        f"{args.clients} clients: requests/s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for i, row in enumerate(r["rows"]):
            head = f"| {r['name']} | {r['bare']:.3f} | {r['handler']:.3f} " if i == 0 else "| | | "
            lines.append(head + f"| {row['concurrency']} | {row['single']:.3f} | {row['rate']:.2f} |")
    lines.append("")
    for r in results:
        best = min(row["single"] for row in r["rows"])
        verdict = "met" if best < 1 else "not met"
        lines.append(
            f"- `{r['name']}`: one request {best:.2f} s end to end against {r['bare']:.2f} s for the bare call "
            f"(target under 1 s: {verdict}; web overhead about {best - r['bare']:+.2f} s)."
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines += [
        "",
        f"1-minute load average at the end: {load:.1f} on {os.cpu_count()} cores (a load above the core count",
        "slows every timing). The median filter's row shows what the web path itself costs (upload, Gradio's",
        "queue, PNG encoding, the client downloading four images); the neural rows add the model call.",
        "",
    ]
    Path(args.output).write_text("\n".join(lines))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
