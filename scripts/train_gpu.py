"""Train named configs end to end on a machine with JAX and no TensorFlow (e.g. a CUDA box).

Each config runs in its own process (``python -m denoise_tf train CONFIG --resume``) with
``KERAS_BACKEND=jax`` and the TF-free :class:`denoise_tf.pipeline.PatchDataset`; several configs
share one GPU (each gets an equal share of its memory). Every run folder is resumable, so a
time-limited session trains in chunks: ``--minutes`` stops each run at the first epoch end after
that long, ``--pack DIR`` tars each run folder into ``DIR`` to carry it back, and the next
session unpacks it into ``--output-dir`` and resumes.

Examples::

    # on CPU, as a check (about a minute)
    python scripts/train_gpu.py configs/dncnn_s25.yaml --tiny --output-dir /tmp/runs
    # on a GPU machine: two configs side by side for 8 minutes, packed for transfer
    python scripts/train_gpu.py configs/dncnn_s25.yaml configs/dncnn_b.yaml --minutes 8 \
        --output-dir runs --pack "$OUT" --set workers=4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_name(config: str, tiny: bool) -> str:
    import yaml

    values = yaml.safe_load(Path(config).read_text()) or {}
    return values.get("name", Path(config).stem) + ("-tiny" if tiny else "")


def unpack(archives: Path, output_dir: Path) -> None:
    """Extract ``*.tar`` run folders from ``archives`` into ``output_dir`` (newer backups win)."""
    for archive in sorted(archives.glob("*.tar")):
        with tarfile.open(archive) as tar:
            tar.extractall(output_dir, filter="data")
        print(f"unpacked {archive.name} into {output_dir}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", help="config files (configs/*.yaml)")
    parser.add_argument("--tiny", action="store_true", help="use each config's tiny override")
    parser.add_argument("--minutes", type=float, default=None, help="stop each run at the first epoch end after this long")
    parser.add_argument("--output-dir", default="runs", help="parent of the run folders")
    parser.add_argument("--unpack", type=Path, help="folder of run-folder tarballs to extract first")
    parser.add_argument("--pack", type=Path, help="write <run>.tar of each run folder here when done")
    parser.add_argument("--pack-only", action="store_true", help="only pack the existing run folders (no training)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every run")
    parser.add_argument("--backend", default="jax", help="KERAS_BACKEND for the runs (default jax)")
    args = parser.parse_args(argv)

    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if args.unpack:
        unpack(args.unpack, output_dir)

    if args.pack_only:
        for config in args.configs:
            pack(output_dir, run_name(config, args.tiny), args.pack)
        return 0
    env = dict(os.environ, KERAS_BACKEND=args.backend, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / len(args.configs):.2f}")
    processes = []
    for config in args.configs:
        name = run_name(config, args.tiny)
        command = [sys.executable, "-m", "denoise_tf", "train", config, "--resume", "--output-dir", str(output_dir), "--verbose", "2"]
        command += ["--tiny"] if args.tiny else []
        command += ["--max-minutes", str(args.minutes)] if args.minutes else []
        for item in args.set:
            command += ["--set", item]
        log = open(output_dir / f"{name}.stdout.log", "a")
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
        log.flush()
        processes.append((name, subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT), log))
        print(f"started {name}: {' '.join(command)}", flush=True)

    failed = 0
    for name, process, log in processes:
        code = process.wait()
        log.close()
        summary_path = output_dir / name / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        print(
            f"{name}: exit {code}, epochs {summary.get('epochs_done')}/{summary.get('epochs_planned')}, "
            f"best val PSNR {summary.get('best_val_psnr')}, wall {summary.get('wall_time_s')} s",
            flush=True,
        )
        failed += code != 0
        if args.pack:
            pack(output_dir, name, args.pack)
    if "tensorflow" in sys.modules:
        print("note: tensorflow was imported by this launcher", flush=True)
    return 1 if failed else 0


def pack(output_dir: Path, name: str, target: Path) -> None:
    """Tar a run folder (best weights without optimizer state, backup, logs) into ``target``."""
    sys.path.insert(0, str(ROOT))
    from denoise_tf.train import slim_weights

    run = output_dir / name
    if (run / "best.weights.h5").exists():
        slim_weights(run, "best")
    (run / "last.weights.h5").unlink(missing_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target / f"{name}.tar", "w") as tar:
        tar.add(run, arcname=name)
        log = output_dir / f"{name}.stdout.log"
        if log.exists():
            tar.add(log, arcname=f"{name}/stdout.log")


if __name__ == "__main__":
    sys.exit(main())
