"""Write a SIDD-layout folder of noisy/clean pairs from clean images (a stand-in for SIDD offline).

A command-line wrapper of :func:`denoise_tf.datasets.make_paired_set`, which writes the layout of
SIDD Medium that :func:`denoise_tf.datasets.find_pairs` reads with ``layout="sidd"``::

    OUT/Data/0001_100007_ISO1234/0001_NOISY_SRGB_010.PNG
    OUT/Data/0001_100007_ISO1234/0001_GT_SRGB_010.PNG
    ...

Usage::

    python scripts/make_paired_set.py --out /tmp/sidd_iso_cbsd432             # all of CBSD432
    python scripts/make_paired_set.py --source samples --out /tmp/pairs --limit 3
    python -m denoise_tf train configs/sequential_sidd.yaml --set paired_data=/tmp/sidd_iso_cbsd432
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from denoise_tf.datasets import PAIRED_NOISE as DEFAULT_NOISE
from denoise_tf.datasets import make_paired_set  # importable from here as before


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
    try:
        written = make_paired_set(
            args.source, args.out, args.noise, args.limit, args.seed, not args.gray, args.data_root, args.overwrite
        )
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} noisy/clean pairs under {Path(args.out) / 'Data'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
