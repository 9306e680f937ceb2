"""Write a SIDD-layout folder of noisy/clean pairs from clean images (a stand-in for SIDD offline).

SIDD itself (seed 001's data) is not available offline. This script makes a folder that
:func:`denoise_tf.datasets.find_pairs` reads with ``layout="sidd"``, the layout of SIDD Medium::

    OUT/Data/0001_100007_ISO1234/0001_NOISY_SRGB_010.PNG
    OUT/Data/0001_100007_ISO1234/0001_GT_SRGB_010.PNG
    ...

One scene per source image (``<index>_<image stem>_ISO<iso>``): the ground truth is the clean
image written as an 8-bit PNG, the noisy image the same image with camera ISO noise of
:mod:`denoise_tf.noise` (kind ``iso``: signal-dependent luminance noise plus low-frequency
chroma noise, clipped), rounded to 8 bits as a camera writes it. Image ``k`` gets its noise (and
its ISO, drawn log-uniform from the ``--noise`` range) from the seed ``[seed, k]``, so the same
arguments always write the same files. This is synthetic noise: a model trained on it learns
the ``iso`` model, not a smartphone's real noise.

Usage::

    python scripts/make_paired_set.py --out /tmp/sidd_iso_cbsd432             # all of CBSD432
    python scripts/make_paired_set.py --source samples --out /tmp/pairs --limit 3
    python -m denoise_tf train configs/sequential_sidd.yaml --set paired_data=/tmp/sidd_iso_cbsd432
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_NOISE = "iso:iso=800-6400"


def make_paired_set(
    source: str,
    out,
    noise: str = DEFAULT_NOISE,
    limit: int | None = None,
    seed: int = 0,
    color: bool = True,
    data_root=None,
    overwrite: bool = False,
) -> list[tuple[Path, Path]]:
    """Write ``out/Data/<scene>/<n>_NOISY_SRGB_010.PNG`` + ``<n>_GT_SRGB_010.PNG`` per source image.

    Parameters
    ----------
    source : str
        A named set (``cbsd432``...), ``samples``, or a folder of images.
    out : path-like
        Target folder (its ``Data/`` must be absent or empty unless ``overwrite``).
    noise : str
        Noise spec of :mod:`denoise_tf.noise` (``iso`` by default; any kind works).
    limit : int or None
        Use the first ``limit`` images (name order).
    seed : int
        Image ``k`` gets its noise from ``[seed, k]``.
    color : bool
        RGB (True, SIDD's sRGB images) or gray.

    Returns
    -------
    list of (Path, Path)
        ``(noisy file, clean file)`` per scene, in order.
    """
    from denoise_tf import datasets
    from denoise_tf import noise as noise_lib

    spec = noise_lib.parse(noise)
    out = Path(out)
    data = out / "Data"
    if data.is_dir() and any(data.iterdir()) and not overwrite:
        raise FileExistsError(f"{data} is not empty: choose another --out or pass --overwrite")
    images, names = datasets.load(source, color=color, limit=limit, data_root=data_root)
    written = []
    for k, (image, name) in enumerate(zip(images, names)):
        noisy, level = noise_lib.apply(image, spec, seed=[seed, k], return_level=True)
        stem = Path(name).stem.replace("_", "-")
        tag = f"_ISO{int(round(_iso_of(spec, seed, k)))}" if spec.kind == "iso" else ""
        scene = data / f"{k + 1:04d}_{stem}{tag}"
        noisy_file = datasets.save_image(scene / f"{k + 1:04d}_NOISY_SRGB_010.PNG", noisy)
        clean_file = datasets.save_image(scene / f"{k + 1:04d}_GT_SRGB_010.PNG", image)
        written.append((noisy_file, clean_file))
    info = {
        "source": str(source),
        "noise": str(spec),
        "seed": seed,
        "count": len(written),
        "layout": "sidd",
        "note": "synthetic stand-in for SIDD made by scripts/make_paired_set.py; image k's noise from seed [seed, k]",
    }
    (out / "make_paired_set.json").write_text(json.dumps(info, indent=2))
    return written


def _iso_of(spec, seed: int, k: int) -> float:
    """The ISO the ``iso`` kind draws for image ``k`` (its first draw from the image's generator)."""
    value = spec.params["iso"]
    if not isinstance(value, tuple):
        return float(value)
    rng = np.random.default_rng([seed, k])
    return float(np.exp(rng.uniform(np.log(value[0]), np.log(value[1]))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="cbsd432", help="named set, 'samples' or an image folder (default cbsd432)")
    parser.add_argument("--out", required=True, help="target folder (gets Data/<scene>/...)")
    parser.add_argument("--noise", default=DEFAULT_NOISE, help=f"noise spec (default {DEFAULT_NOISE})")
    parser.add_argument("--limit", type=int, default=None, help="use the first N images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gray", action="store_true", help="write gray images (default RGB)")
    parser.add_argument("--data-root", default=None, help="data root of the named sets")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty Data/ folder")
    args = parser.parse_args(argv)
    written = make_paired_set(
        args.source, args.out, args.noise, args.limit, args.seed, not args.gray, args.data_root, args.overwrite
    )
    print(f"wrote {len(written)} noisy/clean pairs under {Path(args.out) / 'Data'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
