"""RESULTS.md generation: tables come from the evaluation rows, the cache is reused, targets are checked."""

import csv
import json
import os
from pathlib import Path

import pytest

from denoise_tf import checksums, evaluate, report, targets

from helpers import load_script

shipping_checks = load_script("shipping_checks")


def test_target_checks_compare_against_the_paper_and_bm3d():
    means = {("dncnn-s15", 15): 31.70, ("bm3d", 15): 31.0, ("dncnn-s25", 25): 29.0, ("bm3d", 25): 28.5}
    means.update({("dncnn-b", 15): 31.55, ("ffdnet-gray", 15): 31.60})
    checks = {target.split(":")[0]: (reached, met) for target, reached, met in targets.target_checks(means)}
    assert checks["DnCNN-S σ=15"][1] is True  # 31.70 >= 31.73 - 0.1 and above BM3D
    assert checks["DnCNN-S σ=25"][1] is False  # 29.00 < 29.23 - 0.1
    assert "-0.23 vs paper" in checks["DnCNN-S σ=25"][0]
    assert checks["DnCNN-S σ=50"] == ("not evaluated", None)
    assert checks["DnCNN-B σ=15"][1] is True  # 31.55 >= 31.70 - 0.2
    assert checks["FFDNet σ=15"][1] is True
    assert checks["FFDNet σ=25"][1] is None


@pytest.mark.slow
def test_report_tables_come_from_the_cached_rows(shared_data, tmp_path, monkeypatch):
    output, results, figures = tmp_path / "RESULTS.md", tmp_path / "results", tmp_path / "figures"
    # the gray section (the colour ones have their tests below)
    options = dict(output=output, results=results, figures=figures, limit=1, models=["dncnn-s25"], classical=("median",), sweep=(15, 25), sections=("gray",), references=False)
    report.build(**options)
    text = output.read_text()
    assert "Quick look: only the first 1 images" in text
    rows = list(csv.DictReader((results / "set12" / "dncnn-s25_sigma25.csv").open()))
    assert len(rows) == 1 and rows[0]["image"]
    # The table cell is the mean of the cached rows, which are the protocol's own figures.
    fresh = evaluate.evaluate("dncnn-s25", "set12", [25], limit=1)
    assert float(rows[0]["psnr"]) == pytest.approx(fresh[0]["psnr"], abs=1e-9)
    set12 = text.split("## SET12")[1]
    assert f"| dncnn-s25 | – | {fresh[0]['psnr']:.2f} / {fresh[0]['ssim']:.4f} | – |" in set12
    assert "python -m denoise_tf evaluate --model dncnn-s25 --dataset set12 --sigma 25" in set12
    assert "| DnCNN-S σ=25: within 0.1 dB" in text
    for name in ("results_psnr_vs_sigma.png", "results_side_by_side.png"):
        assert (figures / name).stat().st_size > 10_000

    # A second build reads every row from the cache ...
    def refuse(*args, **kwargs):
        raise AssertionError("evaluated again although the cache matched")

    monkeypatch.setattr(evaluate, "evaluate", refuse)
    report.build(**options)
    assert output.read_text() == text
    # ... unless the weights changed (fingerprint mismatch).
    meta = results / "set12" / "median_sigma25.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "fingerprint": "other"}))
    with pytest.raises(AssertionError, match="evaluated again"):
        report.build(**options)


def _fake_reference_rows(results, dataset, psnr_of):
    """Cached rows of every paper's network of ``dataset``'s section, as the report caches them (matching fingerprint)."""
    section = "colour" if dataset == targets.COLOR_SET else "gray"
    for _, networks in report.REFERENCE_ROWS[section]:
        for name in networks:
            for sigma in report.reference_sigmas(name):
                rows = [
                    {"model": name, "dataset": dataset, "sigma": float(sigma), "image": f"im{k}.png", "color": section == "colour",
                     "noisy_psnr": 20.0, "psnr": psnr_of(name, sigma) + d, "ssim": 0.5 + d / 10, "mse": 0.001, "seconds": 1.0}
                    for k, d in enumerate((-0.25, 0.25))
                ]
                path = report.cache_path(name, dataset, sigma, results)
                evaluate.write_csv(rows, path)
                path.with_suffix(".json").write_text(json.dumps({"fingerprint": report._fingerprint(name), "limit": None}))


