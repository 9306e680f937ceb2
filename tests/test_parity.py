"""The published DnCNN networks through this project's model and evaluation code (reference only).

The `.mat` files in ../shared/reference/dncnn-official are the DnCNN paper's own weights: they pin
the architecture and the protocol. They are never shipped or offered as this project's models.
"""

from pathlib import Path

import numpy as np
import pytest

from denoise_tf import datasets, evaluate, metrics
from denoise_tf.models.dncnn import load_matconvnet

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "dncnn-official"
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference weights absent: {REFERENCE}")


def mean_psnr(model, dataset, sigma, data_root):
    images, _ = datasets.load(dataset, data_root=data_root)
    scores = []
    for k, clean in enumerate(images):
        noisy = evaluate.noisy_input(clean, f"gaussian:sigma={sigma}", [0, k])
        out = np.clip(np.asarray(model.predict_on_batch(noisy[None]))[0], 0, 1)
        scores.append(metrics.psnr(clean, out))
    return float(np.mean(scores))


def test_published_dncnn_s25_on_set12(shared_data):
    model = load_matconvnet(REFERENCE / "sigma=25.mat")
    assert len([l for l in model.layers if l.name.startswith("conv")]) == 17
    assert mean_psnr(model, "set12", 25, shared_data) == pytest.approx(30.44, abs=0.05)


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("sigma,published", [(15, 31.73), (25, 29.23), (50, 26.23)])
def test_published_dncnn_s_on_bsd68(sigma, published, shared_data):
    """All of BSD68 (about 100 s per sigma here): not in the default run, which checks the published
    Set12 figure above; CI runs these with ``-m full``."""
    model = load_matconvnet(REFERENCE / f"sigma={sigma}.mat")
    assert mean_psnr(model, "bsd68", sigma, shared_data) == pytest.approx(published, abs=0.05)


def test_rejects_a_non_matconvnet_file(tmp_path):
    import h5py

    path = tmp_path / "x.mat"
    with h5py.File(path, "w") as handle:
        handle["other"] = np.zeros(3)
    with pytest.raises(ValueError, match="MatConvNet"):
        load_matconvnet(path)
