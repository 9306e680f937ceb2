"""Metrics: NumPy PSNR / SSIM / MSE against skimage, Keras metrics against NumPy (TF and JAX)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from skimage import data  # noqa: E402
from skimage import metrics as skm  # noqa: E402

from denoise_tf import metrics  # noqa: E402
from helpers import run_on_backend  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def pair(shape, sigma=0.1, seed=0):
    """A smooth-ish reference and a noisy, clipped estimate, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    h, w = shape[-3], shape[-2]
    if shape[-1] == 1:
        base = data.camera()[:h, :w, None] / 255.0
    else:
        base = data.astronaut()[:h, :w] / 255.0
    ref = np.broadcast_to(base, shape).astype(np.float32).copy()
    ref += rng.normal(0, 0.02, shape).astype(np.float32)  # images in a batch differ
    ref = np.clip(ref, 0, 1)
    est = np.clip(ref + rng.normal(0, sigma, shape), 0, 1).astype(np.float32)
    return ref, est


def sk_ssim(ref, est):
    return skm.structural_similarity(
        ref, est, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1
    )


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "colour"])
def test_single_image_matches_skimage(channels):
    ref, est = pair((37, 52, channels))
    assert metrics.mse(ref, est) == pytest.approx(skm.mean_squared_error(ref, est), abs=1e-8)
    assert metrics.psnr(ref, est) == pytest.approx(skm.peak_signal_noise_ratio(ref, est, data_range=1.0), abs=1e-4)
    assert metrics.ssim(ref, est) == pytest.approx(sk_ssim(ref, est), abs=1e-4)
    assert isinstance(metrics.ssim(ref, est), float)


def test_two_dimensional_gray():
    ref, est = pair((40, 40, 1))
    assert metrics.ssim(ref[..., 0], est[..., 0]) == pytest.approx(metrics.ssim(ref, est), abs=1e-12)
    assert metrics.psnr(ref[..., 0], est[..., 0]) == pytest.approx(metrics.psnr(ref, est), abs=1e-12)


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "colour"])
def test_batch_is_mean_of_per_image(channels):
    ref, est = pair((3, 30, 41, channels))
    for fn, sk in [
        (metrics.mse, skm.mean_squared_error),
        (metrics.psnr, lambda a, b: skm.peak_signal_noise_ratio(a, b, data_range=1.0)),
        (metrics.ssim, sk_ssim),
    ]:
        values = fn(ref, est, per_image=True)
        assert values.shape == (3,)
        expected = [sk(ref[i], est[i]) for i in range(3)]
        np.testing.assert_allclose(values, expected, atol=1e-4)
        assert fn(ref, est) == pytest.approx(np.mean(expected), abs=1e-4)


def test_identical_and_ssim_bounds():
    ref, est = pair((24, 24, 1))
    assert metrics.psnr(ref, ref) == float("inf")
    assert metrics.mse(ref, ref) == 0.0
    assert metrics.ssim(ref, ref) == pytest.approx(1.0, abs=1e-9)
    assert -1 <= metrics.ssim(ref, 1 - ref) < 0.5


def test_gaussian_window_matches_wang():
    taps = metrics.gaussian_window()
    assert taps.shape == (11,)
    assert taps.sum() == pytest.approx(1.0)
    assert taps[5] / taps[4] == pytest.approx(np.exp(0.5 / 1.5**2))


@pytest.mark.parametrize("fn", [metrics.mse, metrics.psnr, metrics.ssim])
def test_bad_inputs(fn):
    with pytest.raises(ValueError, match="shapes differ"):
        fn(np.zeros((16, 16, 1)), np.zeros((16, 16, 3)))
    with pytest.raises(ValueError, match="rank"):
        fn(np.zeros(16), np.zeros(16))
    with pytest.raises(ValueError, match="rank"):
        fn(np.zeros((1, 2, 16, 16, 1)), np.zeros((1, 2, 16, 16, 1)))


def test_ssim_too_small():
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(np.zeros((10, 30, 1)), np.zeros((10, 30, 1)))


