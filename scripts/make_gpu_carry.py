"""Build ``.gpu/``, the folder carried to a lent GPU machine (see scripts/GPU.md).

The device copies the working tree plus the carried folders, 64 MiB in all, so each group carries
only what its runs need:

- ``gray``: Train400, the 32 validation images (``train400_val``), the Keras wheels and the run
  backups of the gray configs (DnCNN-S 15/25/50, DnCNN-B, FFDNet).
- ``colour-data``: CBSD432 and the wheels. Copy it to ``/tmp/data`` on the device in a first call;
  it stays there while the machine is warm.
- ``colour-runs``: the run backups of the colour configs (CDnCNN-B, mixed noise, dilated ISO,
  sequential SIDD-layout), for the following calls.

Usage::

    python scripts/make_gpu_carry.py gray            # then: mv runs /tmp/runs-committed (GPU.md step 2)
    python scripts/make_gpu_carry.py colour-data

Prints the carried size beside the tracked tree's (without ``runs/``, which step 2 moves out).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 64 * 2**20
GROUPS = {
    "gray": ("dncnn_s15", "dncnn_s25", "dncnn_s50", "dncnn_b", "ffdnet_gray"),
    "colour-runs": ("cdncnn_b", "dncnn_mixed", "dilated_iso", "sequential_sidd"),
}
RUN_FILES = ("backup", "config.json", "summary.json", "log.csv")


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def tree_size() -> int:
    """Bytes of the tracked files outside ``runs/`` (what travels besides the carry)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    return sum((ROOT / f).stat().st_size for f in files if f and not f.startswith("runs/") and (ROOT / f).is_file())


def build(group: str, data_root: Path, wheels: Path, runs: Path, out: Path) -> int:
    """Fill ``out`` for ``group``; returns its size in bytes."""
    sys.path.insert(0, str(ROOT))
    from denoise_tf.datasets import TRAIN400_VAL_FILES

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if group in ("gray", "colour-data"):
        shutil.copytree(wheels, out / "wheels", ignore=shutil.ignore_patterns("README*"))
        (out / "data").mkdir()
        shutil.copy(data_root / "MANIFEST.md", out / "data")
    if group == "gray":
        shutil.copytree(data_root / "train400", out / "data" / "train400")
        (out / "data" / "cbsd432").mkdir()
        for name in TRAIN400_VAL_FILES:
            shutil.copy(data_root / "cbsd432" / name, out / "data" / "cbsd432" / name)
    if group == "colour-data":
        shutil.copytree(data_root / "cbsd432", out / "data" / "cbsd432")
    for name in GROUPS.get(group, ()):
        if (runs / name / "backup").is_dir():
            for item in RUN_FILES:
                source = runs / name / item
                if source.is_dir():
                    shutil.copytree(source, out / "runs" / name / item)
                elif source.exists():
                    (out / "runs" / name).mkdir(parents=True, exist_ok=True)
                    shutil.copy(source, out / "runs" / name / item)
    return _size(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("group", choices=("gray", "colour-data", "colour-runs"))
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--wheels", type=Path, default=ROOT.parent / "shared" / "gpu-wheels")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu")
    args = parser.parse_args(argv)
    carried = build(args.group, args.data_root, args.wheels, args.runs, args.out)
    tree = tree_size()
    total = carried + tree
    print(f"{args.out}: {carried / 2**20:.1f} MiB carried + {tree / 2**20:.1f} MiB tracked tree (without runs/) = {total / 2**20:.1f} MiB of 64")
    if total > LIMIT:
        print("over the device's 64 MiB: carry fewer runs or split the data across calls", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
