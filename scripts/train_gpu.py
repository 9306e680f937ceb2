"""Train named configs on a machine with JAX and no TensorFlow (a lent GPU), in resumable chunks.

By default all configs train in this one process with the device-resident loop of
:mod:`denoise_tf.device_training` (crops, flips, noise and ``k`` optimizer steps per compiled call
on the device; mixed bfloat16 unless ``--precision float32``). ``--trainer keras`` runs each
config in its own ``python -m denoise_tf train CONFIG --resume`` process instead (the host-side
NumPy ``PatchDataset``; several processes share the GPU). Either way every run folder is a
standard, resumable one, so a time-limited machine trains in chunks:

* ``--minutes M``: a time budget; no run starts an epoch that would end after it (device loop;
  the Keras path stops at the first epoch end after ``M`` minutes);
* ``--pack DIR``: one ``<run>.tar`` per run into ``DIR`` (config, log, summary, best weights
  without optimizer state, the latest backup with its checksums, the last 5 sample grids of the
  last session; no ``last.weights.h5`` and no ``.bkp`` copies, to keep the tars small);
* ``--dry-run``: build every run (config, backup, data, validation images) and say what it
  would train, changing nothing (a check of a carry before a device call);
* ``--unpack DIR``: extract such tars into ``--output-dir`` first (a tar whose backup is behind
  the run folder already there is skipped), and rebuild each ``last.weights.h5`` from its backup.

Examples::

    # on CPU, as a check (about a minute)
    python scripts/train_gpu.py configs/dncnn_s25.yaml --tiny --output-dir /tmp/runs
    # on a GPU machine: two configs for at most 8 minutes, packed for transfer (scripts/GPU.md)
    python scripts/train_gpu.py configs/dncnn_s15.yaml configs/dncnn_b.yaml --minutes 8 \\
        --output-dir /tmp/runs --pack "$OUT"
    # back here: the tars over the run folders
    python scripts/train_gpu.py --unpack FOLDER_OF_TARS --output-dir runs
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
#: Files of a run folder that go into its tar (besides ``samples/`` of the last session).
PACKED = (
    "config.json",
    "log.csv",
    "summary.json",
    "holdout.json",
    "init_weights.json",
    "best.weights.h5",
    "backup/latest.weights.h5",
    "backup/training_metadata.json",
    "backup/latest.weights.h5.sha256",
    "stdout.log",
)
#: Sample grids (``samples/epoch_NNN.png``) of the last session packed per run: the newest ones.
SAMPLES_PACKED = 5


def run_name(config: str, tiny: bool) -> str:
    """The run folder name of a config file (its ``name`` key or file stem; ``-tiny`` with ``--tiny``)."""
    import yaml

    values = yaml.safe_load(Path(config).read_text()) or {}
    return values.get("name", Path(config).stem) + ("-tiny" if tiny else "")


# -------------------------------------------------------------------------------------------
# Pack and unpack


def _backup_epoch_of(folder: Path) -> int | None:
    meta = folder / "backup" / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text()).get("epoch"))
    except (OSError, ValueError, TypeError):
        return None


def _session_start(run: Path) -> int:
    """Epochs done before the last session of a run (from ``summary.json``; 0 when unknown)."""
    try:
        sessions = json.loads((run / "summary.json").read_text()).get("sessions") or []
    except (OSError, ValueError):
        return 0
    return int(sessions[-2].get("epochs_reached", 0)) if len(sessions) >= 2 else 0


def pack(output_dir: Path, name: str, target: Path) -> Path | None:
    """Tar run folder ``output_dir/name`` into ``target/name.tar`` (see the module docstring); None when absent.

    Best weights that still hold optimizer state (written by the Keras path) are slimmed first.
    Nothing else in the run folder is changed.
    """
    run = output_dir / name
    if not run.is_dir():
        print(f"{name}: no run folder in {output_dir}, nothing packed", flush=True)
        return None
    sys.path.insert(0, str(ROOT))
    best = run / "best.weights.h5"
    if best.exists() and _holds_optimizer(best):
        from denoise_tf.runs import slim_weights

        slim_weights(run, "best")
    target.mkdir(parents=True, exist_ok=True)
    first = _session_start(run)
    path = target / f"{name}.tar"
    tmp = target / f".tmp-{name}.tar"
    with tarfile.open(tmp, "w") as tar:
        for item in PACKED:
            if (run / item).is_file():
                tar.add(run / item, arcname=f"{name}/{item}")
        samples = [p for p in sorted((run / "samples").glob("epoch_*.png")) if p.stem[6:].isdigit() and int(p.stem[6:]) > first]
        for sample in samples[-SAMPLES_PACKED:]:
            tar.add(sample, arcname=f"{name}/samples/{sample.name}")
        log = output_dir / f"{name}.stdout.log"
        if log.exists():
            tar.add(log, arcname=f"{name}/stdout.log")
    os.replace(tmp, path)
    print(f"packed {name} into {path} ({path.stat().st_size / 2**20:.1f} MiB)", flush=True)
    return path


def _holds_optimizer(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return "optimizer" in handle
    except OSError:
        return False


def _tar_backup_epoch(tar: tarfile.TarFile, name: str) -> int | None:
    try:
        member = tar.extractfile(f"{name}/backup/training_metadata.json")
    except KeyError:
        return None
    try:
        return int(json.loads(member.read().decode()).get("epoch")) if member else None
    except (ValueError, TypeError):
        return None


def unpack(archives: Path, output_dir: Path) -> list[str]:
    """Extract ``*.tar`` run folders from ``archives`` into ``output_dir``; returns the run names unpacked.

    A tar whose backup epoch is behind the run folder already in ``output_dir`` is skipped (that
    folder trained further since). A tar without the backup's checksum file removes the stale
    one left in the folder (it would refuse the new backup). ``last.weights.h5`` (not packed)
    is rebuilt from the backup's model weights.
    """
    names = []
    output_dir.mkdir(parents=True, exist_ok=True)
    for archive in sorted(Path(archives).glob("*.tar")):
        with tarfile.open(archive) as tar:
            roots = {m.name.split("/", 1)[0] for m in tar.getmembers()}
            if len(roots) != 1:
                print(f"skipped {archive.name}: not one run folder", flush=True)
                continue
            name = roots.pop()
            incoming, present = _tar_backup_epoch(tar, name), _backup_epoch_of(output_dir / name)
            if present is not None and incoming is not None and incoming < present:
                print(f"skipped {archive.name}: its backup is at epoch {incoming}, {output_dir / name} at {present}", flush=True)
                continue
            members = set(tar.getnames())
            checksum = output_dir / name / "backup" / "latest.weights.h5.sha256"
            if f"{name}/backup/latest.weights.h5" in members and f"{name}/backup/latest.weights.h5.sha256" not in members:
                checksum.unlink(missing_ok=True)
            tar.extractall(output_dir, filter="data")
        names.append(name)
        print(f"unpacked {archive.name} into {output_dir} (backup epoch {incoming})", flush=True)
        restore_last(output_dir / name)
    return names


def restore_last(run: Path) -> None:
    """Write ``last.weights.h5`` of a run folder from its backup's model weights (no optimizer state)."""
    if not (run / "backup" / "latest.weights.h5").exists():
        return
    sys.path.insert(0, str(ROOT))
    from denoise_tf import runs

    runs.save_weights(runs.load_run_model(run, "backup"), run / "last.weights.h5")