# --------------------------------------------------------------------------------------------
# Keras metrics


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "colour"])
def test_keras_metrics_match_numpy(channels):
    ref, est = pair((4, 33, 29, channels), seed=channels)
    psnr_metric, ssim_metric = metrics.PSNRMetric(), metrics.SSIMMetric()
    for part in (slice(0, 1), slice(1, 4)):  # accumulates across batches of different sizes
        psnr_metric.update_state(ref[part], est[part])
        ssim_metric.update_state(ref[part], est[part])
    assert float(psnr_metric.result()) == pytest.approx(metrics.psnr(ref, est), abs=1e-3)
    assert float(ssim_metric.result()) == pytest.approx(metrics.ssim(ref, est), abs=1e-4)
    psnr_metric.reset_state()
    psnr_metric.update_state(ref[:1], est[:1])
    assert float(psnr_metric.result()) == pytest.approx(metrics.psnr(ref[0], est[0]), abs=1e-3)


def test_keras_metric_sample_weight_and_identical():
    ref, est = pair((3, 20, 20, 1))
    metric = metrics.PSNRMetric()
    metric.update_state(ref, est, sample_weight=np.array([1.0, 0.0, 3.0]))
    values = metrics.psnr(ref, est, per_image=True)
    assert float(metric.result()) == pytest.approx((values[0] + 3 * values[2]) / 4, abs=1e-3)
    same = metrics.PSNRMetric()
    same.update_state(ref, ref)
    assert float(same.result()) == pytest.approx(100.0, abs=1e-3)  # floored, finite


def test_keras_metric_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        metrics.PSNRMetric().update_state(np.zeros((8, 8, 1)), np.zeros((8, 8, 1)))
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.SSIMMetric().update_state(np.zeros((1, 16, 16, 1)), np.zeros((1, 16, 17, 1)))
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.SSIMMetric().update_state(np.zeros((1, 8, 16, 1)), np.zeros((1, 8, 16, 1)))
    with pytest.raises(ValueError, match="data_range"):
        metrics.SSIMMetric(data_range=0)


def test_keras_metrics_in_compiled_model():
    import keras

    from denoise_tf.models import build

    model = build("dncnn", depth=3, filters=4)
    model.compile(loss="mse", metrics=[metrics.PSNRMetric(), metrics.SSIMMetric()])
    ref, noisy = pair((4, 24, 24, 1), sigma=0.1, seed=3)
    results = model.evaluate(noisy, ref, batch_size=2, verbose=0, return_dict=True)
    out = model.predict(noisy, verbose=0)
    assert results["psnr"] == pytest.approx(metrics.psnr(ref, out), abs=1e-3)
    assert results["ssim"] == pytest.approx(metrics.ssim(ref, out), abs=1e-4)
    config = metrics.SSIMMetric(data_range=2.0).get_config()
    assert keras.metrics.deserialize(keras.metrics.serialize(metrics.SSIMMetric(data_range=2.0))).data_range == 2.0
    assert config["data_range"] == 2.0


def test_numpy_metrics_do_not_import_keras():
    script = (
        "import sys; from denoise_tf import metrics; "
        "metrics.ssim([[0.0] * 11] * 11, [[0.0] * 11] * 11); print('keras' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


OTHER_BACKEND = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from denoise_tf import metrics
    ref, est = np.load(sys.argv[1] + "/ref.npy"), np.load(sys.argv[1] + "/est.npy")
    p, s = metrics.PSNRMetric(), metrics.SSIMMetric()
    p.update_state(ref, est)
    s.update_state(ref, est)
    print(json.dumps({"backend": keras.backend.backend(), "psnr": float(p.result()), "ssim": float(s.result())}))
    """
)


def test_keras_metrics_on_the_other_backend(tmp_path):
    import keras

    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    pytest.importorskip(other)
    ref, est = pair((2, 26, 31, 3), seed=5)
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "est.npy", est)
    report = run_on_backend(other, OTHER_BACKEND, tmp_path)
    assert report["psnr"] == pytest.approx(metrics.psnr(ref, est), abs=1e-3)
    assert report["ssim"] == pytest.approx(metrics.ssim(ref, est), abs=1e-4)
