"""The TensorFlow noise path: stateless random ops for ``tf.data`` and ``tf.function``.

TensorFlow is imported inside the functions, so ``import denoise_tf.noise`` stays free of it.
Kinds in :data:`TF_NATIVE_KINDS` run as TensorFlow ops; the others run the NumPy
:func:`~denoise_tf.noise.kinds.apply` through ``tf.numpy_function`` with a NumPy seed derived
from the TF seed (deterministic too, but CPU-only and holding the GIL). Images are float32 in
``[0, 1]``, ``(H, W, C)`` or ``(N, H, W, C)`` with a static rank.
"""

from __future__ import annotations

import numpy as np

from ..images import check_dtype, check_shape
from .kinds import apply, check_images
from .spec import parse

#: Kinds with a native TensorFlow implementation in :func:`tf_apply`; the others run the NumPy
#: path through ``tf.numpy_function``.
TF_NATIVE_KINDS = ("gaussian", "poisson", "salt_and_pepper", "speckle")


def _tf_check_images(images):
    """``images`` as a float32 tensor, checked like :func:`~denoise_tf.noise.kinds.check_images` (static shape)."""
    import tensorflow as tf

    if isinstance(images, np.ndarray):
        check_images(images)
    x = tf.convert_to_tensor(images)
    if not x.dtype.is_floating:
        check_dtype(x.dtype.as_numpy_dtype, "images")  # raises: integer, bool or other dtypes
    if x.shape.rank is None:
        raise ValueError("images must be (H, W, C) or (N, H, W, C), got a tensor of unknown rank")
    check_shape(x.shape.as_list(), "images")
    return tf.cast(x, tf.float32)


def _tf_seed(seed):
    """A shape-``[2]`` int64 seed tensor from an int, a pair or a tensor."""
    import tensorflow as tf

    if seed is None:
        raise ValueError("seed must be an int or a shape-[2] integer tensor for the TensorFlow path, got None")
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"seed must be an integer (or a shape-[2] integer tensor), got {seed.dtype.name}")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0, tf.int64)])
    if seed.shape.as_list() != [2]:
        raise ValueError(f"seed must be a scalar or have shape [2], got shape {seed.shape}")
    return seed


def _tf_draw(value, n, seed):
    import tensorflow as tf

    if isinstance(value, tuple):
        return tf.random.stateless_uniform([n], seed, minval=float(value[0]), maxval=float(value[1]))
    return tf.fill([n], tf.constant(float(value), tf.float32))


def _tf_gaussian(x, seeds, sigma=25.0, per_channel=True, clip=False):
    import tensorflow as tf

    shape = tf.shape(x)
    sigmas = _tf_draw(sigma, shape[0], seeds[0]) / 255.0
    noise_shape = shape if per_channel else tf.concat([shape[:3], [1]], axis=0)
    noisy = x + tf.random.stateless_normal(noise_shape, seeds[1]) * sigmas[:, None, None, None]
    if clip:
        noisy = tf.clip_by_value(noisy, 0.0, 1.0)
    return noisy, sigmas


def _tf_poisson(x, seeds, peak=30.0):
    import tensorflow as tf

    peaks = _tf_draw(peak, tf.shape(x)[0], seeds[0])[:, None, None, None]
    lam = tf.maximum(x, 0.0) * peaks
    noisy = tf.random.stateless_poisson(tf.shape(x), seeds[1], lam=lam, dtype=tf.float32) / peaks
    level = tf.sqrt(tf.maximum(tf.reduce_mean(x, axis=[1, 2, 3]), 1e-6) / peaks[:, 0, 0, 0])
    return tf.clip_by_value(noisy, 0.0, 1.0), level


def _tf_salt_and_pepper(x, seeds, amount=0.05, salt_ratio=0.5):
    import tensorflow as tf

    shape = tf.shape(x)
    amounts = _tf_draw(amount, shape[0], seeds[0])[:, None, None, None]
    u = tf.random.stateless_uniform(tf.concat([shape[:3], [1]], axis=0), seeds[1])
    salt = u < amounts * salt_ratio
    pepper = (u >= amounts * salt_ratio) & (u < amounts)
    noisy = tf.where(salt, 1.0, tf.where(pepper, 0.0, x))
    return noisy, amounts[:, 0, 0, 0]


def _tf_speckle(x, seeds, sigma=25.0):
    import tensorflow as tf

    sigmas = _tf_draw(sigma, tf.shape(x)[0], seeds[0]) / 255.0
    noise = tf.random.stateless_normal(tf.shape(x), seeds[1]) * sigmas[:, None, None, None]
    return tf.clip_by_value(x * (1.0 + noise), 0.0, 1.0), sigmas


_TF_KINDS = {
    "gaussian": _tf_gaussian,
    "poisson": _tf_poisson,
    "salt_and_pepper": _tf_salt_and_pepper,
    "speckle": _tf_speckle,
}


