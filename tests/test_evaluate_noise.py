"""The evaluation protocol under noise specs: rows, oracle level, determinism, passes, the CLI."""

import json

import numpy as np
import pytest

from denoise_tf import __main__ as cli
from denoise_tf import classical, datasets, evaluate, inference, metrics, noise

SPECS = ["salt_and_pepper:amount=0.05", "iso:iso=3200"]


def test_noise_spec_rows_follow_the_protocol():
    rows = evaluate.evaluate("gaussian", "samples", noise=SPECS, limit=2, color=True)
    assert [(r["noise"], r["image"]) for r in rows] == [(s, n) for s in SPECS for n in ("astronaut.png", "camera.png")]
    assert list(rows[0]) == ["model", "dataset", "noise", "level", "image", "color", "noisy_psnr", "psnr", "ssim", "mse", "seconds"]
    assert all(row["color"] is True for row in rows)  # color=True: camera.png repeated to RGB
    images, _ = datasets.load("samples", color=True, limit=2)
    for row in rows:
        k = ("astronaut.png", "camera.png").index(row["image"])
        noisy = noise.apply(images[k], row["noise"], seed=[0, k])
        # Oracle level: RMS of the image's actual noise on the 0-255 scale, handed to the method.
        rms = float(np.sqrt(np.mean((noisy.astype(np.float64) - images[k]) ** 2)) * 255)
        assert row["level"] == pytest.approx(rms, rel=1e-6)
        expected = classical.denoise(noisy, "gaussian", sigma=rms)
        assert row["psnr"] == pytest.approx(metrics.psnr(images[k], expected), abs=1e-6)
        assert row["noisy_psnr"] == pytest.approx(metrics.psnr(images[k], noisy), abs=1e-6)
    again = evaluate.evaluate("gaussian", "samples", noise=SPECS, limit=2, color=True)
    assert [r["psnr"] for r in again] == [r["psnr"] for r in rows]  # seeded: the same rows every run
    summary = evaluate.summarize(rows)
    assert [s["noise"] for s in summary] == SPECS and "sigma" not in summary[0] and summary[0]["images"] == 2
    table = evaluate.markdown_table(summary)
    assert "`iso:iso=3200` PSNR / SSIM" in table and "| gaussian |" in table
    assert table.startswith("| model (colour images) |") and all(s["color"] is True for s in summary)


def test_gaussian_spec_gets_the_drawn_sigma_and_clip_input_quantizes():
    (row,) = evaluate.evaluate("median", "samples", noise=["gaussian:sigma=25"], limit=1, clip_input=True)
    assert row["level"] == pytest.approx(25.0, abs=1e-4)
    (sigma_row,) = evaluate.evaluate("median", "samples", [25], limit=1, clip_input=True)
    assert row["psnr"] == pytest.approx(sigma_row["psnr"], abs=1e-9)  # the spec path is the sigma path
    assert "noise" not in sigma_row and sigma_row["sigma"] == 25.0
    level = evaluate.oracle_level(np.zeros((4, 4, 1)), np.full((4, 4, 1), 0.1), "speckle:sigma=9", 0.5)
    assert level == pytest.approx(25.5)


def test_bad_specs_and_both_levels_are_clear_errors():
    with pytest.raises(ValueError, match="bad noise spec 'iso:iso=99'.*outside"):
        evaluate.evaluate("median", "samples", noise=["iso:iso=99"], limit=1)
    with pytest.raises(ValueError, match="unknown noise kind"):
        evaluate.check_noise_specs(["blur:size=3"])
    with pytest.raises(ValueError, match="either sigmas"):
        evaluate.evaluate("median", "samples", [25], noise=["iso"], limit=1)


def test_display_name_marks_result_changing_options():
    assert evaluate.display_name("dilated-iso", passes=2) == "dilated-iso (2 passes)"
    assert evaluate.display_name("dilated-iso", passes=1, tile=256, progress=False) == "dilated-iso"
    assert evaluate.display_name("x", passes=3, self_ensemble=True) == "x (3 passes, self-ensemble)"
    # the colour path of a gray model on colour images comes first
    assert evaluate.display_name("dncnn-b", color_mode="opponent") == "dncnn-b (opponent)"
    assert evaluate.display_name("dncnn-b", passes=2, color_mode="rgb") == "dncnn-b (per channel, 2 passes)"
    assert evaluate.display_name("dncnn-s25", color_mode="opponent-rgb-luma") == "dncnn-s25 (opponent, per-channel luma)"
    assert evaluate.display_name("dncnn-b", color_mode=None) == "dncnn-b"


def test_passes_reach_the_model_and_name_its_rows(tmp_path):
    from denoise_tf import models

    model = models.build("dncnn", depth=3, filters=8, channels=3)
    path = tmp_path / "tiny.keras"
    model.save(path)
    one = evaluate.evaluate(str(path), "samples", noise=["iso:iso=1600"], limit=1, color=True)
    two = evaluate.evaluate(str(path), "samples", noise=["iso:iso=1600"], limit=1, color=True, passes=2)
    assert one[0]["model"] == str(path) and two[0]["model"] == f"{path} (2 passes)"
    images, _ = datasets.load("samples", color=True, limit=1)
    noisy = noise.apply(images[0], "iso:iso=1600", seed=[0, 0])
    expected = inference.denoise(model, noisy, passes=2)
    assert two[0]["psnr"] == pytest.approx(metrics.psnr(images[0], np.clip(expected, 0, 1)), abs=1e-4)
    assert two[0]["psnr"] != pytest.approx(one[0]["psnr"], abs=1e-6)


def test_cli_noise_round_trip(capsys, tmp_path):
    spec = "salt_and_pepper:amount=0.05"
    out = tmp_path / "rows.csv"
    argv = ["evaluate", "--model", "median", "--dataset", "samples", "--noise", spec, "--limit", "1", "--json", "--csv", str(out)]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    (row,) = result["rows"]
    assert row["noise"] == spec and result["summary"][0]["noise"] == spec
    assert row == pytest.approx(evaluate.evaluate("median", "samples", noise=[spec], limit=1)[0] | {"seconds": row["seconds"]})
    assert out.read_text().splitlines()[0].startswith("model,dataset,noise,level,image")
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--model", "median", "--dataset", "samples", "--sigma", "25", "--noise", spec])
    with pytest.raises(SystemExit, match="bad noise spec"):
        cli.main(["evaluate", "--model", "median", "--dataset", "samples", "--noise", "iso:iso=99"])
    with pytest.raises(SystemExit, match="neural models only"):
        cli.main(["evaluate", "--model", "median", "--dataset", "samples", "--noise", spec, "--passes", "2"])
