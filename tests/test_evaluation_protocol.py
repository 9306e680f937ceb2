"""The evaluation protocol end to end: classical baselines on Set12 at sigma 25, the
BM3D reference number, repeatability, the ``denoise`` command round trip, and bad inputs.

Everything here is computed through :func:`denoise_tf.evaluate.evaluate`; the cached rows under
``results/`` (``python -m denoise_tf report``) are never read.
"""

import hashlib
import json
import os

import numpy as np
import pytest

from denoise_tf import __main__ as cli
from denoise_tf import classical, datasets, evaluate, metrics, noise, zoo

SIGMA = 25
#: Published BM3D mean PSNR on Set12 at sigma 25 (Zhang et al., DnCNN, TIP 2017, Table II).
BM3D_SET12_S25 = 29.97
#: Every classical method except BM3D (about 5 s for all 12 Set12 images together).
CHEAP = ("mean", "median", "gaussian", "bilateral", "nlm", "tv", "wavelet")


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _without_time(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


# --------------------------------------------------------------------------------------------
# Set12, sigma 25: the classical baselines


@pytest.fixture(scope="module")
def set12_cheap(shared_data):
    """Per-method summary (all 12 images, sigma 25, seed 0) and rows of the cheap classical methods."""
    out = {}
    for method in CHEAP:
        rows = evaluate.evaluate(method, "set12", [SIGMA], data_root=shared_data)
        out[method] = (evaluate.summarize(rows)[0], rows)
    return out


@pytest.mark.slow  # 20-45 s on the 2-core CPU (noise, 7 methods and SSIM on 12 images)
def test_every_cheap_baseline_beats_the_noisy_input_on_set12(set12_cheap):
    for method, (summary, rows) in set12_cheap.items():
        assert summary["images"] == 12
        assert 20.0 < summary["noisy_psnr"] < 20.7  # sigma 25 on [0, 1] images: 20.17 dB before clipping
        assert summary["psnr"] > summary["noisy_psnr"] + 4.0, (method, summary)
        for row in rows:  # and on every single image
            assert row["psnr"] > row["noisy_psnr"], (method, row["image"], row["psnr"], row["noisy_psnr"])
            assert 0.0 < row["ssim"] <= 1.0
    # the same noisy inputs for every method (per-image seed [seed, k])
    noisy = {m: [r["noisy_psnr"] for r in rows] for m, (_, rows) in set12_cheap.items()}
    assert len({tuple(v) for v in noisy.values()}) == 1


def test_bm3d_beats_every_cheap_baseline_on_the_first_two_set12_images(set12_cheap, shared_data):
    """The quick version of the published-figure check below (two 256x256 images, about 10 s)."""
    rows = evaluate.evaluate("bm3d", "set12", [SIGMA], data_root=shared_data, limit=2)
    assert [r["image"] for r in rows] == [r["image"] for r in set12_cheap["median"][1][:2]]
    for k, row in enumerate(rows):
        assert row["psnr"] > row["noisy_psnr"] + 6.0, row
        for method, (_, cheap) in set12_cheap.items():
            assert cheap[k]["noisy_psnr"] == row["noisy_psnr"]  # the same noisy image as the full-set rows
            assert row["psnr"] > cheap[k]["psnr"], (method, row["image"], row["psnr"], cheap[k]["psnr"])
    median = set12_cheap["median"][1][:2]
    assert evaluate.summarize(rows)[0]["psnr"] > evaluate.summarize(median)[0]["psnr"] + 2.0


@pytest.mark.slow
@pytest.mark.full
def test_bm3d_on_set12_matches_the_published_number(set12_cheap, shared_data):
    """All of Set12 (about 100 s here): not in the default run; CI runs it with ``-m full``."""
    rows = evaluate.evaluate("bm3d", "set12", [SIGMA], data_root=shared_data)
    summary = evaluate.summarize(rows)[0]
    assert summary["images"] == 12
    assert all(row["psnr"] > row["noisy_psnr"] + 6.0 for row in rows)
    assert summary["psnr"] > set12_cheap["median"][0]["psnr"] + 2.0
    assert all(summary["psnr"] > s["psnr"] for s, _ in set12_cheap.values())  # the best classical method
    assert summary["psnr"] == pytest.approx(BM3D_SET12_S25, abs=0.4)


# --------------------------------------------------------------------------------------------
# Repeatability


@pytest.fixture(scope="module")
def small_set(shared_data, tmp_path_factory):
    """A folder of two 96x96 crops of Set12 images (a small subset that BM3D runs in a second)."""
    images, names = datasets.load("set12", limit=2, data_root=shared_data)
    folder = tmp_path_factory.mktemp("small_set12")
    for image, name in zip(images, names):
        datasets.save_image(folder / name, image[64:160, 64:160])
    return folder


@pytest.mark.parametrize("model", ["dncnn-s25", "bm3d"])
def test_evaluation_is_repeatable(small_set, model, monkeypatch):
    """Same seed, same numbers, bit for bit (each run builds its denoiser afresh).

    The noisy inputs are bit-identical, and so are the scores. For BM3D that takes one thread:
    the bm3d library splits its work over ``num_threads`` threads, and with several the order
    of its float sums changes from call to call (MSE moves by ~1e-6 relative). The classical
    ``bm3d`` runs on 1 thread unless ``DENOISE_TF_BM3D_THREADS`` (or its ``threads`` option)
    asks for more, so the test pins 1 thread whatever the environment asks for.
    """
    monkeypatch.setenv(classical.BM3D_THREADS_ENV, "1")
    first = evaluate.evaluate(model, str(small_set), [SIGMA], seed=3)
    second = evaluate.evaluate(model, str(small_set), [SIGMA], seed=3)
    assert len(first) == 2
    assert _without_time(first) == _without_time(second)
    assert all(r["psnr"] > r["noisy_psnr"] + 4.0 for r in first)


def test_the_seed_sets_the_noise(shared_data):
    clean = datasets.load("set12", limit=1, data_root=shared_data)[0][0]
    spec = f"gaussian:sigma={SIGMA}"
    a, b, c = (evaluate.noisy_input(clean, spec, seed) for seed in ([3, 0], [3, 0], [4, 0]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# --------------------------------------------------------------------------------------------
# The denoise command


@pytest.fixture
def noisy_files(tmp_path):
    clean = datasets.load("samples", color=False, limit=1)[0][0][:96, :128]
    noisy = np.clip(noise.apply(clean, f"gaussian:sigma={SIGMA}", seed=0), 0.0, 1.0)
    folder = tmp_path / "in"
    return {
        "png": datasets.save_image(folder / "noisy.png", noisy),
        "jpg": datasets.save_image(folder / "noisy.jpg", noisy),
        "clean": clean,
    }


@pytest.mark.parametrize("suffix, model", [("png", "dncnn-s25"), ("jpg", "dncnn-s25"), ("jpg", "median")])
def test_denoise_command_round_trip(noisy_files, tmp_path, suffix, model, capsys):
    source = noisy_files[suffix]
    before = _sha(source)
    target = tmp_path / "out" / f"denoised.{suffix}"
    assert cli.main(["denoise", str(source), str(target), "--model", model]) == 0
    assert target.is_file() and f"-> {target}" in capsys.readouterr().out
    assert _sha(source) == before  # the input is untouched
    assert target.read_bytes() != source.read_bytes()
    image, output = datasets.read_image(source), datasets.read_image(target)
    assert output.shape == image.shape == (96, 128, 1)
    clean = noisy_files["clean"]
    assert metrics.psnr(clean, output) > metrics.psnr(clean, image) + 3.0  # it did denoise


# --------------------------------------------------------------------------------------------
# Bad input: a clear error naming what was expected, before any long work


def test_metrics_refuse_different_shapes():
    a, b = np.zeros((32, 32, 1)), np.zeros((32, 31, 1))
    for function in (metrics.psnr, metrics.ssim, metrics.mse):
        with pytest.raises(ValueError, match=rf"{function.__name__}: shapes differ: .*\(32, 31, 1\) \(expected .* the same shape\)"):
            function(a, b)


def test_metrics_refuse_a_0_255_image():
    rng = np.random.default_rng(0)
    unit = rng.random((32, 32, 1))
    for function in (metrics.psnr, metrics.ssim, metrics.mse):
        with pytest.raises(ValueError, match=r"reference has values up to .*expected in \[0, 1\].*divide .* by 255"):
            function(unit * 255, unit * 255)
        with pytest.raises(ValueError, match=r"estimate has values up to .*expected in \[0, 1\]"):
            function(unit, unit * 255)
    # unclipped noisy images (a few units past [0, 1]) and data_range=255 stay allowed
    noisy = noise.apply(unit.astype(np.float32), "gaussian:sigma=75", seed=0)
    assert noisy.max() > 1.5 and np.isfinite(metrics.psnr(unit, noisy))
    assert metrics.psnr(unit * 255, unit * 255 + 1, data_range=255) == pytest.approx(48.13, abs=0.01)


def test_classical_denoise_refuses_a_0_255_image():
    image = np.full((32, 32, 1), 128.0, dtype=np.float32)
    with pytest.raises(ValueError, match=r"image has values up to 128.*expected in \[0, 1\].*divide .* by 255"):
        classical.denoise(image, "median")
    with pytest.raises(ValueError, match=r"expected in \[0, 1\]"):
        zoo.make_denoiser("bm3d", sigma=25).denoise(image)


def test_neural_denoise_refuses_a_0_255_image():
    image = np.full((32, 32, 1), 128.0, dtype=np.float32)
    with pytest.raises(ValueError, match=r"expected in \[0, 1\]"):
        zoo.make_denoiser("dncnn-s25").denoise(image)


def test_unknown_model_name(noisy_files, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown model 'bm4d'.*shipped weights \[.*dncnn-s25.*classical method \[.*bm3d"):
        zoo.make_denoiser("bm4d", sigma=25)
    with pytest.raises(ValueError, match=r"unknown model 'runs/none.keras' \(no such file"):
        evaluate.evaluate("runs/none.keras", "samples", [SIGMA])
    with pytest.raises(SystemExit, match=r"error: unknown model 'bm4d'.*expected"):
        cli.main(["denoise", str(noisy_files["png"]), str(tmp_path / "o.png"), "--model", "bm4d"])
    # evaluate checks every name before running the first model
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking names"))
    with pytest.raises(SystemExit, match=r"unknown model 'bm4d'"):
        cli.main(["evaluate", "--model", "median", "bm4d", "--dataset", "samples", "--sigma", "25"])
    assert not (tmp_path / "o.png").exists()


def test_unknown_dataset_name(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown set 'set13': expected one of \[.*'set12'"):
        evaluate.evaluate("median", "set13", [SIGMA])
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking the set"))
    with pytest.raises(SystemExit, match=r"unknown set 'set13': expected one of"):
        cli.main(["evaluate", "--model", "median", "--dataset", "set13", "--sigma", "25"])
    with pytest.raises(SystemExit, match=r"--sigma takes noise levels >= 0"):
        cli.main(["evaluate", "--model", "median", "--dataset", "samples", "--sigma", "-5"])


def _no_model(*args, **kwargs):
    pytest.fail("the model was loaded before the output path was checked")


def test_unwritable_output_fails_before_loading_the_model(noisy_files, tmp_path, monkeypatch):
    source = noisy_files["png"]
    monkeypatch.setattr(evaluate, "make_denoiser", _no_model)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit, match=r"cannot write .*a_file is a file, not a folder \(expected a writable folder\)"):
        cli.main(["denoise", str(source), str(blocker / "sub" / "out.png"), "--model", "median"])
    with pytest.raises(SystemExit, match=r"suffix '.txt': expected an image file"):
        cli.main(["denoise", str(source), str(tmp_path / "out.txt"), "--model", "median"])
    with pytest.raises(SystemExit, match=r"is a folder: expected an image file path"):
        cli.main(["denoise", str(source), str(tmp_path), "--model", "median"])
    with pytest.raises(SystemExit, match=r"input .*missing.png not found: expected an image file"):
        cli.main(["denoise", str(tmp_path / "missing.png"), str(tmp_path / "o.png"), "--model", "median"])
    # a folder nobody may write to (simulated: the tests may run as root, who may write anywhere)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == os.fspath(locked) else real_access(p, mode))
    with pytest.raises(SystemExit, match=r"cannot write .*locked is not writable \(expected a writable folder\)"):
        cli.main(["denoise", str(source), str(locked / "out.png"), "--model", "median"])
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_folder_output(noisy_files, tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(SystemExit, match=r"cannot write .* is not writable"):
            cli.main(["denoise", str(noisy_files["png"]), str(locked / "out.png"), "--model", "median"])
    finally:
        locked.chmod(0o755)


def test_output_equal_to_input_is_refused(noisy_files, monkeypatch):
    monkeypatch.setattr(evaluate, "make_denoiser", _no_model)
    for suffix in ("png", "jpg"):
        source = noisy_files[suffix]
        before = _sha(source)
        for target in (source, source.parent / ".." / source.parent.name / source.name):
            for extra in ([], ["--overwrite"]):
                with pytest.raises(SystemExit, match=r"refusing to write over the input image"):
                    cli.main(["denoise", str(source), str(target), "--model", "median", *extra])
        assert _sha(source) == before


# --------------------------------------------------------------------------------------------
# Colour sets: every model scored on the same images, rows say which


@pytest.fixture(scope="module")
def colour_set(shared_data, tmp_path_factory):
    """A folder of two 64x80 crops of CBSD68 photos (RGB)."""
    images, names = datasets.load("cbsd68", limit=2, data_root=shared_data)
    folder = tmp_path_factory.mktemp("small_cbsd68")
    for image, name in zip(images, names):
        datasets.save_image(folder / name, image[100:164, 150:230])
    return folder


_LOADED: dict = {}


@pytest.fixture
def load_once(monkeypatch):
    """Shipped weights loaded once per module (each load and first trace costs seconds)."""
    from denoise_tf import pretrained

    real = pretrained.load

    def load(name):
        if name not in _LOADED:
            _LOADED[name] = real(name)
        return _LOADED[name]

    monkeypatch.setattr(pretrained, "load", load)
    return load


def test_a_colour_set_is_scored_in_colour_by_every_model(colour_set, load_once):
    from denoise_tf import inference

    rows = {m: evaluate.evaluate(m, str(colour_set), [SIGMA]) for m in ("dncnn-s25", "dncnn-b", "median")}
    rows["dncnn-b rgb"] = evaluate.evaluate("dncnn-b", str(colour_set), [SIGMA], color_mode="rgb")
    assert [r["model"] for r in rows["dncnn-s25"]] == ["dncnn-s25 (opponent, per-channel luma)"] * 2  # fixed sigma
    assert rows["dncnn-b"][0]["model"] == "dncnn-b (opponent)" and rows["dncnn-b rgb"][0]["model"] == "dncnn-b (per channel)"
    assert rows["median"][0]["model"] == "median"
    for model_rows in rows.values():
        assert [r["color"] for r in model_rows] == [True, True]
    # the same noisy colour images for every model
    assert len({tuple(r["noisy_psnr"] for r in model_rows) for model_rows in rows.values()}) == 1
    # the row is the score of the colour path on the protocol's noisy image
    clean = datasets.load(str(colour_set), limit=1)[0][0]
    noisy = evaluate.noisy_input(clean, f"gaussian:sigma={SIGMA}", [0, 0])
    expected = inference.denoise(load_once("dncnn-s25"), noisy, color_mode="opponent-rgb-luma")
    assert rows["dncnn-s25"][0]["psnr"] == pytest.approx(metrics.psnr(clean, expected), abs=1e-4)
    per_channel = inference.denoise(load_once("dncnn-b"), noisy, color_mode="rgb")
    assert rows["dncnn-b rgb"][0]["psnr"] == pytest.approx(metrics.psnr(clean, per_channel), abs=1e-4)
    assert rows["dncnn-b"][0]["psnr"] != pytest.approx(rows["dncnn-b rgb"][0]["psnr"], abs=1e-3)
    # summary and table keep the paths apart and say the images were colour
    summary = evaluate.summarize([r for model_rows in rows.values() for r in model_rows])
    assert [s["model"] for s in summary] == ["dncnn-s25 (opponent, per-channel luma)", "dncnn-b (opponent)", "median", "dncnn-b (per channel)"]
    table = evaluate.markdown_table(summary)
    assert table.startswith("| model (colour images) | σ=25 PSNR / SSIM |")
    assert "| dncnn-b (per channel) | " in table and "| dncnn-b (opponent) | " in table


def test_color_false_scores_gray_copies_for_every_model(colour_set, load_once):
    gray = {m: evaluate.evaluate(m, str(colour_set), [SIGMA], color=False, limit=1) for m in ("dncnn-s25", "median")}
    assert gray["dncnn-s25"][0]["model"] == "dncnn-s25" and gray["median"][0]["model"] == "median"
    assert all(r[0]["color"] is False for r in gray.values())
    assert gray["dncnn-s25"][0]["noisy_psnr"] == gray["median"][0]["noisy_psnr"]
    assert evaluate.markdown_table(evaluate.summarize(gray["median"])).startswith("| model (gray images) |")


def test_a_mixed_folder_gets_an_images_column_and_csv_stores_color_as_a_number(tmp_path):
    rows = evaluate.evaluate("median", "samples", [SIGMA], limit=2)  # astronaut (RGB), camera (gray)
    assert [(r["image"], r["color"]) for r in rows] == [("astronaut.png", True), ("camera.png", False)]
    summary = evaluate.summarize(rows)
    assert [(s["color"], s["images"]) for s in summary] == [(True, 1), (False, 1)]
    table = evaluate.markdown_table(summary).splitlines()
    assert table[0] == "| model | images | σ=25 PSNR / SSIM |"
    assert table[2].startswith("| median | colour | ") and table[3].startswith("| median | gray | ")
    path = evaluate.write_csv(rows, tmp_path / "rows.csv")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("model,dataset,sigma,image,color,") and ",astronaut.png,1," in lines[1] and ",camera.png,0," in lines[2]
    import csv

    cached = [{k: (v if k in ("model", "dataset", "image") else float(v)) for k, v in r.items()} for r in csv.DictReader(path.open())]
    assert [(s["color"], s["psnr"]) for s in evaluate.summarize(cached)] == [(s["color"], pytest.approx(s["psnr"])) for s in summary]


def test_color_mode_is_checked_before_any_work(colour_set, monkeypatch):
    monkeypatch.setattr(datasets, "load", lambda *a, **k: pytest.fail("the set was read before the options were checked"))
    with pytest.raises(ValueError, match=r"color_mode applies to gray neural models.*'bm3d' is a classical method"):
        evaluate.evaluate("bm3d", str(colour_set), [SIGMA], color_mode="rgb")
    with pytest.raises(ValueError, match=r"color_mode must be one of \['opponent', 'opponent-rgb-luma', 'rgb'\]"):
        evaluate.evaluate("dncnn-b", str(colour_set), [SIGMA], color_mode="ycbcr")
    with pytest.raises(ValueError, match="color_mode applies to gray neural models"):
        zoo.make_denoiser("median", sigma=SIGMA, color_mode="opponent")


def test_evaluate_command_scores_gray_and_classical_models_on_the_same_colour_images(colour_set, capsys, load_once):
    import json

    argv = ["evaluate", "--model", "dncnn-s25", "median", "--dataset", str(colour_set), "--sigma", str(SIGMA), "--limit", "1"]
    assert cli.main(argv + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["color"]) for r in result["rows"]] == [("dncnn-s25 (opponent, per-channel luma)", True), ("median", True)]
    assert result["rows"][0]["noisy_psnr"] == result["rows"][1]["noisy_psnr"]
    assert cli.main(argv) == 0
    assert "| model (colour images) | σ=25 PSNR / SSIM |" in capsys.readouterr().out


def test_the_evaluate_command_loads_and_verifies_the_weights_once_for_three_sigmas(colour_set, monkeypatch, capsys):
    """One model at three sigma: one weights load (and sha256 check), the level set per sigma."""
    from denoise_tf import checksums, pretrained
    from denoise_tf.__main__ import main

    real, calls = pretrained.load, []
    real_sha256, hashed = checksums.sha256, []

    def load(name):
        calls.append(name)
        return real(name)

    def sha256(path):
        hashed.append(os.path.basename(path))
        return real_sha256(path)

    monkeypatch.setattr(pretrained, "load", load)
    monkeypatch.setattr(checksums, "sha256", sha256)
    assert main(["evaluate", "--model", "ffdnet-gray", "--dataset", str(colour_set), "--sigma", "15", "25", "50", "--json"]) == 0
    assert calls == ["ffdnet-gray"]
    assert [name for name in hashed if name.endswith(".weights.h5")] == [pretrained.entry("ffdnet-gray")["file"]]
    summary = json.loads(capsys.readouterr().out)["summary"]
    means = {row["sigma"]: row["psnr"] for row in summary}
    assert sorted(means) == [15.0, 25.0, 50.0] and means[15.0] > means[25.0] > means[50.0]
