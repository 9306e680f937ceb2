"""Training on noisy images only: the Neighbor2Neighbor objective (Huang et al., CVPR 2021).

A random neighbour sub-sampler splits each noisy patch ``y`` into two half-size images: in every
2x2 cell it picks one pixel at random for ``g1(y)`` and one of the two pixels that share an edge
with it for ``g2(y)``. Their clean content is nearly the same and, for pixel-independent noise,
their noises are independent, so the network ``f`` is trained to map one onto the other:

``|f(g1(y)) - g2(y)|^2 + gamma |f(g1(y)) - g2(y) - (g1(f(y)) - g2(f(y)))|^2``

with ``f(y)`` (the network on the whole patch) held constant (no gradient). The second term
corrects for the two halves being one pixel apart. No pixel's own noisy value is ever its target:
``g1`` and ``g2`` take different pixels of every cell. ``gamma`` is :data:`GAMMA`.

Wiring (:func:`prepare`): the training batches give the network the noisy patch only; the loss's
``y_true`` is that same noisy patch with one more channel, the sub-sampler's choice per cell
(drawn from ``(seed, epoch, batch index)``, so a resumed run sees the same choices). The model
trained, saved and validated is the plain denoiser; validation may use clean images where they
exist. Built from ``keras.ops`` (any backend).
"""

from __future__ import annotations

import functools

import numpy as np

#: Training objectives of :class:`denoise_tf.config.TrainConfig` (``objective``).
OBJECTIVES = ("supervised", "neighbor2neighbor")
#: Weight of the regularizer (the paper ramps it from 0 to 2 over training; its mean, fixed here,
#: so that every epoch, resumed or not, has the same loss).
GAMMA = 1.0
#: The 8 (g1, g2) choices of a 2x2 cell: pixel positions ``2 * row + col``, g2 sharing an edge with g1.
CHOICES = ((0, 1), (0, 2), (1, 0), (1, 3), (2, 0), (2, 3), (3, 1), (3, 2))
#: Seed offset of the sub-sampler choices (apart from the patch and noise draws of the datasets).
STREAM = 11


def check_objective(objective: str) -> str:
    """``objective`` if it is one of :data:`OBJECTIVES`, else ``ValueError`` naming the key."""
    if objective not in OBJECTIVES:
        raise ValueError(f"config key 'objective' must be one of {OBJECTIVES}, got {objective!r}")
    return objective


