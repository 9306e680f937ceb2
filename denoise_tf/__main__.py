"""Command line: ``python -m denoise_tf {demo, train, ...}`` (argument parsing only).

Exit status: 0 done; 1 ``denoise`` wrote what it could but some input images could not be read
or denoised (each one named on an ``error:`` line at the end); 2 the command was refused before
any work (a bad argument, name or path, on an ``error:`` line) or an argument error from the
argument parser. A ``ValueError``/``FileNotFoundError`` raised by the package for what the user
gave (an unknown set, a bad config value...) is shown the same way, as one ``error:`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

#: Exit statuses (see the module docstring).
EXIT_OK, EXIT_SOME_FAILED, EXIT_REFUSED = 0, 1, 2

#: Errors from the package that describe bad user input: shown as one ``error:`` line.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, FileExistsError)


class CommandError(SystemExit):
    """A refused command: ``str()`` is the ``error: ...`` line, the exit status is 2."""

    def __init__(self, message: str):
        message = str(message)
        self.message = message if message.startswith("error:") else f"error: {message}"
        super().__init__(EXIT_REFUSED)

    def __str__(self) -> str:
        return self.message


def _check_sigmas(values, what: str = "noise levels") -> None:
    """Refuse sigmas outside [0, 255] (the 0-255 scale); NaN and inf included."""
    bad = [v for v in values if not (0.0 <= v <= 255.0)]
    if bad:
        shown = bad[0] if len(bad) == 1 and what != "noise levels" else bad
        raise CommandError(f"--sigma takes {what} >= 0 and <= 255 on the 0-255 scale, got {shown}")


#: Inference paths of neural models (denoise_tf.export.BACKENDS) and their option help;
#: evaluation takes the float32 ones only (denoise_tf.export.EXACT_BACKENDS).
BACKENDS = ("auto", "keras", "tflite", "bf16")
EXACT_BACKENDS = ("auto", "keras", "tflite")
BACKEND_HELP = (
    "inference path of neural models: auto (the cached float32 TFLite export where TensorFlow runs and it "
    "matches Keras within 1e-4, else Keras; on a CPU with bfloat16 instructions the bfloat16 path for the "
    "shipped weights measured to lose under 0.02 dB with it), keras, tflite, or bf16 (Keras mixed_bfloat16; "
    "needs bfloat16 instructions); default $DENOISE_TF_BACKEND, else auto"
)
EVALUATE_BACKEND_HELP = (
    "inference path of neural models, float32 only: auto (the cached float32 TFLite export where TensorFlow "
    "runs and it matches Keras within 1e-4, else Keras), keras, or tflite; default $DENOISE_TF_BACKEND, else auto"
)
#: Sections of RESULTS.md (denoise_tf.report.SECTIONS), named here so that building the parser
#: imports nothing heavy.
REPORT_SECTIONS = ("gray", "colour", "mixed", "iso", "noisy-only")


@contextlib.contextmanager
def _backend(backend: str | None):
    """Run the block with ``backend`` as the default inference path; yield the paths that ran.

    The paths are the messages the model resolver logs (``"dncnn-s25 runs on tflite (...)"``),
    each once, in order.
    """
    import logging
    import os

    from . import zoo

    previous = os.environ.get(zoo.ENV_BACKEND)
    if backend is not None:
        os.environ[zoo.ENV_BACKEND] = backend
    try:
        zoo.default_backend()
    except ValueError as error:
        raise CommandError(str(error)) from None
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if message not in seen:
                seen.append(message)

    handler = Collect(logging.INFO)
    zoo.logger.addHandler(handler)
    level = zoo.logger.level
    zoo.logger.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        zoo.logger.removeHandler(handler)
        zoo.logger.setLevel(level)
        if backend is not None:
            if previous is None:
                os.environ.pop(zoo.ENV_BACKEND, None)
            else:
                os.environ[zoo.ENV_BACKEND] = previous


def _train(args) -> int:
    from .config import TrainConfig
    from .train import train

    config = TrainConfig.load(args.config, tiny=args.tiny, overrides=args.set)
    if args.output_dir:
        config.output_dir = args.output_dir
    history, run_dir = train(config, resume=args.resume, verbose=args.verbose, max_minutes=args.max_minutes)
    print(f"run folder: {run_dir}")
    return 0


def _demo(args) -> int:
    _check_sigmas([args.sigma], "a noise level")
    if args.web:
        import os

        from . import web

        from .zoo import ENV_BACKEND

        backend = "tflite" if args.fast else args.backend
        if backend is not None:
            os.environ[ENV_BACKEND] = backend
        web.launch(port=args.port, share=args.share)
        return 0
    from . import demo

    with _backend(args.backend) as paths:
        result = demo.run(model=args.model, sigma=args.sigma, seed=args.seed, output=args.output)
    for line in paths:
        print(f"note: {line}")
    for row in result["images"]:
        print(
            f"{row['image']:>12}: noisy {row['noisy_psnr']:.2f} dB / SSIM {row['noisy_ssim']:.3f} -> "
            f"{result['model']} {row['psnr']:.2f} dB / SSIM {row['ssim']:.3f} ({row['seconds']:.2f} s)"
        )
    print(f"figure: {result['figure']}")
    return 0


def _evaluate(args) -> int:
    import json

    from . import datasets, evaluate, zoo

    # Check every name first, so a typo in the last model or the set fails now, not after an hour.
    try:
        kinds = {model: zoo.model_kind(model) for model in args.model}
        datasets.resolve(args.dataset)
        specs = evaluate.check_noise_specs(args.noise) if args.noise is not None else None
    except USER_ERRORS as error:
        raise CommandError(str(error)) from None
    sigmas = [15.0, 25.0, 50.0] if args.sigma is None else args.sigma
    if specs is None:
        _check_sigmas(sigmas)
    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit takes a number of images >= 1, got {args.limit}")
    if args.passes is not None and args.passes < 1:
        raise CommandError(f"--passes takes an int >= 1, got {args.passes}")
    if args.passes is not None and all(kind == "classical" for kind in kinds.values()):
        raise CommandError("--passes applies to neural models only (classical methods run once)")
    rows = []
    with _backend(args.backend) as paths:
        if any(kind != "classical" for kind in kinds.values()):
            try:  # $DENOISE_TF_BACKEND=bf16: refused before any model runs
                evaluate.refuse_lower_precision()
            except ValueError as error:
                raise CommandError(str(error)) from None
        rows = _evaluate_rows(args, kinds, specs, sigmas)
    for line in paths:  # stderr: stdout may be JSON
        print(f"note: {line}", file=sys.stderr)
    summary = evaluate.summarize(rows)
    if args.csv:
        evaluate.write_csv(rows, args.csv)
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=2))
    else:
        what = "Gaussian noise" if specs is None else "noise " + ", ".join(specs) + " (oracle level)"
        print(f"{args.dataset}, {len(rows) // max(1, len(summary))} images, {what} (input {'clipped' if args.clip_input else 'not clipped'}), seed {args.seed}")
        print(evaluate.markdown_table(summary))
    return 0


def _evaluate_rows(args, kinds, specs, sigmas) -> list:
    from . import evaluate

    rows = []
    for model in args.model:
        # passes go to the neural models only; classical methods in the same call run once
        options = {"passes": args.passes} if args.passes is not None and kinds[model] != "classical" else {}
        if args.color_mode is not None and kinds[model] != "classical":
            options["color_mode"] = args.color_mode
        noise_or_sigmas = {"noise": specs} if specs is not None else {"sigmas": sigmas}
        rows += evaluate.evaluate(
            model, args.dataset, limit=args.limit, seed=args.seed, clip_input=args.clip_input, progress=not args.json,
            color=False if args.gray else None,
            **noise_or_sigmas, **options,
        )
    return rows


def folder_outputs(files, target) -> list:
    """The output file of each image of a folder input: ``<stem>.png`` in ``target``.

    Images that share a stem (``x.png``, ``x.jpg``, ``x.bmp``; compared ignoring case) are
    written ``<name>.png`` instead (``x.png.png``, ``x.jpg.png``, ``x.bmp.png``), so no two
    inputs ever share an output. Raises :class:`CommandError` if names still clash.
    """
    from collections import Counter
    from pathlib import Path

    target = Path(target)
    stems = Counter(f.stem.lower() for f in files)
    names = [f"{f.stem}.png" if stems[f.stem.lower()] == 1 else f"{f.name}.png" for f in files]
    seen: dict[str, object] = {}
    for file, name in zip(files, names):
        other = seen.setdefault(name.lower(), file)
        if other is not file:
            raise CommandError(f"inputs {other} and {file} would both be written to {target / name}: rename one of them")
    return [target / name for name in names]


def _file_id(path):
    """``(device, inode)`` of an existing file (links followed), else None."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _reason(error: Exception, file) -> str:
    """An error's message without the file name the caller prints in front of it."""
    text = str(error) or type(error).__name__
    if text.startswith(f"{file}: "):
        text = text[len(f"{file}: "):]
    if text.endswith(f": {file}"):
        text = text[: -len(f": {file}")]
    return text


