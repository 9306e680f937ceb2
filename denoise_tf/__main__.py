"""Command line: ``python -m denoise_tf {demo, train, ...}`` (argument parsing only)."""

from __future__ import annotations

import argparse
import sys


def _train(args) -> int:
    from .train import TrainConfig, train

    config = TrainConfig.load(args.config, tiny=args.tiny, overrides=args.set)
    if args.output_dir:
        config.output_dir = args.output_dir
    history, run_dir = train(config, resume=args.resume, verbose=args.verbose, max_minutes=args.max_minutes)
    print(f"run folder: {run_dir}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m denoise_tf", description="Image denoising with Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a config (configs/*.yaml) into a run folder")
    train.add_argument("config", help="YAML or JSON config file")
    train.add_argument("--tiny", action="store_true", help="apply the config's tiny override (about a minute on CPU)")
    train.add_argument("--resume", action="store_true", help="continue an existing run folder from its backup")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (repeatable)")
    train.add_argument("--output-dir", help="parent folder of the run folder (default: the config's output_dir)")
    train.add_argument("--max-minutes", type=float, help="stop at the first epoch end after this many minutes (resume later)")
    train.add_argument("--verbose", default="auto", type=lambda v: v if v == "auto" else int(v), help="Keras fit verbosity")
    train.set_defaults(func=_train)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
