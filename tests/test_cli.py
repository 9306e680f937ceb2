"""The command line: demo, evaluate, denoise (never over its input), bad names, errors and exit statuses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from denoise_tf import __main__ as cli
from denoise_tf import datasets, evaluate, metrics, noise, zoo

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
    rows = evaluate.evaluate("mean", "samples", [15, 50], limit=2, color=False)  # one gray group
    summary = evaluate.summarize(rows)
    assert [s["sigma"] for s in summary] == [15.0, 50.0] and [s["images"] for s in summary] == [2, 2]
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
        zoo.make_denoiser("bm4x", sigma=25)


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "denoise_tf", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "evaluate" in done.stdout and "train" in done.stdout


# --------------------------------------------------------------------------------------------
# denoise: folders, unreadable files, links, colour and bit depth; errors and exit statuses


def _noisy(shape, seed):
    rng = np.random.default_rng(seed)
    return np.clip(rng.random(shape[:2] + (1,)) * 0.2 + 0.4 + rng.normal(0, 0.05, shape), 0, 1).astype(np.float32)


def test_inputs_that_share_a_stem_get_their_own_outputs(tmp_path, capsys):
    folder = tmp_path / "in"
    levels = {"x.png": 0.2, "x.jpg": 0.5, "x.bmp": 0.8, "y.png": 0.35}
    for name, level in levels.items():
        datasets.save_image(folder / name, np.full((24, 32, 1), level, np.float32))
    assert cli.main(["denoise", str(folder), str(tmp_path / "out"), "--model", "median"]) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["x.bmp.png", "x.jpg.png", "x.png.png", "y.png"]  # 4 inputs, 4 outputs
    for name, level in levels.items():
        out = tmp_path / "out" / (f"{name}.png" if name.startswith("x") else "y.png")
        assert abs(float(datasets.read_image(out).mean()) - level) < 0.01  # each output is its own input's
    assert cli.folder_outputs([folder / "a.png", folder / "b.jpg"], tmp_path) == [tmp_path / "a.png", tmp_path / "b.png"]
    with pytest.raises(SystemExit, match=r"error: inputs .* would both be written to .*x.png.png"):
        cli.folder_outputs([folder / "x.png", folder / "x.jpg", folder / "x.png.jpg"], tmp_path)


def test_an_unreadable_file_does_not_stop_the_folder(tmp_path, capsys):
    folder = tmp_path / "in"
    for k, name in enumerate(["a.png", "c.png"]):
        datasets.save_image(folder / name, _noisy((24, 32, 1), k))
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code = cli.main(["denoise", str(folder), str(tmp_path / "out"), "--model", "median"])
    assert code == cli.EXIT_SOME_FAILED == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]  # the others were written
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert errors[0] == f"error: {folder / 'b.png'}: not a readable image (truncated header)"
    assert errors[-1].startswith("error: 1 of 3 image(s) could not be denoised") and "Traceback" not in captured.err
    assert f"{folder / 'c.png'} -> {tmp_path / 'out' / 'c.png'}" in captured.out


def test_a_hard_link_to_the_input_is_never_written(tmp_path, monkeypatch):
    source = datasets.save_image(tmp_path / "in.png", _noisy((24, 32, 1), 0))
    before = source.read_bytes()
    link = tmp_path / "elsewhere" / "out.png"
    link.parent.mkdir()
    os.link(source, link)
    monkeypatch.setattr(zoo, "make_denoiser", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(SystemExit, match="error: refusing to write over the input image") as caught:
        cli.main(["denoise", str(source), str(link), "--model", "median", "--overwrite"])
    assert caught.value.code == cli.EXIT_REFUSED == 2
    assert source.read_bytes() == before
    folder_link = tmp_path / "outdir" / "in.png"  # a folder input whose output is a hard link to an input
    folder_link.parent.mkdir()
    os.link(source, folder_link)
    with pytest.raises(SystemExit, match="error: refusing to write over the input image"):
        cli.main(["denoise", str(tmp_path), str(tmp_path / "outdir"), "--model", "median", "--overwrite"])
    assert source.read_bytes() == before


class _Recorder:
    """An identity denoiser that keeps what it was given."""

    name = "recorder"

    def __init__(self):
        self.seen = []

    def denoise(self, image):
        self.seen.append(image.shape)
        return image


def test_colour_depth_and_alpha_are_kept(tmp_path, monkeypatch, capsys):
    import cv2

    rng = np.random.default_rng(0)
    deep = (rng.integers(0, 65536, (24, 32, 3))).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    rgba = rng.integers(0, 256, (24, 32, 4)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    recorder = _Recorder()
    monkeypatch.setattr(zoo, "make_denoiser", lambda *a, **k: recorder)
    # a gray model name: the colour image still goes to the denoiser in colour, not converted to gray
    assert cli.main(["denoise", str(tmp_path / "deep.png"), str(tmp_path / "out.png"), "--model", "dncnn-b"]) == 0
    assert recorder.seen == [(24, 32, 3)]
    written = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == (24, 32, 3)
    np.testing.assert_array_equal(written, deep)  # identity denoiser: 16 bits in, the same 16 bits out
    assert cli.main(["denoise", str(tmp_path / "deep.png"), str(tmp_path / "out.jpg"), "--model", "dncnn-b"]) == 0
    assert "note: " in capsys.readouterr().out  # a JPEG holds 8 bits: said so
    assert cli.main(["denoise", str(tmp_path / "alpha.png"), str(tmp_path / "rgb.png"), "--model", "median"]) == 0
    assert "alpha channel dropped (the output is RGB)" in capsys.readouterr().out
    assert cv2.imread(str(tmp_path / "rgb.png"), cv2.IMREAD_UNCHANGED).shape == (24, 32, 3)
    assert cli.main(["denoise", str(tmp_path / "deep.png"), str(tmp_path / "median.png"), "--model", "median"]) == 0
    assert datasets.read_image(tmp_path / "median.png").shape == (24, 32, 3)  # a real method, in colour


@pytest.mark.parametrize("value", ["1e9", "-1", "256", "nan", "inf"])
def test_sigma_outside_0_255_is_refused(tmp_path, monkeypatch, value):
    source = datasets.save_image(tmp_path / "in.png", _noisy((16, 16, 1), 0))
    monkeypatch.setattr(zoo, "make_denoiser", lambda *a, **k: pytest.fail("the model was loaded"))
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("evaluated"))
    with pytest.raises(SystemExit, match=r"error: --sigma takes a noise level >= 0 and <= 255") as caught:
        cli.main(["denoise", str(source), str(tmp_path / "out.png"), "--model", "bm3d", "--sigma", value])
    assert caught.value.code == 2 and not (tmp_path / "out.png").exists()
    with pytest.raises(SystemExit, match=r"error: --sigma takes noise levels >= 0 and <= 255"):
        cli.main(["evaluate", "--model", "bm3d", "--dataset", "samples", "--sigma", "25", value])


def test_user_errors_are_one_error_line_with_status_2(tmp_path, capsys, monkeypatch):
    from test_images import png_claiming

    empty = tmp_path / "empty"
    empty.mkdir()
    datasets.save_image(tmp_path / "out.png", np.zeros((4, 4, 1), np.float32))
    source = datasets.save_image(tmp_path / "in.png", np.zeros((8, 8, 1), np.float32))
    (tmp_path / "bomb.png").write_bytes(png_claiming(20000, 20000))
    monkeypatch.delenv("DENOISE_TF_MAX_PIXELS", raising=False)
    cases = [
        (["denoise", str(empty), str(tmp_path / "o"), "--model", "median"], r"error: no images in .*empty"),
        (["denoise", str(source), str(tmp_path / "out.png"), "--model", "median"], r"error: .*out.png exists: pass --overwrite"),
        (["denoise", str(source), str(source), "--model", "median"], r"error: refusing to write over the input image"),
        (["denoise", str(tmp_path / "bomb.png"), str(tmp_path / "b.png"), "--model", "median"], r"error: input .*bomb.png: the header claims 20000x20000 = 400.0 megapixels, over the limit of 100 megapixels"),
        (["denoise", str(source), str(tmp_path / "t.png"), "--model", "median", "--tile", "-3"], r"error: --tile takes"),
        (["demo", "--model", "bm4x", "--output", str(tmp_path / "d.png")], r"error: unknown .*'bm4x'"),
        (["evaluate", "--model", "median", "--dataset", "samples", "--limit", "0"], r"error: --limit takes"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit, match=message) as caught:
            cli.main(argv)
        assert caught.value.code == cli.EXIT_REFUSED, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_the_module_exits_2_with_an_error_line_and_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "denoise_tf", "denoise", str(tmp_path / "missing.png"), str(tmp_path / "o.png"), "--model", "median"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: input {tmp_path / 'missing.png'} not found: expected an image file or a folder of images"]


def test_color_mode_and_gray_reach_the_library(tmp_path, capsys):
    """--color-mode picks a gray model's colour path (rows named by it); --gray reads a colour set as gray."""
    from denoise_tf import colour, pretrained

    assert cli.COLOR_MODES == colour.MODES
    if "dncnn-b" not in pretrained.available():
        pytest.skip("no shipped dncnn-b")
    args = ["evaluate", "--model", "dncnn-b", "--dataset", "samples", "--sigma", "25", "--limit", "1", "--json"]
    assert cli.main([*args, "--color-mode", "rgb"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    expected = evaluate.evaluate("dncnn-b", "samples", [25], limit=1, color_mode="rgb")[0]
    assert row["color"] and row["model"] == expected["model"] and row["psnr"] == pytest.approx(expected["psnr"], abs=1e-6)
    assert cli.main([*args, "--gray"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["color"] is False
    image = datasets.load("samples", limit=1)[0][0][:32, :32]
    datasets.save_image(tmp_path / "in.png", image)
    with pytest.raises(SystemExit, match="colour images itself"):
        cli.main(["denoise", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--model", "median", "--color-mode", "rgb"])
    assert not (tmp_path / "out.png").exists()
    assert cli.main(["denoise", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--model", "dncnn-b", "--color-mode", "rgb"]) == 0
    expected = np.clip(zoo.make_denoiser("dncnn-b", color_mode="rgb", lower_precision=True).denoise(image), 0, 1)
    assert np.abs(datasets.read_image(tmp_path / "out.png") - expected).max() <= 1 / 255 + 1e-6


def test_default_model_is_the_first_shipped_of_the_defaults(monkeypatch):
    from denoise_tf import demo, pretrained

    shipped = ["dncnn-s25"]
    monkeypatch.setattr(pretrained, "available", lambda: list(shipped))
    assert demo.default_model() == "bm3d"
    shipped.append("dncnn-b")
    assert demo.default_model() == "dncnn-b"
    shipped.append(demo.DEFAULT_MODELS[0])
    assert demo.default_model() == demo.DEFAULT_MODELS[0] == "cdncnn-opponent"


def test_demo_keeps_each_photo_in_its_own_channels_with_a_colour_model(tmp_path, monkeypatch):
    """The colour default model gets the gray sample as gray, not as a gray copy with colour noise."""
    from denoise_tf import demo

    seen = {}

    class Recorder:
        name = "cdncnn-opponent"

        def denoise(self, image):
            seen[len(seen)] = image.shape
            return np.clip(image, 0, 1)

    monkeypatch.setattr(demo, "get_denoiser", lambda name, sigma: Recorder())
    result = demo.run(model="cdncnn-opponent", output=tmp_path / "demo.png")
    channels = {row["image"]: seen[k][-1] for k, row in enumerate(result["images"])}
    assert channels == {"astronaut.png": 3, "camera.png": 1, "chelsea.png": 3}
    assert (tmp_path / "demo.png").exists()