def test_papers_networks_run_here_rows_come_from_the_cached_rows(tmp_path, monkeypatch):
    """Each paper's network run here sits below its published row, its cells the means of its cached rows."""
    from denoise_tf import reference

    def refuse(*args, **kwargs):
        raise AssertionError("evaluated although the rows are cached")

    monkeypatch.setattr(evaluate, "evaluate", refuse)
    results = tmp_path / "results"
    # distinct made-up figures per network and sigma: the table can only show them by reading the cache
    _fake_reference_rows(results, "bsd68", lambda name, sigma: 10 + len(name) + sigma / 100)
    assert report._fingerprint("paper/dncnn-b") == reference.entry("paper/dncnn-b")["sha256"]
    assert report.cache_path("paper/dncnn-s15", "bsd68", 15, results).name == "paper-dncnn-s15_sigma15.csv"
    lines, commands, missing = report.reference_table("gray", "bsd68", targets.PUBLISHED["bsd68"], results)
    assert missing == []
    run_here = "paper's network, run here"
    s = [f"{10 + len(f'paper/dncnn-s{x}') + x / 100:.2f} / 0.5000" for x in (15, 25, 50)]
    b = [f"{10 + len('paper/dncnn-b') + x / 100:.2f} / 0.5000" for x in (15, 25, 50)]
    f = [f"{10 + len('paper/ffdnet-gray') + x / 100:.2f} / 0.5000" for x in (15, 25, 50)]
    assert lines == [
        "| DnCNN-S (paper) | 31.73 | 29.23 | 26.23 |",
        f"| DnCNN-S ({run_here}) | " + " | ".join(s) + " |",
        "| DnCNN-B (paper) | 31.61 | 29.16 | 26.23 |",
        f"| DnCNN-B ({run_here}) | " + " | ".join(b) + " |",
        "| BM3D (paper) | 31.07 | 28.57 | 25.62 |",
        "| FFDNet (paper) | 31.63 | 29.19 | 26.29 |",  # from the reference registry: not among the quoted rows
        f"| FFDNet ({run_here}) | " + " | ".join(f) + " |",
    ]
    assert "- `python -m denoise_tf evaluate --model paper/dncnn-s25 --dataset bsd68 --sigma 25`" in commands
    assert "- `python -m denoise_tf evaluate --model paper/ffdnet-gray --dataset bsd68 --sigma 15 25 50`" in commands
    # a changed cache changes the row
    _fake_reference_rows(results, "bsd68", lambda name, sigma: 30.0)
    assert report.reference_table("gray", "bsd68", targets.PUBLISHED["bsd68"], results)[0][1] == f"| DnCNN-S ({run_here}) | 30.00 / 0.5000 | 30.00 / 0.5000 | 30.00 / 0.5000 |"


def test_a_papers_network_that_cannot_be_fetched_is_left_out(tmp_path, monkeypatch):
    from denoise_tf import reference

    def offline(name, *args, **kwargs):
        raise reference.ReferenceUnavailable(f"could not download {name} (x.mat) from nowhere. Without network: put it there")

    monkeypatch.setattr(evaluate, "evaluate", offline)
    results = tmp_path / "results"
    _fake_reference_rows(results, "cbsd68", lambda name, sigma: 30.0)
    report.cache_path("paper/ffdnet-color", "cbsd68", 25, results).with_suffix(".json").unlink()  # not cached, not fetchable
    lines, commands, missing = report.reference_table("colour", "cbsd68", targets.PUBLISHED_COLOR, results, color=True)
    assert [name for name, _ in missing] == ["paper/ffdnet-color"] and "Without network" not in missing[0][1]
    assert lines[:2] == ["| CDnCNN-B (paper) | 33.89 | 31.23 | 27.92 |", "| CDnCNN-B (paper's network, run here) | 30.00 / 0.5000 | 30.00 / 0.5000 | 30.00 / 0.5000 |"]
    assert not any(line.startswith("| FFDNet") for line in lines)
    assert "Not run here" in "\n".join(report._reference_note(commands, missing))


