"""The shipping check: whether a run's best weights may be registered as a shipped model.

    python scripts/shipping_checks.py [--fresh]

Each model is checked on the first two images of its test set under its own protocol
(:func:`subset_protocol`): every image above the ``required`` baselines (the noisy input and the
median filter, by their margins). ``scripts/ship_weights.py`` refuses weights that miss it, and
``tests/test_pretrained.py`` runs it, with the model's BM3D-class ``target`` as well, on every
shipped model. Run as a script, it checks the run folders of the models not shipped yet
(:data:`RUNS`) and caches the verdicts in ``results/unshipped.json`` (``denoise_tf.report.SHIPPING_CHECKS``,
keyed by the sha256 of each run's best weights), which RESULTS.md lists under "Trained, not shipped".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from denoise_tf import checksums, evaluate, pretrained, report  # noqa: E402
from denoise_tf.targets import COLOR_SET, ISO_CLIP_INPUT, ISO_MODELS, ISO_TESTS, MIXED_MODELS, MIXED_TESTS, model_sigmas  # noqa: E402

#: The run folders (under ``runs/``) that train each colour model, the GPU recipe's first.
RUNS = {
    "cdncnn-b": ("cdncnn_b", "cdncnn_b_cpu"),
    "cdncnn-opponent": ("cdncnn_opponent_cpu",),
    "dncnn-mixed": ("dncnn_mixed", "dncnn_mixed_opponent_cpu", "dncnn_mixed_cpu"),
    "dilated-iso": ("dilated_iso", "dilated_iso_cpu"),
    "sequential-sidd": ("sequential_sidd", "sequential_sidd_cpu"),
}


def subset_protocol(name: str, entry: dict | None = None) -> dict:
    """How model ``name`` is checked on a 2-image subset.

    ``entry`` (``model``, ``model_options``, ``noise``) stands in for the registry entry of a model
    not shipped yet (a run folder's ``config.json``).

    Returns
    -------
    dict
        ``dataset``; ``sigma`` (Gaussian, 0-255) or ``noise`` (a spec; the other is None);
        ``clip_input``; ``options`` (denoiser options); ``required``: ``[(baseline, margin dB)]``
        every image must beat (``"noisy"`` is the noisy input); ``target``: the model's
        BM3D-class ``[(baseline, margin)]``, asserted for final weights, an expected failure for
        interim ones; ``note``: the target in words.
    """
    entry = pretrained.entry(name) if entry is None else entry
    color = pretrained.entry_channels(entry) == 3
    sanity = [("noisy", 5.0), ("median", 1.0)]
    if name == "simple-cnn-s25" or entry.get("model") == "simple_cnn":
        sigma = model_sigmas(name)[0] if len(model_sigmas(name)) == 1 else 25
        return dict(dataset="set12", sigma=sigma, noise=None, clip_input=False, options={},
                    required=[("noisy", 0.0), ("median", 0.0)], target=[], note="above the noisy input and the median filter")
    if name in MIXED_MODELS:
        return dict(dataset=COLOR_SET, sigma=None, noise=MIXED_TESTS[5], clip_input=False, options={},
                    required=[("noisy", 0.0), ("median", 0.0)], target=[("median", 3.0), ("bm3d", 3.0)],
                    note="at least 3 dB above the best classical filter")
    if name == "sequential-sidd":
        return dict(dataset=COLOR_SET, sigma=None, noise=ISO_TESTS[-1], clip_input=ISO_CLIP_INPUT, options={},
                    required=[("noisy", 0.0), ("median", 0.0)], target=[], note="above the noisy input and the median filter")
    if name in ISO_MODELS:
        return dict(dataset=COLOR_SET, sigma=None, noise=ISO_TESTS[-1], clip_input=ISO_CLIP_INPUT, options={},
                    required=[("noisy", 0.0), ("median", 0.0)], target=[("bm3d", 0.0)], note="above CBM3D on ISO noise")
    sigmas = model_sigmas(name)
    sigma = 25 if 25 in sigmas else sigmas[0]
    return dict(dataset=COLOR_SET if color else "set12", sigma=sigma, noise=None, clip_input=False, options={},
                required=sanity, target=[("bm3d", 0.0)], note="above (C)BM3D")


def subset_check(model: str, name: str | None = None, entry: dict | None = None, limit: int = 2, target: bool = True) -> dict:
    """Run model ``name``'s subset protocol (:func:`subset_protocol`) on ``model``.

    Parameters
    ----------
    model : str
        What is evaluated: a shipped weights name, or a run folder (its best weights).
    name : str or None
        Whose protocol: a shipped model name (``cdncnn-b``); default ``model``.
    entry : dict or None
        Registry-like ``model`` / ``model_options`` / ``noise`` of a model not shipped yet.
    limit : int
        Images of the test set (the first ones, name order).
    target : bool
        Also run the ``target`` baselines (CBM3D: about 20 s per colour image); False checks
        ``required`` only and returns ``target`` None.

    Returns
    -------
    dict
        ``protocol``; ``rows`` (the model's per-image rows); ``baselines`` (``{baseline: rows}``,
        ``"noisy"`` the noisy input); ``required`` and ``target``: the misses of each list, as
        ``"image: x dB <= baseline y + margin dB"`` strings (empty when every image beats them).
    """
    name = model if name is None else name
    proto = subset_protocol(name, entry)
    level = {"noise": [proto["noise"]]} if proto["noise"] is not None else {"sigmas": [proto["sigma"]]}

    def run(method, **options):
        return evaluate.evaluate(method, proto["dataset"], limit=limit, clip_input=proto["clip_input"], **level, **options)

    rows = run(model, **proto["options"])
    baselines = {"noisy": [{"image": r["image"], "psnr": r["noisy_psnr"]} for r in rows]}
    for baseline, _ in proto["required"] + (proto["target"] if target else []):
        if baseline not in baselines:
            baselines[baseline] = run(baseline)

    def misses(checks):
        return [
            f"{mine['image']}: {mine['psnr']:.2f} dB <= {baseline} {theirs['psnr']:.2f} + {margin:g} dB"
            for baseline, margin in checks
            for mine, theirs in zip(rows, baselines[baseline])
            if not mine["psnr"] > theirs["psnr"] + margin
        ]

    return dict(
        protocol=proto, rows=rows, baselines=baselines, required=misses(proto["required"]), target=misses(proto["target"]) if target else None
    )


def unshipped_check(run: Path, name: str, config: dict, results: Path, fresh: bool = False) -> dict:
    """``name``'s shipping check (:func:`subset_check`, ``required`` only) of run folder ``run``
    (``config``: its ``config.json``), cached in ``<results>/unshipped.json`` under the sha256 of
    its best weights.

    Returns ``{"fingerprint": sha256, "protocol": ..., "required": [misses]}``.
    """
    cache = Path(results) / report.SHIPPING_CHECKS
    entries = json.loads(cache.read_text()) if cache.exists() else {}
    key = report.shipping_check_key(run, name)
    digest = checksums.sha256(Path(run) / "best.weights.h5")
    if not fresh and entries.get(key, {}).get("fingerprint") == digest:
        return entries[key]
    check = subset_check(str(run), name, entry=config, target=False)
    # through JSON, so a fresh verdict is the one read back from the cache (lists, not tuples)
    entries[key] = json.loads(json.dumps({"fingerprint": digest, "protocol": check["protocol"], "required": check["required"]}))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return entries[key]


def check_runs(runs: Path = Path("runs"), results: Path = Path("results"), fresh: bool = False) -> dict:
    """The shipping check of every run folder of :data:`RUNS` with best weights whose model is not shipped.

    Returns ``{"<run folder> as <model>": check}`` (:func:`unshipped_check`).
    """
    checks = {}
    for name, folders in RUNS.items():
        if name in pretrained.available():
            continue
        for folder in folders:
            run = Path(runs) / folder
            if (run / "summary.json").exists() and (run / "best.weights.h5").exists():
                config = json.loads((run / "config.json").read_text())
                checks[report.shipping_check_key(run, name)] = unshipped_check(run, name, config, results, fresh)
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="runs", help="folder of the run folders")
    parser.add_argument("--results", default="results", help="where the verdicts are cached")
    parser.add_argument("--fresh", action="store_true", help="check again even where the cached verdict matches the weights")
    args = parser.parse_args(argv)
    for key, check in check_runs(Path(args.runs), Path(args.results), args.fresh).items():
        print(f"{key}: " + ("misses: " + "; ".join(check["required"]) if check["required"] else "passes"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
