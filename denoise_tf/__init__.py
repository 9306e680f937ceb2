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