def test_results_md_run_here_rows_are_the_committed_cache(monkeypatch):
    """The rows of the papers' networks in RESULTS.md are the means of the committed per-image rows."""
    def refuse(*args, **kwargs):
        raise AssertionError("a row of a paper's network is not in the committed cache")

    monkeypatch.setattr(evaluate, "evaluate", refuse)
    root = Path(__file__).resolve().parents[1]
    text = (root / "RESULTS.md").read_text()
    if "paper's network, run here" not in text:
        pytest.skip("RESULTS.md has no rows of the papers' networks run here")
    for section, dataset, published in (("gray", "bsd68", targets.PUBLISHED["bsd68"]), ("gray", "set12", targets.PUBLISHED["set12"]),
                                        ("colour", targets.COLOR_SET, targets.PUBLISHED_COLOR)):
        table = text.split(f"## {dataset.upper()} (")[1].split("\n## ")[0]
        lines, commands, missing = report.reference_table(section, dataset, published, root / "results", color=(True if section == "colour" else None))
        assert missing == [] and "\n".join(lines) in table, dataset
        assert all(command in table for command in commands)


# --------------------------------------------------------------------------------------------
# Colour and write-up models (tiny untrained stand-ins shipped into a temporary registry)

TINY = {
    "cdncnn-b": ("dncnn", {"depth": 3, "filters": 8, "channels": 3}, "gaussian:sigma=0-55"),
    "dncnn-mixed": ("dncnn", {"depth": 3, "filters": 8, "channels": 3}, f"mixed:kinds={targets.MIXED_KINDS}"),
    "dilated-iso": ("dilated_residual", {"blocks": 1, "filters": 8, "channels": 3}, "mixed:kinds=gaussian,iso,count=1-2"),
    "sequential-sidd": ("sequential_cnn", {"widths": [8], "channels": 3}, "gaussian:sigma=0"),
    "simple-cnn-s25": ("simple_cnn", {"widths": [4, 4], "channels": 1}, "gaussian:sigma=25"),
    "dncnn-s25": ("dncnn", {"depth": 3, "filters": 8, "channels": 1}, "gaussian:sigma=25"),
    "dncnn-b": ("dncnn", {"depth": 3, "filters": 8, "channels": 1}, "gaussian:sigma=0-55"),
    "cdncnn-opponent": ("dncnn_opponent", {"depth": 3, "filters": 8}, "gaussian:sigma=0-55"),  # colour by its builder
}


@pytest.fixture
def tiny_registry(tmp_path, monkeypatch):
    """Ship untrained tiny models under the shipped models' names into a temporary weights folder."""
    from denoise_tf import models, pretrained

    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", folder)
    monkeypatch.setattr(pretrained, "REGISTRY_FILE", folder / "registry.json")
    entries = {}
    for name, (builder, options, spec) in TINY.items():
        path = folder / f"{name}.weights.h5"
        models.build(builder, **options).save_weights(str(path))
        entries[name] = {
            "file": path.name, "sha256": checksums.sha256(path), "model": builder, "model_options": options, "noise": spec,
            "config": f"configs/{name}.yaml", "train_data": "tiny", "epochs": 1, "epochs_done": 1, "epochs_planned": 2,
            "patches_seen_at_best": 16, "wall_time_s": 6.0, "hardware": ["cpu"], "val_data": "tiny", "val_psnr": 20.0,
            "status": "interim",
        }
    (folder / "registry.json").write_text(json.dumps(entries))
    return folder