# -------------------------------------------------------------------------------------------
# Training


def train_device(args, names: list[str]) -> int:
    """All configs in this process with :func:`denoise_tf.device_training.train_many`."""
    os.environ["KERAS_BACKEND"] = "jax"
    sys.path.insert(0, str(ROOT))
    import jax

    from denoise_tf import device_training
    from denoise_tf.config import TrainConfig

    overrides = [f"output_dir={args.output_dir}", f"precision={args.precision}"] + args.set
    configs = []
    for path in args.configs:
        try:
            config = TrainConfig.load(path, tiny=args.tiny, overrides=overrides)
            device_training.gaussian_noise(config.noise)
            if config.paired_data:
                raise ValueError("paired_data configs train with --trainer keras (the device loop makes synthetic noise)")
        except (ValueError, TypeError, FileNotFoundError) as error:
            print(f"error: {path}: {error}", file=sys.stderr, flush=True)
            return 2
        configs.append(config)
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), {len(configs)} run(s), precision {args.precision}", flush=True)
    start = time.time()
    try:
        summaries = device_training.train_many(
            configs, resume=True, max_minutes=args.minutes, most_steps_per_call=args.steps_per_call,
            log=lambda line: print(line, flush=True), dry_run=args.dry_run, unroll=args.unroll,
        )
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    if args.dry_run:
        print(f"dry run: {len(configs)} run(s) checked in {time.time() - start:.1f} s, nothing changed", flush=True)
        return 0
    for config, summary in zip(configs, summaries):
        print(
            f"{config.name}: exit 0, epochs {summary.get('epochs_done')}/{summary.get('epochs_planned', config.epochs)}, "
            f"best val PSNR {summary.get('best_val_psnr')}, wall {summary.get('wall_time_s')} s",
            flush=True,
        )
    print(f"device training: {time.time() - start:.1f} s", flush=True)
    return 0


