"""The command line: demo, evaluate, denoise (never over its input), bad names."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from denoise_tf import __main__ as cli
from denoise_tf import datasets, evaluate, metrics, noise

ROOT = Path(__file__).resolve().parents[1]


def test_demo_writes_a_figure_with_scores(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert cli.main(["demo", "--model", "median", "--output", str(out)]) == 0
    assert out.stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "median" in printed and "dB" in printed


def test_evaluate_json_matches_the_library(capsys):
    assert cli.main(["evaluate", "--model", "median", "--dataset", "samples", "--sigma", "25", "--limit", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    row = result["rows"][0]
    images, _ = datasets.load("samples", limit=1)
    noisy = evaluate.noisy_input(images[0], "gaussian:sigma=25", [0, 0])
    from denoise_tf import classical

    expected = metrics.psnr(images[0], classical.denoise(noisy, "median", sigma=25))
    assert row["psnr"] == pytest.approx(expected, abs=1e-6)
    assert result["summary"][0]["images"] == 1


def test_evaluate_summary_and_table():
    rows = evaluate.evaluate("mean", "samples", [15, 50], limit=2)
    summary = evaluate.summarize(rows)
    assert [s["sigma"] for s in summary] == [15.0, 50.0]
    assert summary[0]["psnr"] > summary[1]["psnr"]
    assert "σ=15" in evaluate.markdown_table(summary)


def test_denoise_file_and_folder_never_over_inputs(tmp_path):
    clean = datasets.load("samples", color=False, limit=2)[0]
    folder = tmp_path / "in"
    for k, image in enumerate(clean):
        datasets.save_image(folder / f"n{k}.png", np.clip(noise.apply(image, "gaussian:sigma=25", seed=k), 0, 1))
    assert cli.main(["denoise", str(folder / "n0.png"), str(tmp_path / "out.png"), "--model", "median"]) == 0
    assert datasets.read_image(tmp_path / "out.png").shape == clean[0].shape
    assert cli.main(["denoise", str(folder), str(tmp_path / "outdir"), "--model", "gaussian", "--sigma", "25"]) == 0
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["n0.png", "n1.png"]
    before = (folder / "n0.png").read_bytes()
    with pytest.raises(SystemExit, match="input"):
        cli.main(["denoise", str(folder / "n0.png"), str(folder / "n0.png"), "--model", "median"])
    with pytest.raises(SystemExit, match="exists"):
        cli.main(["denoise", str(folder / "n0.png"), str(tmp_path / "out.png"), "--model", "median"])
    assert (folder / "n0.png").read_bytes() == before


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'bm4x'.*bm3d"):
        evaluate.make_denoiser("bm4x", sigma=25)


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "denoise_tf", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "evaluate" in done.stdout and "train" in done.stdout