def test_colour_model_checks_compare_against_the_targets():
    c = targets.COLOR_SET
    mixed, iso = targets.MIXED_TESTS[0], targets.ISO_TESTS[0]
    means = {(c, "cdncnn-b", 25): 31.10, (c, "bm3d", 25): 30.70, (c, "cdncnn-b", 15): 33.80, (c, "bm3d", 15): 33.90}
    means.update({(c, "dncnn-mixed", mixed): 32.0, (c, "median", mixed): 27.0, (c, "bm3d", mixed): 29.5})
    means.update({(c, "dilated-iso", iso): 35.0, (c, "bm3d", iso): 34.0, (c, "dilated-iso (2 passes)", iso): 33.0})
    means.update({(c, "sequential-sidd", iso): 33.0, (c, "noisy", iso): 32.0, (c, "median", iso): 31.0})
    means.update({("bsd68", "simple-cnn-s25", 25): 27.5, ("bsd68", "noisy", 25): 20.2, ("bsd68", "median", 25): 25.9})
    seconds = {(c, "dilated-iso", iso): 0.5, (c, "bm3d", iso): 10.0, (c, "dilated-iso (2 passes)", iso): 1.0}
    checks = {target.split(" (CBSD68)")[0].split(" (BSD68)")[0]: (reached, met) for target, reached, met in targets.colour_model_checks(means, seconds)}
    assert checks["CDnCNN-B σ=25"][1] is True  # 31.10 >= 31.23 - 0.2 and above CBM3D 30.70
    assert "-0.13 vs paper" in checks["CDnCNN-B σ=25"][0]
    assert checks["CDnCNN-B σ=15"][1] is False  # below CBM3D here
    assert checks["CDnCNN-B σ=50"] == ("not evaluated", None)
    assert checks[f"DnCNN-mixed `{mixed}`"] == ("32.00 dB (+2.50 vs CBM3D 29.50)", False)  # needs +3 dB
    assert checks[f"dilated-iso `{iso}`"][1] is True and "0.50 s" in checks[f"dilated-iso `{iso}`"][0]
    assert checks[f"dilated-iso (2 passes) `{iso}`"][1] is False
    assert checks[f"sequential-sidd `{iso}`"][1] is True
    assert checks["simple-cnn-s25 σ=25"][1] is True
    means.update({(c, "cdncnn-opponent", 25): 30.90, (c, "dncnn-b (opponent)", 25): 30.78})
    means.update({(c, "cdncnn-opponent", 15): 33.60, (c, "dncnn-b (opponent)", 15): 33.43})
    opponent = "DnCNN-B in opponent space, colour-trained"
    assert checks[f"{opponent}, σ=25"] == ("not evaluated", None)
    checks = {target.split(" (CBSD68)")[0]: (reached, met) for target, reached, met in targets.colour_model_checks(means, seconds)}
    assert checks[f"{opponent}, σ=25"] == ("30.90 dB (+0.20 vs CBM3D here, +0.12 vs dncnn-b (opponent))", True)
    assert checks[f"{opponent}, σ=15"][1] is False  # above the gray path, below CBM3D 33.90
    only = targets.colour_model_checks(means, seconds, models=["simple-cnn-s25"])
    assert len(only) == 1 and only[0][2] is True


def test_claim_check_per_test():
    rows = [{"noisy_psnr": 20.0, "psnr": 31.0, "ssim": 0.93}, {"noisy_psnr": 22.0, "psnr": 29.0, "ssim": 0.95}]
    text, met = targets.claim_check(rows)
    assert met is True and "1 of 2 images" in text  # mean 30.0 dB / 0.94 holds; image 2 alone does not
    assert targets.claim_check([{"noisy_psnr": 15.0, "psnr": 31.0, "ssim": 0.93}])[1] is None
    assert targets.claim_check([{"noisy_psnr": 20.0, "psnr": 31.0, "ssim": 0.85}])[1] is False


def test_cache_paths_keep_the_gaussian_layout(tmp_path):
    assert report.cache_path("bm3d", "bsd68", 15, tmp_path) == tmp_path / "bsd68" / "bm3d_sigma15.csv"
    path = report.cache_path("dilated-iso", "cbsd68", "iso:iso=1600", tmp_path, clip_input=True, passes=2)
    assert path == tmp_path / "cbsd68" / "dilated-iso-2-passes_iso-iso-1600_q8.csv"
    assert report.cache_path("m", "cbsd68", "mixed:kinds=gaussian,iso,count=2", tmp_path).name == "m_mixed-kinds-gaussian-iso-count-2.csv"


def test_subset_protocol_per_model(tiny_registry):
    gray = shipping_checks.subset_protocol("dncnn-s25")
    assert (gray["dataset"], gray["sigma"], gray["target"]) == ("set12", 25, [("bm3d", 0.0)])
    small = shipping_checks.subset_protocol("simple-cnn-s25")
    assert small["target"] == [] and {b for b, _ in small["required"]} == {"noisy", "median"}
    colour = shipping_checks.subset_protocol("cdncnn-b")
    assert (colour["dataset"], colour["sigma"], colour["target"]) == ("cbsd68", 25, [("bm3d", 0.0)])
    mixed = shipping_checks.subset_protocol("dncnn-mixed")
    assert mixed["noise"] in targets.MIXED_TESTS and ("bm3d", 3.0) in mixed["target"]
    for name in ("dilated-iso", "sequential-sidd"):
        proto = shipping_checks.subset_protocol(name)
        assert proto["noise"] in targets.ISO_TESTS and proto["clip_input"] is True and proto["sigma"] is None
    assert shipping_checks.subset_protocol("sequential-sidd")["target"] == []