def train_keras(args, names: list[str]) -> int:
    """One ``python -m denoise_tf train CONFIG --resume`` process per config (the host-side pipeline)."""
    output_dir = Path(args.output_dir)
    env = dict(os.environ, KERAS_BACKEND=args.backend, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / len(args.configs):.2f}")
    processes = []
    for config, name in zip(args.configs, names):
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
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", help="config files (configs/*.yaml); none with --unpack: only unpack")
    parser.add_argument("--tiny", action="store_true", help="use each config's tiny override")
    parser.add_argument("--minutes", type=float, default=None, help="time budget of the training (see above)")
    parser.add_argument("--output-dir", default="runs", help="parent of the run folders")
    parser.add_argument("--unpack", type=Path, help="folder of run-folder tarballs to extract first")
    parser.add_argument("--pack", type=Path, help="write <run>.tar of each run folder here when done")
    parser.add_argument("--pack-only", action="store_true", help="only pack the existing run folders (no training)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override for every run")
    parser.add_argument("--trainer", choices=("device", "keras"), default="device",
                        help="device: the device-resident loop in this process (default); keras: model.fit in one process per config")
    parser.add_argument("--precision", choices=("mixed_bfloat16", "float32"), default="mixed_bfloat16",
                        help="training precision of the device loop (default mixed_bfloat16; the Keras path uses the config's)")
    parser.add_argument("--steps-per-call", type=int, default=None,
                        help="most optimizer steps per compiled call of the device loop (default 200 on a GPU, 4 on a CPU)")
    parser.add_argument("--unroll", type=int, default=None,
                        help="device loop: steps per loop iteration of a compiled call (default 1 on a GPU; all on a CPU)")
    parser.add_argument("--dry-run", action="store_true",
                        help="device loop: build every run (config, backup, data, validation), say what it would train, change nothing")
    parser.add_argument("--backend", default="jax", help="KERAS_BACKEND of the Keras path's processes (default jax)")
    args = parser.parse_args(argv)
    if args.minutes is not None and args.minutes <= 0:
        parser.error("--minutes must be > 0")
    for option in ("steps_per_call", "unroll"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1")

    if not args.configs and not args.unpack:
        parser.error("name config files, or --unpack DIR to only unpack")
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if args.unpack:
        if not args.unpack.is_dir():
            print(f"error: --unpack {args.unpack}: no such folder", file=sys.stderr)
            return 2
        unpack(args.unpack, output_dir)
    try:
        names = [run_name(config, args.tiny) for config in args.configs]
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    code = 0
    if args.configs and not args.pack_only:
        code = (train_device if args.trainer == "device" else train_keras)(args, names)
    if args.pack and not args.dry_run:
        for name in names:
            pack(output_dir, name, args.pack)
    if "tensorflow" in sys.modules:
        print("note: tensorflow was imported by this launcher", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
