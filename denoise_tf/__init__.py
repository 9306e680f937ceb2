"""denoise_tf: image denoising with Keras 3 (TensorFlow or JAX backend).

Conventions used throughout the package:

* images are ``float32`` in ``[0, 1]``; one image is ``(H, W, C)``, a batch ``(N, H, W, C)``;
* noise levels ``sigma`` are given on the 0-255 scale;
* every random operation takes a ``seed``.

Importing the package does not import TensorFlow: only the ``tf.data`` path of
:mod:`denoise_tf.pipeline` needs it, so the package also runs with ``KERAS_BACKEND=jax``
on machines without TensorFlow.
"""

__version__ = "0.1.0"

#: The flat public API: ``from denoise_tf import denoise, make_denoiser, add_noise, psnr``. Each
#: name is imported from its module on first use, so ``import denoise_tf`` stays light. The
#: evaluation protocol and the training loop are their modules: ``denoise_tf.evaluate.evaluate``,
#: ``denoise_tf.train.train`` (a name here would shadow the module).
_PUBLIC = {
    "denoise": ("zoo", "denoise"),
    "make_denoiser": ("zoo", "make_denoiser"),
    "load_model": ("zoo", "load_model"),
    "model_kind": ("zoo", "model_kind"),
    "default_model": ("zoo", "default_model"),
    "add_noise": ("noise", "apply"),
    "estimate_sigma": ("noise", "estimate_sigma"),
    "psnr": ("metrics", "psnr"),
    "ssim": ("metrics", "ssim"),
    "mse": ("metrics", "mse"),
    "read_image": ("images", "read_image"),
    "save_image": ("images", "save_image"),
    "load_dataset": ("datasets", "load"),
    "build_model": ("models", "build"),
    "TrainConfig": ("config", "TrainConfig"),
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        module, attribute = _PUBLIC[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
