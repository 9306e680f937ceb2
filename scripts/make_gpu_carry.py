"""Build ``.gpu/``, the folder carried to a lent GPU machine (see scripts/GPU.md).

The device copies the working tree plus the carried folders, 64 MiB in all, so each group carries
only what its runs need:

- ``gray``: Train400, the validation images the gray configs read (the first ``val_limit`` of
  ``train400_val``), the Keras wheels and the run backups of the gray configs (DnCNN-S 15/25/50,
  DnCNN-B, FFDNet).
- ``colour-data``: CBSD432 and the wheels. Copy it to ``/tmp/data`` on the device in a first call;
  it stays there while the machine is warm.
- ``colour-runs``: the run backups of the colour configs (CDnCNN-B, mixed noise, dilated ISO,
  sequential SIDD-layout; the opponent-space colour model starts from its shipped weights), for the
  following calls.

Run folders go into ``.gpu/runs.tar.gz`` (gzip saves about a tenth of the weights files), with
what resuming needs: the latest backup (not the ``.bkp`` copy of the one before), ``config.json``,
``summary.json`` and ``log.csv``. ``--only NAME ...`` carries fewer runs.

Usage::

    python scripts/make_gpu_carry.py gray            # then: mv runs /tmp/runs-committed (GPU.md step 1)
    python scripts/make_gpu_carry.py colour-data

Prints the carried size beside the working tree's (tracked and untracked files that git does not
ignore, without ``runs/``, which GPU.md's step 1 moves out) and fails above 64 MiB.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 64 * 2**20
GROUPS = {
    "gray": ("dncnn_s15", "dncnn_s25", "dncnn_s50", "dncnn_b", "ffdnet_gray"),
    "colour-runs": ("cdncnn_opponent", "cdncnn_b", "dncnn_mixed", "dilated_iso", "sequential_sidd"),
}
#: What resuming a run needs: the latest backup (not the ``.bkp`` copy of the one before), config, summary, log.
RUN_FILES = (
    "backup/latest.weights.h5",
    "backup/training_metadata.json",
    "backup/latest.weights.h5.sha256",
    "config.json",
    "summary.json",
    "log.csv",
)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def tree_size() -> int:
    """Bytes of the files that travel besides the carry: tracked and untracked-not-ignored, outside ``runs/``."""
    command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(command, cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    return sum((ROOT / f).stat().st_size for f in set(files) if f and not f.startswith("runs/") and (ROOT / f).is_file())


def validation_files(names, data_root: Path) -> list[str]:
    """Names of the validation images that the configs ``configs/<name>.yaml`` read (``val_data``, ``val_limit``)."""
    import yaml

    sys.path.insert(0, str(ROOT))
    from denoise_tf.config import TrainConfig
    from denoise_tf.datasets import image_files

    wanted = []
    for name in names:
        values = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text()) or {}
        val_data, val_limit = values.get("val_data", TrainConfig.val_data), values.get("val_limit", TrainConfig.val_limit)
        if val_data and not values.get("val_holdout"):
            files = image_files(val_data, data_root)[:val_limit]
            wanted += [f.name for f in files if f.name not in wanted]
    return wanted


def build(group: str, data_root: Path, wheels: Path, runs: Path, out: Path, only=None) -> int:
    """Fill ``out`` for ``group`` (its runs, or those of ``only``); returns its size in bytes."""
    names = [n for n in GROUPS.get(group, ()) if not only or n in only]
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
        for name in validation_files(GROUPS["gray"], data_root):
            shutil.copy(data_root / "cbsd432" / name, out / "data" / "cbsd432" / name)
    if group == "colour-data":
        shutil.copytree(data_root / "cbsd432", out / "data" / "cbsd432")
    carried = [n for n in names if (runs / n / "backup" / "latest.weights.h5").is_file()]
    if carried:
        with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
            for name in carried:
                for item in RUN_FILES:
                    if (runs / name / item).is_file():
                        tar.add(runs / name / item, arcname=f"{name}/{item}")
        print(f"runs.tar.gz: {', '.join(carried)}")
    return _size(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("group", choices=("gray", "colour-data", "colour-runs"))
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--wheels", type=Path, default=ROOT.parent / "shared" / "gpu-wheels")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="carry only these runs of the group")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only or ()) - set(GROUPS.get(args.group, ())))
    if unknown:
        parser.error(f"--only: {unknown} are not runs of group {args.group!r} (expected some of {list(GROUPS.get(args.group, ()))})")
    carried = build(args.group, args.data_root, args.wheels, args.runs, args.out, args.only)
    tree = tree_size()
    total = carried + tree
    print(f"{args.out}: {carried / 2**20:.1f} MiB carried + {tree / 2**20:.1f} MiB working tree (without runs/) = {total / 2**20:.1f} MiB of 64")
    if total > LIMIT:
        print("error: over the device's 64 MiB: carry fewer runs (--only) or split the data across calls", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
