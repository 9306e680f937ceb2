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


def _demo(args) -> int:
    from . import demo

    result = demo.run(model=args.model, sigma=args.sigma, seed=args.seed, output=args.output)
    for row in result["images"]:
        print(
            f"{row['image']:>12}: noisy {row['noisy_psnr']:.2f} dB / SSIM {row['noisy_ssim']:.3f} -> "
            f"{result['model']} {row['psnr']:.2f} dB / SSIM {row['ssim']:.3f} ({row['seconds']:.2f} s)"
        )
    print(f"figure: {result['figure']}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m denoise_tf", description="Image denoising with Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="noise the bundled sample images, denoise them, write figures/demo.png")
    demo.add_argument("--model", help="shipped weights name or classical method (default: dncnn-b if shipped, else bm3d)")
    demo.add_argument("--sigma", type=float, default=25.0, help="Gaussian noise sigma on the 0-255 scale (default 25)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output", default="figures/demo.png", help="figure path (default figures/demo.png)")
    demo.set_defaults(func=_demo)

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