def test_colour_sections_with_tiny_models(tiny_registry, tmp_path, monkeypatch):
    from denoise_tf import classical

    # Small and fast: the bundled samples as the colour set, one image, fewer tests, and a stand-in
    # for BM3D (a Gaussian blur under its name) so the tables and targets fill in seconds.
    monkeypatch.chdir(tmp_path)
    mixed_tests, iso_tests = targets.MIXED_TESTS[1:2] + targets.MIXED_TESTS[5:6], targets.ISO_TESTS[:1]
    for module in (report, targets):  # the sections and the targets read the conditions from their own module
        monkeypatch.setattr(module, "COLOR_SET", "samples")
        monkeypatch.setattr(module, "MIXED_TESTS", mixed_tests)
        monkeypatch.setattr(module, "ISO_TESTS", iso_tests)
    fake = classical._METHODS["gaussian"]
    monkeypatch.setitem(classical._METHODS, "bm3d", type(fake)("bm3d", fake.function, True, fake.doc))
    output, results = tmp_path / "RESULTS.md", tmp_path / "results"
    options = dict(output=output, results=results, figures=tmp_path / "figures", limit=1, models=[], sections=("colour", "mixed", "iso"), references=False)
    report.build(**options)
    text = output.read_text()
    assert "## SAMPLES (colour, Gaussian)" in text and "| CDnCNN-B (paper) | 33.89 | 31.23 | 27.92 |" in text
    gaussian = text.split("## SAMPLES (colour, Gaussian)")[1].split("##")[0]
    for name in ("cdncnn-opponent", "cdncnn-b", "dncnn-b (opponent)", "dncnn-b (per channel)", "bm3d", "median"):
        assert f"| {name} |" in gaussian, name
    assert "--model dncnn-b --dataset samples --sigma 15 25 50 --color-mode rgb" in gaussian
    assert "| DnCNN-B in opponent space, colour-trained, σ=25" in text
    assert "## Mixed noise (SAMPLES)" in text and "## Camera ISO noise (SAMPLES)" in text
    iso = text.split("## Camera ISO noise")[1].split("##")[0]
    for name in ("dilated-iso", "dilated-iso (2 passes)", "sequential-sidd", "cdncnn-b", "dncnn-mixed", "bm3d", "median", "noisy input"):
        assert f"| {name} |" in iso
    assert "--model dilated-iso --dataset samples --noise 'iso:iso=1600' --passes 2 --clip-input" in iso
    assert "## SAMPLES (gray)" not in text and "Sections built: colour, mixed, iso" in text
    meta = json.loads((results / "samples" / "dilated-iso-2-passes_iso-iso-1600_q8.json").read_text())
    assert meta["noise"] == "iso:iso=1600" and meta["clip_input"] is True and meta["limit"] == 1
    rows = list(csv.DictReader((results / "samples" / "median_sigma25.csv").open()))
    assert list(rows[0]) == ["model", "dataset", "sigma", "image", "color", "noisy_psnr", "psnr", "ssim", "mse", "seconds"]
    section = text.split("## Targets: colour and write-up models")[1]
    assert "| DnCNN-mixed `salt_and_pepper:amount=0.05`" in section and "not evaluated" not in section.split("simple-cnn")[0]
    mixed = text.split("## Mixed noise")[1].split("##")[0]
    assert any(word in mixed for word in ("holds", "fails", "n/a"))
    # Each section shows its figure: the compared models on the first image, under that section's noise.
    for section, name in ((gaussian, "colour"), (mixed, "mixed"), (iso, "iso")):
        figure = tmp_path / "figures" / f"results_{name}_side_by_side.png"
        assert f"]({figure.as_posix()})" in section and figure.stat().st_size > 10_000, name
    assert "Side by side (SAMPLES, `iso:iso=1600`, input clipped):" in iso
    if (dump := os.environ.get("DENOISE_TF_REPORT_DUMP")):
        Path(dump).write_text(text)

    def refuse(*args, **kwargs):
        raise AssertionError("evaluated again although the cache matched")

    monkeypatch.setattr(evaluate, "evaluate", refuse)
    report.build(**options)
    assert output.read_text() == text
    # Only some models shipped: their sections alone.
    report.build(**{**options, "output": tmp_path / "iso.md"}, color_models=["sequential-sidd"])
    only = (tmp_path / "iso.md").read_text()
    assert "## Camera ISO noise" in only and "## SAMPLES (colour" not in only and "## Mixed noise" not in only
    assert "| dilated-iso |" not in only and "| sequential-sidd |" in only