def numpy_seed_from_tf(seed) -> np.random.Generator:
    """The NumPy generator the ``tf.numpy_function`` fallback uses for a TF seed pair."""
    values = [int(v) & 0xFFFFFFFFFFFFFFFF for v in np.asarray(seed).ravel()]
    return np.random.default_rng([0x5EED, *values])


def tf_apply(images, spec, seed, return_level: bool = False):
    """Add noise described by ``spec`` with TensorFlow ops (for ``tf.data`` and ``tf.function``).

    Stateless random ops make the result a pure function of ``(images, spec, seed)``: the same
    seed gives the same noise in eager mode, in a ``tf.function`` and inside
    ``tf.data.Dataset.map(..., num_parallel_calls=AUTOTUNE)``, whatever the thread scheduling.
    Give each dataset element its own seed (see :func:`tf_element_seed`, :func:`tf_noisy_pairs`).

    Native kinds are :data:`TF_NATIVE_KINDS` (gaussian fixed and blind, poisson, salt_and_pepper,
    speckle); the others (iso, scribbles, jpeg, mixed) call the NumPy :func:`apply` through
    ``tf.numpy_function`` with the generator :func:`numpy_seed_from_tf` derives from ``seed``.
    Both paths follow the same model and level definitions as :func:`apply`, so statistics agree;
    the values do not.

    Parameters
    ----------
    images : tf.Tensor or ndarray
        ``(H, W, C)`` or ``(N, H, W, C)`` float in ``[0, 1]``; the rank must be known statically.
    spec : str, dict or NoiseSpec
        See :func:`parse`.
    seed : int or shape-``[2]`` integer tensor
        An int ``s`` means ``[s, 0]``.
    return_level : bool
        Also return the noise level per image (0-1 scale, ``(N,)`` or a scalar).

    Returns
    -------
    noisy : tf.Tensor, float32, same shape as ``images``
    level : tf.Tensor, float32, only when ``return_level``
    """
    import tensorflow as tf

    spec = parse(spec)
    x = _tf_check_images(images)
    seed = _tf_seed(seed)
    single = x.shape.rank == 3
    batch = x[None] if single else x
    function = _TF_KINDS.get(spec.kind)
    if function is not None:
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        noisy, level = function(batch, seeds, **spec.params)
    else:

        def run(images_np, seed_np):
            out, lev = apply(images_np, spec, seed=numpy_seed_from_tf(seed_np), return_level=True)
            return out.astype(np.float32), np.asarray(lev, dtype=np.float32).reshape(-1)

        noisy, level = tf.numpy_function(run, [batch, seed], [tf.float32, tf.float32], stateful=False)
        noisy.set_shape(batch.shape)
        level.set_shape(batch.shape[:1])
    if single:
        noisy, level = noisy[0], level[0]
    return (noisy, level) if return_level else noisy


def tf_element_seed(seed, index):
    """A per-element seed pair: ``seed`` (int or pair) folded with an element ``index`` (int64)."""
    import tensorflow as tf

    return tf.random.experimental.stateless_fold_in(_tf_seed(seed), tf.cast(index, tf.int64))


def tf_noisy_pairs(dataset, spec, seed: int = 0, with_level: bool = False, num_parallel_calls=None, deterministic=None):
    """Map a ``tf.data.Dataset`` of clean images to ``(noisy, clean)`` pairs, reproducibly.

    Elements are enumerated and element ``i`` gets noise from ``tf_element_seed(seed, i)``, so
    the pairs do not depend on parallelism or scheduling (with ``deterministic=False`` only
    their order may change). Repeat *after* this map to get the same noise every epoch, or map
    a dataset that carries an epoch counter for fresh noise.

    Parameters
    ----------
    dataset : tf.data.Dataset
        Elements are single images ``(H, W, C)`` or batches ``(N, H, W, C)``, float in ``[0, 1]``.
    spec : str, dict or NoiseSpec
        See :func:`parse`.
    seed : int
        Base seed.
    with_level : bool
        Inputs are ``(noisy, level)`` (``level`` a scalar per image, or ``(N, 1)`` per batch).
    num_parallel_calls : int or None
        Defaults to ``tf.data.AUTOTUNE``.
    deterministic : bool or None
        Passed to ``Dataset.map``.

    Returns
    -------
    tf.data.Dataset
        ``(noisy, clean)`` or ``((noisy, level), clean)``.
    """
    import tensorflow as tf

    spec = parse(spec)
    base = _tf_seed(int(seed))
    rank = dataset.element_spec.shape.rank

    def add_noise(index, clean):
        noisy, level = tf_apply(clean, spec, tf_element_seed(base, index), return_level=True)
        if not with_level:
            return noisy, clean
        if rank == 4:
            level = level[:, None]
        return (noisy, level), clean

    calls = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
    return dataset.enumerate().map(add_noise, num_parallel_calls=calls, deterministic=deterministic)
