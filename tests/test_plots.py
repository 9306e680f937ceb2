"""Figures of denoise_tf.plots: each writes a PNG, returns a figure and rejects bad input clearly."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from denoise_tf import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    clean = np.tile(np.linspace(0, 1, 48, dtype=np.float32), (32, 1))[..., None]
    noisy = clean + rng.normal(0, 25 / 255, clean.shape).astype(np.float32)
    return clean, noisy, [np.clip(noisy * 0.5 + clean * 0.5, 0, 1), clean.copy()]


def _png(path):
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _summary():
    return [
        {"model": model, "dataset": "set12", "sigma": float(s), "images": 2, "noisy_psnr": 40.0 - s / 3, "psnr": 40.0 - s / 5 + k, "ssim": 0.9 - s / 100, "mse": 1e-3, "seconds": 0.01 * (k + 1)}
        for k, model in enumerate(["nlm", "dncnn-b"])
        for s in (5, 25, 50)
    ]


def test_comparison(images, tmp_path):
    clean, noisy, outs = images
    fig = plots.comparison([clean, clean], [noisy, noisy], {"half": [outs[0], outs[0]], "ideal": [outs[1], outs[1]]}, tmp_path / "sub" / "c.png", names=["a", "b"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 4
    assert "dB" in fig.axes[2].get_title()
    _png(tmp_path / "sub" / "c.png")


def test_comparison_rejects_mismatched_lists(images):
    clean, noisy, outs = images
    with pytest.raises(ValueError, match="same length"):
        plots.comparison([clean, clean], [noisy], {"half": [outs[0]]})
    with pytest.raises(ValueError, match="same length"):
        plots.comparison([clean], [noisy], {"half": [outs[0], outs[1]]})
    with pytest.raises(ValueError, match="shapes differ"):
        plots.comparison([clean], [noisy], {"crop": [outs[0][:16]]})


def test_zoom_grid(images, tmp_path):
    clean, noisy, outs = images
    fig = plots.zoom_grid([clean, noisy, outs[0]], ["clean", "noisy", "half"], (4, 8, 16, 16), tmp_path / "z.png")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    assert fig.axes[3].get_images()[0].get_array().shape[:2] == (16, 16)
    _png(tmp_path / "z.png")


@pytest.mark.parametrize(
    "titles, box, message",
    [
        (["one"], (0, 0, 8, 8), "same length"),
        (["one", "two"], (30, 0, 8, 8), "leaves an image"),
        (["one", "two"], (0, 0, 0, 8), "height, width >= 1"),
        (["one", "two"], (0, 0, 8), "top, left, height, width"),
    ],
)
def test_zoom_grid_rejects_bad_input(images, titles, box, message):
    clean, noisy, _ = images
    with pytest.raises(ValueError, match=message):
        plots.zoom_grid([clean, noisy], titles, box)


def test_residual_maps(images, tmp_path):
    clean, noisy, outs = images
    fig = plots.residual_maps(clean, noisy, outs, ["half", "ideal"], tmp_path / "r.png")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 2 + 2  # maps plus two colour bars
    assert "RMS 0.0" in fig.axes[3].get_title()  # the ideal denoiser leaves no error
    _png(tmp_path / "r.png")


def test_residual_maps_takes_colour(images):
    clean, noisy, outs = images
    rgb = lambda x: np.repeat(x, 3, axis=-1)  # noqa: E731
    fig = plots.residual_maps(rgb(clean), rgb(noisy), [rgb(outs[0])], ["half"])
    assert fig.axes[0].get_images()[0].get_array().shape == clean.shape[:2]


def test_residual_maps_rejects_bad_input(images):
    clean, noisy, outs = images
    with pytest.raises(ValueError, match="same length"):
        plots.residual_maps(clean, noisy, outs, ["only one title"])
    with pytest.raises(ValueError, match="shapes differ"):
        plots.residual_maps(clean, noisy[:16], outs, ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        plots.residual_maps(clean, noisy, [], [])


def test_psnr_curves(tmp_path):
    fig = plots.psnr_curves(_summary(), tmp_path / "p.png")
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["nlm", "dncnn-b", "noisy input"]
    assert list(lines[0].get_xdata()) == [5.0, 25.0, 50.0]
    _png(tmp_path / "p.png")
    ssim = plots.psnr_curves(_summary(), metric="ssim")
    assert [line.get_label() for line in ssim.axes[0].get_lines()] == ["nlm", "dncnn-b"]


def test_psnr_curves_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        plots.psnr_curves([])
    with pytest.raises(ValueError, match="metric"):
        plots.psnr_curves(_summary(), metric="mae")
    with pytest.raises(ValueError, match="missing"):
        plots.psnr_curves([{"model": "nlm", "psnr": 30.0}])


def test_time_per_image(tmp_path):
    fig = plots.time_per_image(_summary(), tmp_path / "t.png")
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_xscale() == "log"
    _png(tmp_path / "t.png")
    with pytest.raises(ValueError, match="empty"):
        plots.time_per_image([])
    with pytest.raises(ValueError, match="seconds"):
        plots.time_per_image([{"model": "nlm"}])


def test_training_curves_and_side_by_side_still_work(images, tmp_path):
    clean, noisy, _ = images
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.csv").write_text("epoch,loss,val_psnr\n0,0.01,25.0\n1,0.005,26.0\n")
    assert isinstance(plots.training_curves([run], tmp_path / "curves.png"), Figure)
    _png(tmp_path / "curves.png")
    assert isinstance(plots.side_by_side([[clean, noisy]], [["clean", "noisy"]], tmp_path / "s.png"), Figure)
    _png(tmp_path / "s.png")