def draw_choices(rng: np.random.Generator, batch: int, height: int, width: int) -> np.ndarray:
    """Sub-sampler choices ``(batch, height // 2, width // 2)`` in 0-7 (indices into :data:`CHOICES`)."""
    return rng.integers(0, len(CHOICES), size=(batch, height // 2, width // 2)).astype(np.int32)


def subsample(batch, choices):
    """``g1(batch), g2(batch)``: ``(N, H//2, W//2, C)`` from ``(N, H, W, C)`` and choices ``(N, H//2, W//2)``.

    keras ops (differentiable in ``batch``); odd sides drop their last row or column.
    """
    from keras import ops

    channels = int(batch.shape[-1])  # static: the model's channels
    height, width = ops.shape(batch)[1] // 2, ops.shape(batch)[2] // 2
    batch = batch[:, : 2 * height, : 2 * width, :]
    cells = ops.reshape(batch, (-1, height, 2, width, 2, channels))
    cells = ops.reshape(ops.transpose(cells, (0, 1, 3, 2, 4, 5)), (-1, height, width, 4, channels))
    table = np.eye(4, dtype=np.float32)
    first = ops.take(table[[a for a, _ in CHOICES]], choices, axis=0)  # (N, h, w, 4) one-hot
    second = ops.take(table[[b for _, b in CHOICES]], choices, axis=0)
    pick = lambda onehot: ops.sum(cells * ops.cast(onehot, cells.dtype)[..., None], axis=3)  # noqa: E731
    return pick(first), pick(second)


def neighbor2neighbor_loss(model, gamma: float = GAMMA):
    """A Keras loss ``(y_true, y_pred)`` training ``model`` with Neighbor2Neighbor.

    ``y_true`` is ``(N, H, W, C + 1)``: the noisy patch and, in the last channel, the choices
    (:func:`draw_choices`, repeated to full size); ``y_pred`` is ``model(noisy)``, used without
    gradient. Returns per-patch losses ``(N,)``.
    """
    import keras
    from keras import ops

    class Neighbor2Neighbor(keras.losses.Loss):
        def __init__(self):
            super().__init__(name="neighbor2neighbor")

        def call(self, y_true, y_pred):
            noisy = y_true[..., :-1]
            choices = ops.cast(y_true[:, ::2, ::2, -1], "int32")
            first, second = subsample(noisy, choices)
            choices = choices[:, : ops.shape(first)[1], : ops.shape(first)[2]]
            out = ops.cast(model(first, training=True), "float32")
            whole = ops.stop_gradient(ops.cast(y_pred, "float32"))
            whole_first, whole_second = subsample(whole, choices)
            gap = out - second
            residual = ops.mean(ops.square(gap), axis=(1, 2, 3))
            regularizer = ops.mean(ops.square(gap - (whole_first - whole_second)), axis=(1, 2, 3))
            return residual + gamma * regularizer

    return Neighbor2Neighbor()


@functools.cache
def _noisy_only_class():
    """The :class:`keras.utils.PyDataset` subclass behind :func:`noisy_only` (keras imported on first use)."""
    import keras

    class NoisyOnly(keras.utils.PyDataset):
        def __init__(self, dataset, seed: int = 0):
            super().__init__(
                workers=dataset.workers, use_multiprocessing=dataset.use_multiprocessing, max_queue_size=dataset.max_queue_size
            )
            self.dataset = dataset
            self.seed = int(seed)

        @property
        def epoch(self) -> int:
            return self.dataset.epoch

        @epoch.setter
        def epoch(self, value: int) -> None:
            self.dataset.epoch = value

        def __len__(self) -> int:
            return len(self.dataset)

        @property
        def num_batches(self):
            return len(self.dataset)

        def batch(self, epoch: int, index: int):
            """``(noisy, y_true)`` of batch ``index`` of ``epoch``: no clean image in either."""
            noisy, _ = self.dataset.batch(epoch, index)
            if isinstance(noisy, (tuple, list)):
                raise ValueError("objective neighbor2neighbor: models that take a noise level (FFDNet) are not supported")
            noisy = np.asarray(noisy, dtype=np.float32)
            rng = np.random.default_rng([self.seed, epoch, index, STREAM])
            choices = draw_choices(rng, *noisy.shape[:3])
            full = np.zeros(noisy.shape[:3] + (1,), np.float32)
            full[:, : 2 * choices.shape[1], : 2 * choices.shape[2], 0] = np.repeat(np.repeat(choices, 2, axis=1), 2, axis=2)
            return noisy, np.concatenate([noisy, full], axis=-1)

        def __getitem__(self, index: int):
            return self.batch(self.epoch, index)

        def on_epoch_end(self):
            self.dataset.on_epoch_end()

    return NoisyOnly


def noisy_only(dataset, seed: int = 0):
    """Batches of a ``(noisy, clean)`` dataset with the clean half dropped: ``(noisy, noisy + choices)``.

    A :class:`keras.utils.PyDataset` over the seeded datasets of :mod:`denoise_tf.pipeline`
    (``epoch`` and ``on_epoch_end`` pass through; ``batch(epoch, index)`` as theirs). The
    choices of batch ``index`` come from ``default_rng([seed, epoch, index, STREAM])``.
    """
    return _noisy_only_class()(dataset, seed)


def prepare(objective: str, model, dataset, loss, seed: int = 0):
    """The ``(dataset, loss)`` a run of ``objective`` trains ``model`` with.

    ``supervised`` returns them unchanged; ``neighbor2neighbor`` wraps ``dataset`` in
    :func:`noisy_only` and returns :func:`neighbor2neighbor_loss` (``loss`` is unused: the
    objective is its own loss).

    Raises
    ------
    ValueError
        A self-supervised objective with a model that takes a noise level, or a dataset that
        is not one of the seeded NumPy datasets (the ``tf`` pipeline).
    """
    check_objective(objective)
    if objective == "supervised":
        return dataset, loss
    if len(model.inputs) != 1:
        raise ValueError(f"objective {objective}: models that take a noise level (FFDNet) are not supported")
    if not hasattr(dataset, "batch") or not hasattr(dataset, "epoch"):
        raise ValueError(f"objective {objective} needs the numpy pipeline (config key 'pipeline': numpy)")
    return noisy_only(dataset, seed), neighbor2neighbor_loss(model)
