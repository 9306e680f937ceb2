"""Training on noisy images only: the Neighbor2Neighbor objective (Huang et al., CVPR 2021).

A random neighbour sub-sampler splits each noisy patch ``y`` into two smaller images: in every
``s x s`` cell (``stride`` s, 2 in the paper) it picks one pixel at random for ``g1(y)`` and, for
``g2(y)``, one ``distance`` pixels from it along its row or column (1 in the paper: a pixel that
shares an edge with it). Their clean content is nearly the same and, for noise independent
between pixels that far apart, their noises are independent, so the network ``f`` is trained to
map one onto the other:

``|f(g1(y)) - g2(y)|^2 + gamma |f(g1(y)) - g2(y) - (g1(f(y)) - g2(f(y)))|^2``

with ``f(y)`` (the network on the whole patch) held constant (no gradient). The second term
corrects for the two sub-images being ``distance`` pixels apart. No pixel's own noisy value is
ever its target: ``distance >= 1``. ``gamma`` is :data:`GAMMA`.

Options ride in the objective string, as noise specs do: ``neighbor2neighbor:stride=4,distance=2``;
``channels=luminance`` (opponent-space models, ``dncnn_opponent``) trains the shared gray network
on the opponent luminance only, where camera noise (``iso:``) is white; its chroma noise is
low-frequency, so neighbouring chroma pixels share it and the objective would teach the network
to keep it (see ``dncnn_opponent``'s ``chroma_stride`` for the chroma channels instead).

Wiring (:func:`prepare`): the training batches give the network the noisy patch only; the loss's
``y_true`` is that same noisy patch with one more channel, the sub-sampler's choice per cell
(drawn from ``(seed, epoch, batch index)``, so a resumed run sees the same choices). The model
trained, saved and validated is the plain denoiser; validation may use clean images where they
exist. Built from ``keras.ops`` (any backend).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

#: Training objectives of :class:`denoise_tf.config.TrainConfig` (``objective``).
OBJECTIVES = ("supervised", "neighbor2neighbor")
#: Options of ``neighbor2neighbor`` and their defaults (the paper's sampler, every channel).
OPTIONS = {"stride": 2, "distance": 1, "channels": "all"}
#: Values of the ``channels`` option.
CHANNELS = ("all", "luminance")
#: Weight of the regularizer (the paper ramps it from 0 to 2 over training; its mean, fixed here,
#: so that every epoch, resumed or not, has the same loss).
GAMMA = 1.0
#: Seed offset of the sub-sampler choices (apart from the patch and noise draws of the datasets).
STREAM = 11


def cell_choices(stride: int = 2, distance: int = 1) -> tuple:
    """The ``(g1, g2)`` pixel pairs of an ``stride x stride`` cell, positions ``stride * row + col``.

    Every ordered pair ``distance`` apart along a row or a column, in increasing order;
    ``cell_choices(2, 1)`` is the paper's 8 (g2 sharing an edge with g1).
    """
    cells = [(r, c) for r in range(stride) for c in range(stride)]
    pairs = [
        (stride * a[0] + a[1], stride * b[0] + b[1])
        for a, b in itertools.permutations(cells, 2)
        if sorted((abs(a[0] - b[0]), abs(a[1] - b[1]))) == [0, distance]
    ]
    return tuple(sorted(pairs))


#: The paper's 8 (g1, g2) choices of a 2x2 cell: pixel positions ``2 * row + col``, g2 sharing an edge with g1.
CHOICES = cell_choices(2, 1)


def parse_objective(objective: str) -> tuple[str, dict]:
    """``(name, options)`` of an objective string ``name[:key=value,...]`` (options: :data:`OPTIONS`).

    Raises
    ------
    ValueError
        Unknown name or option, a value of the wrong kind, or ``distance`` not in ``[1, stride)``.
    """
    name, _, rest = str(objective).partition(":")
    if name not in OBJECTIVES:
        raise ValueError(f"config key 'objective' must be one of {OBJECTIVES} (with options name:key=value,...), got {objective!r}")
    if name == "supervised":
        if rest:
            raise ValueError(f"config key 'objective': supervised takes no options, got {objective!r}")
        return name, {}
    options = dict(OPTIONS)
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in OPTIONS:
            raise ValueError(f"config key 'objective': option must be one of {sorted(OPTIONS)} as key=value, got {item!r}")
        if key == "channels":
            options[key] = value.strip()
        else:
            try:
                options[key] = int(value)
            except ValueError:
                raise ValueError(f"config key 'objective': {key} must be an integer, got {value!r}") from None
    if options["stride"] < 2 or not 1 <= options["distance"] < options["stride"]:
        raise ValueError(
            f"config key 'objective': needs stride >= 2 and 1 <= distance < stride, got {objective!r}"
        )
    if options["channels"] not in CHANNELS:
        raise ValueError(f"config key 'objective': channels must be one of {CHANNELS}, got {objective!r}")
    return name, options


def check_objective(objective: str) -> str:
    """``objective`` if :func:`parse_objective` accepts it, else ``ValueError`` naming the key."""
    parse_objective(objective)
    return objective


def draw_choices(rng: np.random.Generator, batch: int, height: int, width: int, stride: int = 2, distance: int = 1) -> np.ndarray:
    """Sub-sampler choices ``(batch, height // stride, width // stride)``: indices into :func:`cell_choices`."""
    count = len(cell_choices(stride, distance))
    return rng.integers(0, count, size=(batch, height // stride, width // stride)).astype(np.int32)


def subsample(batch, choices, stride: int = 2, distance: int = 1):
    """``g1(batch), g2(batch)``: ``(N, H//s, W//s, C)`` from ``(N, H, W, C)`` and choices ``(N, H//s, W//s)``.

    ``s`` is ``stride``; keras ops (differentiable in ``batch``); sides not a multiple of ``s``
    drop their last rows or columns.
    """
    from keras import ops

    s = int(stride)
    pairs = cell_choices(s, distance)
    channels = int(batch.shape[-1])  # static: the model's channels
    height, width = ops.shape(batch)[1] // s, ops.shape(batch)[2] // s
    batch = batch[:, : s * height, : s * width, :]
    cells = ops.reshape(batch, (-1, height, s, width, s, channels))
    cells = ops.reshape(ops.transpose(cells, (0, 1, 3, 2, 4, 5)), (-1, height, width, s * s, channels))
    table = np.eye(s * s, dtype=np.float32)
    first = ops.take(table[[a for a, _ in pairs]], choices, axis=0)  # (N, h, w, s*s) one-hot
    second = ops.take(table[[b for _, b in pairs]], choices, axis=0)
    pick = lambda onehot: ops.sum(cells * ops.cast(onehot, cells.dtype)[..., None], axis=3)  # noqa: E731
    return pick(first), pick(second)


def neighbor2neighbor_loss(model, gamma: float = GAMMA, stride: int = 2, distance: int = 1, channels: str = "all"):
    """A Keras loss ``(y_true, y_pred)`` training ``model`` with Neighbor2Neighbor.

    ``y_true`` is ``(N, H, W, C + 1)``: the noisy patch and, in the last channel, the choices
    (:func:`draw_choices`, repeated to full size); ``y_pred`` is ``model(noisy)``, used without
    gradient. ``channels="luminance"``: ``model`` is a 3-channel ``dncnn_opponent`` and the loss
    trains its shared gray network on the opponent luminance (the RGB mean) of the patch; the
    luminance of ``y_pred`` is that network's output on it. Returns per-patch losses ``(N,)``.
    """
    import keras
    from keras import ops

    network = model
    if channels == "luminance":
        from .models.dncnn import opponent_luminance

        network = opponent_luminance(model)
        if network is None:
            raise ValueError("objective option channels=luminance needs a 3-channel dncnn_opponent model")
    s = int(stride)

    class Neighbor2Neighbor(keras.losses.Loss):
        def __init__(self):
            super().__init__(name="neighbor2neighbor")

        def call(self, y_true, y_pred):
            noisy = y_true[..., :-1]
            whole = ops.stop_gradient(ops.cast(y_pred, "float32"))
            if channels == "luminance":
                noisy, whole = ops.mean(noisy, axis=-1, keepdims=True), ops.mean(whole, axis=-1, keepdims=True)
            choices = ops.cast(y_true[:, ::s, ::s, -1], "int32")
            first, second = subsample(noisy, choices, s, distance)
            choices = choices[:, : ops.shape(first)[1], : ops.shape(first)[2]]
            out = ops.cast(network(first, training=True), "float32")
            whole_first, whole_second = subsample(whole, choices, s, distance)
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
        def __init__(self, dataset, seed: int = 0, stride: int = 2, distance: int = 1):
            super().__init__(
                workers=dataset.workers, use_multiprocessing=dataset.use_multiprocessing, max_queue_size=dataset.max_queue_size
            )
            self.dataset = dataset
            self.seed = int(seed)
            self.stride, self.distance = int(stride), int(distance)

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
            s = self.stride
            choices = draw_choices(rng, *noisy.shape[:3], s, self.distance)
            full = np.zeros(noisy.shape[:3] + (1,), np.float32)
            full[:, : s * choices.shape[1], : s * choices.shape[2], 0] = np.repeat(np.repeat(choices, s, axis=1), s, axis=2)
            return noisy, np.concatenate([noisy, full], axis=-1)

        def __getitem__(self, index: int):
            return self.batch(self.epoch, index)

        def on_epoch_end(self):
            self.dataset.on_epoch_end()

    return NoisyOnly


def noisy_only(dataset, seed: int = 0, stride: int = 2, distance: int = 1):
    """Batches of a ``(noisy, clean)`` dataset with the clean half dropped: ``(noisy, noisy + choices)``.

    A :class:`keras.utils.PyDataset` over the seeded datasets of :mod:`denoise_tf.pipeline`
    (``epoch`` and ``on_epoch_end`` pass through; ``batch(epoch, index)`` as theirs). The
    choices of batch ``index`` (one per ``stride x stride`` cell, repeated over it) come from
    ``default_rng([seed, epoch, index, STREAM])``.
    """
    return _noisy_only_class()(dataset, seed, stride, distance)


def prepare(objective: str, model, dataset, loss, seed: int = 0):
    """The ``(dataset, loss)`` a run of ``objective`` trains ``model`` with.

    ``supervised`` returns them unchanged; ``neighbor2neighbor[:options]`` wraps ``dataset`` in
    :func:`noisy_only` and returns :func:`neighbor2neighbor_loss` with the options of
    :func:`parse_objective` (``loss`` is unused: the objective is its own loss).

    Raises
    ------
    ValueError
        A self-supervised objective with a model that takes a noise level, or a dataset that
        is not one of the seeded NumPy datasets (the ``tf`` pipeline); ``channels=luminance``
        with a model other than a 3-channel ``dncnn_opponent``.
    """
    name, options = parse_objective(objective)
    if name == "supervised":
        return dataset, loss
    if len(model.inputs) != 1:
        raise ValueError(f"objective {objective}: models that take a noise level (FFDNet) are not supported")
    if not hasattr(dataset, "batch") or not hasattr(dataset, "epoch"):
        raise ValueError(f"objective {objective} needs the numpy pipeline (config key 'pipeline': numpy)")
    stride, distance = options["stride"], options["distance"]
    return noisy_only(dataset, seed, stride, distance), neighbor2neighbor_loss(model, GAMMA, stride, distance, options["channels"])
