"""RESULTS.md generation: tables come from the evaluation rows, the cache is reused, targets are checked."""

import csv
import json

import pytest

from denoise_tf import evaluate, report


def test_target_checks_compare_against_the_paper_and_bm3d():
    means = {("dncnn-s15", 15): 31.70, ("bm3d", 15): 31.0, ("dncnn-s25", 25): 29.0, ("bm3d", 25): 28.5}
    means.update({("dncnn-b", 15): 31.55, ("ffdnet-gray", 15): 31.60})
    checks = {target.split(":")[0]: (reached, met) for target, reached, met in report.target_checks(means)}
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
    options = dict(output=output, results=results, figures=figures, limit=1, models=["dncnn-s25"], classical=("median",), sweep=(15, 25))
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
