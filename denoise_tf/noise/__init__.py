"""Noise models as plain NumPy functions, a registry, a small text spec language, a TensorFlow
path for ``tf.data`` and a Keras layer.

Every noise function takes ``images`` of shape ``(H, W, C)`` or ``(N, H, W, C)``, ``float32``
in ``[0, 1]``, and a :class:`numpy.random.Generator`, and returns ``(noisy, level)``: the noisy
images (same shape, ``float32``) and the noise level per image on the 0-1 scale (shape ``(N,)``,
or a scalar for one image), which noise-level-conditioned models (FFDNet) take as input.

Kinds and what their ``level`` means (all on the 0-1 scale, one value per image):

=================  ====================================================================  =======
kind               model                                                                 level
=================  ====================================================================  =======
gaussian           ``x + n``, ``n ~ N(0, (sigma/255)^2)``; fixed sigma or blind (range)  sigma/255
poisson            shot noise ``Poisson(peak * x) / peak``                               ``sqrt(mean(x) / peak)``
salt_and_pepper    a fraction ``amount`` of pixels set to 0 or 1 (all channels)          amount
speckle            multiplicative ``x * (1 + n)``, ``n ~ N(0, (sigma/255)^2)``           sigma/255
iso                camera ISO noise: luminance noise of variance ``a*Y + b`` plus        RMS noise std
                   low-frequency chroma noise (see :func:`iso`)
scribbles          3-6 random black lines (scratches), CleanVision's recipe              covered fraction
jpeg               JPEG compression at ``quality`` (OpenCV encoder)                      RMS error
mixed              1-3 kinds per image with random parameters (CleanVision's recipe)     RMS error
=================  ====================================================================  =======

Clipping: Gaussian noise is **not** clipped by default, as in the DnCNN benchmark protocol
(noisy input ``x + n`` with ``n ~ N(0, sigma^2)``, values may leave ``[0, 1]``); pass
``clip=True`` for a camera-like image. The other kinds model sensors or corruption whose
output is a valid image, so they clip to ``[0, 1]`` (``iso`` has a ``clip`` switch, on by
default; ``mixed`` clips its final result even when it drew ``gaussian``).

Text specs name a kind and its parameters, e.g. ``"gaussian:sigma=25"``,
``"gaussian:sigma=0-55"`` (blind: sigma drawn per image from the range),
``"salt_and_pepper:amount=0.05"``, ``"iso:iso=3200"`` or
``"mixed:kinds=gaussian,salt_and_pepper,speckle"``; see :func:`parse` and :func:`available`.
``str(parse(s))`` writes a spec back in this language.

Three ways to add noise:

* :func:`apply` -- NumPy, every kind, no TensorFlow needed (``import denoise_tf.noise`` does not
  import TensorFlow, Keras or OpenCV).
* :func:`tf_apply` -- TensorFlow stateless random ops (``seed`` is a shape-``[2]`` integer tensor),
  deterministic inside ``tf.data.Dataset.map(..., num_parallel_calls=AUTOTUNE)``; native for
  :data:`TF_NATIVE_KINDS` (gaussian, poisson, salt_and_pepper, speckle), the other kinds (iso,
  scribbles, jpeg, mixed) run the NumPy path through ``tf.numpy_function`` with a NumPy seed
  derived from the TF seed (still deterministic, but CPU-only and holding the GIL).
  :func:`tf_noisy_pairs` maps a dataset of clean images to ``(noisy, clean)`` pairs with a seed
  per element derived from its index.
* :class:`NoiseLayer` -- a backend-agnostic Keras 3 layer (TensorFlow or JAX) that adds noise
  when ``training=True`` only (kinds in :data:`LAYER_KINDS`). Keras is imported when the name
  ``NoiseLayer`` is first used.

The same spec gives the same noise *statistics* on all three paths, not the same values.
:func:`estimate_sigma` measures Gaussian noise in an image (wavelet MAD, 0-255 scale).

Modules: :mod:`~denoise_tf.noise.spec` (the spec language and the registry),
:mod:`~denoise_tf.noise.kinds` (the NumPy kinds and :func:`apply`),
:mod:`~denoise_tf.noise.estimate` (:func:`estimate_sigma`), :mod:`~denoise_tf.noise.tf` (the
TensorFlow path) and :mod:`~denoise_tf.noise.keras_layer` (:class:`NoiseLayer`, imports Keras). Every
public name is importable from the package itself.
"""

from __future__ import annotations

from .estimate import estimate_sigma
from .kinds import (
    ISO_A100,
    ISO_B100,
    ISO_CHROMA_RATIO,
    LUMA_WEIGHTS,
    MIXED_KINDS,
    MIXED_RANGES,
    apply,
    as_rng,
    check_images,
    draw,
    draw_int,
    gaussian,
    iso,
    jpeg,
    mixed,
    mixed_plan,
    poisson,
    salt_and_pepper,
    scribbles,
    speckle,
)
from .spec import NoiseKind, NoiseSpec, Param, available, describe, kind_function, parse, register
from .tf import TF_NATIVE_KINDS, numpy_seed_from_tf, tf_apply, tf_element_seed, tf_noisy_pairs

#: Names served from :mod:`denoise_tf.noise.keras_layer` on first use (that module imports Keras).
_FROM_LAYER = ("NoiseLayer", "LAYER_KINDS")


def __getattr__(name):
    if name in _FROM_LAYER:
        from . import keras_layer

        return getattr(keras_layer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FROM_LAYER))


__all__ = [
    "ISO_A100", "ISO_B100", "ISO_CHROMA_RATIO", "LAYER_KINDS", "LUMA_WEIGHTS", "MIXED_KINDS", "MIXED_RANGES",
    "NoiseKind", "NoiseLayer", "NoiseSpec", "Param", "TF_NATIVE_KINDS",
    "apply", "as_rng", "available", "check_images", "describe", "draw", "draw_int", "estimate_sigma",
    "gaussian", "iso", "jpeg", "kind_function", "mixed", "mixed_plan", "numpy_seed_from_tf", "parse",
    "poisson", "register", "salt_and_pepper", "scribbles", "speckle", "tf_apply", "tf_element_seed",
    "tf_noisy_pairs",
]
