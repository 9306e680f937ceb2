"""Gray models on colour photos: mean PSNR of each colour path on CBSD68 under the evaluation protocol.

For each gray model and sigma, the first ``--limit`` CBSD68 images get the protocol's noise
(``evaluate.noisy_input``, seed ``[0, k]``) and are denoised along each colour path of
:mod:`denoise_tf.colour` (``rgb`` = channel by channel, ``opponent``, ``opponent-rgb-luma``), plus
two decorrelating transforms that measured worse and are not in the package (defined here):

* ``orthonormal``: the opponent transform with an unscaled luminance ``(R+G+B)/sqrt3`` (range
  [0, 1.73], noise ``sigma`` in every channel);
* ``ycbcr-orthogonal``: the ITU-R 601 luminance and two orthonormal chroma rows orthogonal to it
  (Gram-Schmidt of B-Y and R-Y, offset 0.5; their chroma is not 0.5 on gray pixels).

Level-taking models (FFDNet) get each channel's own level. Prints a Markdown table (mean PSNR,
dB); the seconds spent on each path go to stderr. About 5 s per image and path for DnCNN-B on a busy 2-core CPU.

Usage::

    python benchmarks/bench_colour.py --limit 6 --models dncnn-b ffdnet-gray dncnn-s25 --sigmas 25
    python benchmarks/bench_colour.py --limit 6 --models dncnn-s15 --sigmas 15 --paths rgb opponent opponent-rgb-luma
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PACKAGE_PATHS = ("rgb", "opponent", "opponent-rgb-luma")
EXTRA_PATHS = ("orthonormal", "ycbcr-orthogonal")


def extra_matrix(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix with orthogonal rows, offset)`` of a transform not in the package."""
    s2, s3, s6 = np.sqrt(2.0), np.sqrt(3.0), np.sqrt(6.0)
    if name == "orthonormal":
        return np.array([[1 / s3, 1 / s3, 1 / s3], [1 / s2, 0, -1 / s2], [1 / s6, -2 / s6, 1 / s6]]), np.array([0.0, 0.5, 0.5])
    luma = np.array([0.299, 0.587, 0.114])
    unit = luma / np.linalg.norm(luma)
    rows = []
    for direction in (np.array([0.0, 0.0, 1.0]) - luma, np.array([1.0, 0.0, 0.0]) - luma):
        v = direction - (direction @ unit) * unit
        for r in rows:
            v = v - (v @ r) * r
        rows.append(v / np.linalg.norm(v))
    return np.stack([luma, *rows]), np.array([0.0, 0.5, 0.5])


def extra_denoise(model, noisy: np.ndarray, sigma: float, name: str) -> np.ndarray:
    """Denoise one RGB image along a transform of :data:`EXTRA_PATHS` (each channel at its own level)."""
    from denoise_tf import inference

    matrix, offset = extra_matrix(name)
    channels = noisy.astype(np.float64) @ matrix.T + offset
    gray = np.ascontiguousarray(np.moveaxis(channels, -1, 0)[..., None].astype(np.float32))
    inputs = (gray,)
    if inference.takes_level(model):
        levels = sigma * np.linalg.norm(matrix, axis=1) / 255.0
        inputs = (gray, levels.astype(np.float32).reshape(-1, 1))
    out = np.asarray(inference.compiled_call(model)(*inputs), dtype=np.float64)[..., 0]  # not clipped: values may leave [0, 1]
    rgb = (np.moveaxis(out, 0, -1) - offset) @ np.linalg.inv(matrix).T
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=6, help="first N CBSD68 images (default 6)")
    parser.add_argument("--models", nargs="+", default=["dncnn-b", "ffdnet-gray", "dncnn-s25"])
    parser.add_argument("--sigmas", nargs="+", type=float, default=[25.0])
    parser.add_argument("--paths", nargs="+", default=list(PACKAGE_PATHS + EXTRA_PATHS), choices=PACKAGE_PATHS + EXTRA_PATHS)
    args = parser.parse_args(argv)

    from denoise_tf import datasets, evaluate, inference, metrics, zoo

    images, _ = datasets.load("cbsd68", color=True, limit=args.limit)
    lines = []
    for name in args.models:
        model = zoo.load_model(name)
        for sigma in args.sigmas:
            cells = []
            for path in args.paths:
                start, scores = time.perf_counter(), []
                for k, clean in enumerate(images):
                    noisy = evaluate.noisy_input(clean, f"gaussian:sigma={sigma:g}", [0, k])
                    if path in PACKAGE_PATHS:
                        restored = inference.denoise(model, noisy, sigma=sigma, color_mode=path)
                    else:
                        restored = extra_denoise(model, noisy, sigma, path)
                    scores.append(metrics.psnr(clean, restored))
                cells.append(f"{np.mean(scores):.2f}")
                print(f"{name} σ={sigma:g} {path}: {np.mean(scores):.3f} dB ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
            lines.append(f"| {name} | {sigma:g} | " + " | ".join(cells) + " |")
    print(f"CBSD68, first {len(images)} images, Gaussian noise (protocol, seed [0, k]), mean PSNR (dB)\n")
    print("| model | σ | " + " | ".join(args.paths) + " |")
    print("|---|---|" + "---|" * len(args.paths))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