def test_the_command_line_offers_every_section():
    from denoise_tf import __main__ as cli

    assert cli.REPORT_SECTIONS == report.SECTIONS


def test_partial_build_never_replaces_results_md(tmp_path, monkeypatch):
    from denoise_tf import __main__ as cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report, "colour_models", lambda: [])  # nothing to evaluate: the sections are left out
    assert cli.main(["report", "--sections", "iso", "mixed", "--limit", "1"]) == 0
    text = (tmp_path / "results" / "RESULTS_mixed_iso.md").read_text()
    assert "Sections built: mixed, iso" in text and "## BSD68" not in text and "## Camera ISO" not in text
    assert not (tmp_path / "RESULTS.md").exists()
    with pytest.raises(ValueError, match="unknown report section"):
        report.build(sections=("grey",))


def _untrained_run(runs, folder, monkeypatch):
    """A run folder of an untrained tiny colour DnCNN, with an empty weights registry."""
    from denoise_tf import models, pretrained
    from denoise_tf.config import TrainConfig

    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", runs.parent / "weights")
    monkeypatch.setattr(pretrained, "REGISTRY_FILE", runs.parent / "weights" / "registry.json")
    run = runs / folder
    run.mkdir(parents=True)
    options = {"depth": 3, "filters": 8, "channels": 3}
    config = TrainConfig.from_dict({"name": folder, "model": "dncnn", "model_options": options, "color": True, "noise": "gaussian:sigma=0-55", "epochs": 50})
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    summary = {"best_epoch": 1, "epochs_done": 1, "patches_seen": 32, "wall_time_s": 60.0, "best_val_psnr": 21.5, "sessions": [{"hardware": {"devices": ["CPU"]}}]}
    (run / "summary.json").write_text(json.dumps(summary))
    models.build("dncnn", **options).save_weights(str(run / "best.weights.h5"))
    return run


@pytest.mark.slow
def test_unshipped_run_is_listed_with_the_check_it_misses(shared_data, tmp_path, monkeypatch):
    """A colour model with no registry entry shows up under "Trained, not shipped" with its figures."""
    monkeypatch.setenv("DENOISE_TF_DATA", str(shared_data))
    runs, results = tmp_path / "runs", tmp_path / "results"
    _untrained_run(runs, "cdncnn_b_cpu", monkeypatch)
    assert report._unshipped_section(results) == []  # no check made yet
    checks = shipping_checks.check_runs(runs, results)
    assert list(checks) == [report.shipping_check_key(runs / "cdncnn_b_cpu", "cdncnn-b")]
    lines = report._unshipped_section(results)
    rows = [line for line in lines if line.startswith("| cdncnn-b |")]
    assert len(rows) == 1, lines
    row = rows[0]
    assert "`configs/cdncnn_b_cpu.yaml`" in row and "| 1 / 1 / 50 |" in row and "21.50 dB" in row and "| CPU |" in row
    # an untrained model is no denoiser: it misses "noisy + 5 dB" on both of CBSD68's first images
    assert "CBSD68 σ=25, first 2 images: misses:" in row and row.count("<= noisy") == 2
    # a second check reads the verdict from the cache (keyed by the weights' sha256) ...
    def refuse(*args, **kwargs):
        raise AssertionError("evaluated again although the cache matched")

    monkeypatch.setattr(evaluate, "evaluate", refuse)
    assert shipping_checks.check_runs(runs, results) == checks
    assert report._unshipped_section(results) == lines
    # ... unless the weights changed: the report says so, the check runs again
    from denoise_tf import models

    models.build("dncnn", depth=3, filters=8, channels=3).save_weights(str(runs / "cdncnn_b_cpu" / "best.weights.h5"))
    assert "first 2 images: not checked since its best weights changed" in report._unshipped_section(results)[-2]
    with pytest.raises(AssertionError, match="evaluated again"):
        shipping_checks.check_runs(runs, results)