def _denoise(args) -> int:
    import os
    from pathlib import Path

    from . import datasets, images, zoo

    def check_writable(out) -> None:
        """Fail now (before any model is loaded) when ``out`` cannot be written."""
        if out.is_dir():
            raise CommandError(f"output {out} is a folder: expected an image file path (a folder output needs a folder input)")
        if out.suffix.lower() not in images.IMAGE_SUFFIXES:
            raise CommandError(f"output {out} has suffix {out.suffix!r}: expected an image file ending in {images.IMAGE_SUFFIXES}")
        folder = out.parent
        while not folder.exists():  # the nearest existing ancestor must be a writable folder
            folder = folder.parent
        if not folder.is_dir():
            raise CommandError(f"cannot write {out}: {folder} is a file, not a folder (expected a writable folder)")
        if not os.access(folder, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
            raise CommandError(f"cannot write {out}: {out if out.exists() else folder} is not writable (expected a writable folder)")

    source, target = Path(args.input), Path(args.output)
    if not source.exists():
        raise CommandError(f"input {source} not found: expected an image file or a folder of images")
    try:
        zoo.model_kind(args.model)
    except ValueError as error:
        raise CommandError(str(error)) from None
    if args.sigma is not None:
        _check_sigmas([args.sigma], "a noise level")
    if args.tile is not None and args.tile < 1:
        raise CommandError(f"--tile takes a tile size in pixels >= 1, got {args.tile}")
    if source.is_dir():
        files = datasets.list_images(source)
        if not files:
            raise CommandError(f"no images in {source}: expected files ending in {images.IMAGE_SUFFIXES}")
        if target.exists() and not target.is_dir():
            raise CommandError(f"output {target} is a file: a folder input needs an output folder")
        outputs = folder_outputs(files, target)
    else:
        try:  # one file: its header (format, pixel limit) is checked now, before the model is loaded
            images.check_size(images.read_header(source), source)
        except ValueError as error:
            raise CommandError(f"input {source}: {_reason(error, source)}") from None
        files, outputs = [source], [target]
    inputs_resolved = {f.resolve() for f in files}
    input_ids = {_file_id(f) for f in files} - {None}
    for out in outputs:
        # a symbolic link resolves to the input; a hard link has another path but the same inode
        if out.resolve() in inputs_resolved or _file_id(out) in input_ids:
            raise CommandError(f"refusing to write over the input image {out}: choose another output")
        check_writable(out)
        if out.exists() and not args.overwrite:
            raise CommandError(f"{out} exists: pass --overwrite to replace it")
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    options = {"tile": args.tile} if args.tile else {}
    if args.color_mode is not None:
        if zoo.model_kind(args.model) == "classical":
            raise CommandError(f"--color-mode applies to gray neural models; {args.model} denoises colour images itself")
        options["color_mode"] = args.color_mode
    with _backend(args.backend) as paths:
        denoiser = zoo.make_denoiser(args.model, sigma=args.sigma, lower_precision=True, **options)
    for line in paths:
        print(f"note: {line}")
    failed = []
    for file, out in zip(files, outputs):
        try:
            notes = _denoise_file(denoiser, file, out)
        except (ValueError, OSError) as error:  # unreadable or undenoisable: the others go on
            failed.append(f"error: {file}: {_reason(error, file)}")
            continue
        print(f"{file} -> {out}")
        for note in notes:
            print(f"note: {file}: {note}")
    for line in failed:
        print(line, file=sys.stderr)
    if failed:
        print(
            f"error: {len(failed)} of {len(files)} image(s) could not be denoised (listed above); "
            f"the other {len(files) - len(failed)} were written",
            file=sys.stderr,
        )
        return EXIT_SOME_FAILED
    return EXIT_OK


def _denoise_file(denoiser, file, out) -> list[str]:
    """Denoise one file into ``out`` with the file's own channels and bit depth; returns notes.

    The image goes to the denoiser with its own channels (gray or RGB); an alpha channel is
    dropped (the output is RGB). 16-bit and floating-point inputs are written as 16-bit when
    the output format holds it (PNG, TIFF), else as 8-bit with a note.
    """
    from . import images

    image, info = images.read(file)
    notes = []
    if info.alpha:
        notes.append("alpha channel dropped (the output is RGB)")
    bits = 16 if info.bits in (16, 32) else 8
    if info.floating:
        notes.append("floating-point pixels clipped to [0, 1]")
    if bits == 16 and out.suffix.lower() not in (".png", ".tif", ".tiff"):
        notes.append(f"{'floating-point' if info.floating else '16-bit'} input written as 8-bit: {out.suffix} holds 8 bits per sample (use .png or .tif to keep 16)")
        bits = 8
    images.save_image(out, denoiser.denoise(image), bits=bits)
    return notes


def _report(args) -> int:
    from . import report

    path = report.build(output=args.output, fresh=args.fresh, limit=args.limit, sections=tuple(args.sections or report.SECTIONS))
    print(f"wrote {path}")
    return 0


#: Colour paths of a gray model on RGB images (denoise_tf.colour.MODES) and their option help.
COLOR_MODES = ("opponent", "opponent-rgb-luma", "rgb")
COLOR_MODE_HELP = (
    "how a gray neural model meets RGB images: opponent (luminance and two chroma channels), "
    "opponent-rgb-luma (chroma, and R, G, B for the luminance), rgb (channel by channel); "
    "default: opponent-rgb-luma for fixed-sigma models, opponent for the others"
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m denoise_tf", description="Image denoising with Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="noise the bundled sample images, denoise them, write figures/demo.png")
    demo.add_argument("--model", help="shipped weights name or classical method (default: cdncnn-opponent, else dncnn-b if shipped, else bm3d)")
    demo.add_argument("--sigma", type=float, default=25.0, help="Gaussian noise sigma on the 0-255 scale (default 25)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output", default="figures/demo.png", help="figure path (default figures/demo.png)")
    demo.add_argument("--web", action="store_true", help="serve the Gradio web demo instead (pip install -e '.[web]')")
    demo.add_argument("--port", type=int, default=7860, help="web demo port (default 7860)")
    demo.add_argument("--share", action="store_true", help="web demo: also open a public gradio.live link")
    demo.add_argument("--backend", choices=BACKENDS, help=BACKEND_HELP)
    demo.add_argument("--fast", action="store_true", help="web demo: the same as --backend tflite")
    demo.set_defaults(func=_demo)

    ev = commands.add_parser("evaluate", help="PSNR/SSIM/MSE of models over a named set at noise levels")
    ev.add_argument("--model", nargs="+", required=True, help="shipped weights, run folder, .keras file or classical method")
    ev.add_argument("--dataset", default="bsd68")
    level = ev.add_mutually_exclusive_group()
    level.add_argument("--sigma", nargs="+", type=float, help="Gaussian noise levels in [0, 255] (default 15 25 50)")
    level.add_argument(
        "--noise", nargs="+", metavar="SPEC",
        help="noise specs instead of --sigma, e.g. salt_and_pepper:amount=0.05 iso:iso=3200 (level-taking methods get the oracle level)",
    )
    ev.add_argument("--passes", type=int, help="apply the neural models N times (inference passes; rows named 'model (N passes)')")
    ev.add_argument("--limit", type=int, help="first N images only")
    ev.add_argument("--color-mode", choices=COLOR_MODES, help=COLOR_MODE_HELP)
    ev.add_argument("--gray", action="store_true", help="read a colour set as gray images (BT.601 luminance)")
    ev.add_argument("--backend", choices=EXACT_BACKENDS, help=EVALUATE_BACKEND_HELP)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--clip-input", action="store_true", help="clip and 8-bit quantize the noisy input")
    ev.add_argument("--csv", help="write per-image rows to this CSV file")
    ev.add_argument("--json", action="store_true", help="print JSON (summary and per-image rows)")
    ev.set_defaults(func=_evaluate)

    dn = commands.add_parser("denoise", help="denoise an image file or a folder of images")
    dn.add_argument("input", help="image file or folder")
    dn.add_argument(
        "output",
        help="output file, or folder for a folder input (never over the input): each image is written <stem>.png, "
        "or <name>.png where several inputs share a stem (x.jpg -> x.jpg.png)",
    )
    dn.add_argument("--model", default="dncnn-b", help="shipped weights, run folder, .keras file or classical method")
    dn.add_argument("--sigma", type=float, help="noise level in [0, 255] for models and methods that take one")
    dn.add_argument("--tile", type=int, help="tile size for large images (bounded memory)")
    dn.add_argument("--color-mode", choices=COLOR_MODES, help=COLOR_MODE_HELP)
    dn.add_argument("--backend", choices=BACKENDS, help=BACKEND_HELP)
    dn.add_argument("--overwrite", action="store_true", help="replace existing output files (never inputs)")
    dn.set_defaults(func=_denoise)

    rp = commands.add_parser("report", help="regenerate RESULTS.md (cached per-image rows under results/)")
    rp.add_argument("--output", help="default RESULTS.md; with --sections results/RESULTS_<sections>.md")
    rp.add_argument("--fresh", action="store_true", help="ignore cached rows and evaluate everything again")
    rp.add_argument("--limit", type=int, help="first N images per set (a quick look; RESULTS.md uses all)")
    rp.add_argument(
        "--sections", nargs="+", choices=REPORT_SECTIONS,
        help="build only these sections (default all; a section whose models are not shipped is left out)",
    )
    rp.set_defaults(func=_report)

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
    try:
        return args.func(args)
    except CommandError as error:
        print(error.message, file=sys.stderr)
        raise
    except USER_ERRORS as error:
        refused = CommandError(str(error))
        print(refused.message, file=sys.stderr)
        raise refused from None


if __name__ == "__main__":
    sys.exit(main())
