"""The flat public API of ``denoise_tf``: every name resolves, and importing the package stays light."""

import os
import subprocess
import sys

import numpy as np

import denoise_tf


def test_every_public_name_resolves_to_its_module_object():
    from denoise_tf import metrics, noise, zoo

    for name in denoise_tf.__all__:
        assert getattr(denoise_tf, name) is not None, name
    assert denoise_tf.denoise is zoo.denoise and denoise_tf.add_noise is noise.apply and denoise_tf.psnr is metrics.psnr
    assert set(denoise_tf.__all__) <= set(dir(denoise_tf))


def test_no_public_name_shadows_a_submodule():
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(denoise_tf.__path__)}
    assert not submodules & set(denoise_tf.__all__)


def test_import_does_not_import_tensorflow_or_keras():
    code = "import sys, denoise_tf; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]


def test_denoise_with_a_classical_method_clips_and_keeps_the_shape():
    clean = np.full((20, 24, 1), 0.5, np.float32)
    noisy = denoise_tf.add_noise(clean, "gaussian:sigma=25", seed=0)
    out = denoise_tf.denoise(noisy, sigma=25, model="median")
    assert out.shape == clean.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert denoise_tf.psnr(clean, out) > denoise_tf.psnr(clean, np.clip(noisy, 0, 1))