@pytest.mark.slow
def test_ship_script_refuses_weights_that_miss_the_check(shared_data, tmp_path, monkeypatch):
    """``scripts/ship_weights.py`` leaves the package's weights and registry alone for such a run."""
    import subprocess
    import sys

    run = _untrained_run(tmp_path / "runs", "cdncnn_b_cpu", monkeypatch)
    root = Path(__file__).resolve().parents[1]
    package = root / "denoise_tf" / "weights"
    before = {p.name: p.read_bytes() for p in package.iterdir() if p.is_file()}
    env = {**os.environ, "DENOISE_TF_DATA": str(shared_data)}
    done = subprocess.run([sys.executable, str(root / "scripts" / "ship_weights.py"), str(run), "cdncnn-b"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "not shipped" in done.stderr and "misses cdncnn-b's shipping check" in done.stderr and "<= noisy" in done.stderr
    assert {p.name: p.read_bytes() for p in package.iterdir() if p.is_file()} == before
    assert "cdncnn-b" not in json.loads((package / "registry.json").read_text())


def test_noisy_only_section_comes_from_the_cached_rows(tmp_path, monkeypatch):
    """The self-supervised / zero-shot tables: cells are the cached means, a run folder is keyed by
    its best weights' sha256, the gap to the supervised model is computed, absent runs are left out."""
    def refuse(*args, **kwargs):
        raise AssertionError("evaluated although the rows are cached")

    monkeypatch.setattr(evaluate, "evaluate", refuse)
    results = tmp_path / "results"
    run = tmp_path / "adapted"
    run.mkdir()
    (run / "best.weights.h5").write_bytes(b"weights")
    assert report._fingerprint(str(run)) == f"run:{checksums.sha256(run / 'best.weights.h5')}"
    gaussian = (("zero-shot", "nothing"), (str(tmp_path / "absent"), "left out"), ("bm3d", "classical"))
    iso = ((str(run), "noisy photos"), ("sequential-sidd", "pairs"))
    monkeypatch.setattr(report, "NOISY_ONLY_GAUSSIAN", gaussian)
    monkeypatch.setattr(report, "NOISY_ONLY_ISO", iso)
    monkeypatch.setattr(report, "_image_sides", lambda dataset: {"im0.png": "256x256", "im1.png": "512x512"})

    def cache(name, dataset, condition, psnr, clip_input=False, limit=None):
        rows = [
            {"model": name, "dataset": dataset, "sigma": 25.0, "image": f"im{k}.png", "noisy_psnr": 20.0,
             "psnr": psnr + d, "ssim": 0.5, "mse": 0.001, "seconds": 2.0 + 2 * k}
            for k, d in enumerate((-0.5, 0.5))
        ]
        path = report.cache_path(name, dataset, condition, results, clip_input)
        evaluate.write_csv(rows, path)
        info = {"fingerprint": report._fingerprint(name), "limit": limit}
        if isinstance(condition, str):
            info.update(noise=condition, clip_input=clip_input)
        path.with_suffix(".json").write_text(json.dumps(info))

    for dataset in report.GRAY_SETS:
        cache("zero-shot", dataset, 25, 26.0)
        cache("bm3d", dataset, 25, 28.0)
    limit = targets.NOISE_TEST_IMAGES
    for k, spec in enumerate(targets.ISO_TESTS):
        cache(str(run), targets.COLOR_SET, spec, 33.0 + k, targets.ISO_CLIP_INPUT, limit)
        cache("sequential-sidd", targets.COLOR_SET, spec, 31.0, targets.ISO_CLIP_INPUT, limit)
    lines = report._noisy_only_section(results, False, None)
    text = "\n".join(lines)
    assert "| zero-shot | 26.00 / 0.5000 / 3.00 | 26.00 / 0.5000 / 3.00 | nothing |" in lines
    assert "| bm3d | 28.00 / 0.5000 / 3.00 | 28.00 / 0.5000 / 3.00 | classical |" in lines
    assert "absent" not in text and "left out" not in text
    assert "Zero-shot seconds per image by size (Set12): 256x256: 2.0 s (1 images), 512x512: 4.0 s (1 images)." in lines
    gaps = ", ".join(f"`{spec}` {2.0 + k:+.2f} dB" for k, spec in enumerate(targets.ISO_TESTS))
    assert any(line.startswith(f"| {run} | 33.00 / 0.5000 / 3.00") for line in lines)
    assert f"against the supervised `sequential-sidd`: {gaps}." in text
