"""The reference rate every benchmark reports beside its own numbers, measured in the same run."""

import platform
import time
from pathlib import Path

import numpy as np


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` FP32 NumPy matmul rate in GFLOP/s (``2 n^3`` FLOPs per product)."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b  # warm-up (thread pool, page faults)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def write_report(lines, path) -> str:
    """Print the Markdown ``lines`` and write them to ``path``; returns the text."""
    from pathlib import Path

    text = "\n".join(lines) + "\n"
    print()
    print(text)
    Path(path).write_text(text)
    print(f"written to {path}")
    return text


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
