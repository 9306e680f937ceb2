"""Noise generation throughput per kind: 40x40 patches, batch 128, patches/s (NumPy path).

    python benchmarks/bench_noise.py            # prints a Markdown table, writes results_noise.md

Measured beside a reference in the same run (numpy FP32 matmul GFLOP/s), since machines differ
from day to day.
"""

import time
from pathlib import Path

import numpy as np
from reference import matmul_gflops

from denoise_tf import noise

SPECS = [
    "gaussian:sigma=25",
    "gaussian:sigma=0-55",
    "poisson:peak=30",
    "salt_and_pepper:amount=0.05",
    "speckle:sigma=25",
    "iso:iso=1600",
    "scribbles",
    "jpeg:quality=30",
    "mixed:kinds=gaussian,salt_and_pepper,speckle,scribbles",
]




def throughput(spec, channels, batches=20):
    rng = np.random.default_rng(0)
    clean = rng.random((128, 40, 40, channels), dtype=np.float32)
    noise.apply(clean, spec, seed=0)
    start = time.perf_counter()
    for k in range(batches):
        noise.apply(clean, spec, seed=k)
    return 128 * batches / (time.perf_counter() - start)


def main():
    lines = [f"numpy FP32 matmul (2048^2): {matmul_gflops():.1f} GFLOP/s", "", "| noise spec | gray patches/s | colour patches/s |", "|---|---:|---:|"]
    for spec in SPECS:
        lines.append(f"| `{spec}` | {throughput(spec, 1):,.0f} | {throughput(spec, 3):,.0f} |")
    text = "\n".join(lines)
    print(text)
    Path(__file__).with_name("results_noise.md").write_text("# Noise generation throughput (40x40, batch 128)\n\n" + text + "\n")


if __name__ == "__main__":
    main()
