"""BatchNorm folding: a copy of a Keras model with every ``Conv -> BatchNormalization`` pair merged.

:func:`fold_batchnorm` gives the same outputs (within 1e-5) with fewer layers, which the exports
(:mod:`denoise_tf.export`) and the bfloat16 copy (:mod:`denoise_tf.lowprecision`) start from;
:func:`has_batchnorm` says whether there is anything to fold.
"""

from __future__ import annotations

import numpy as np


def _conv_classes():
    from keras import layers as klayers

    return (klayers.Conv1D, klayers.Conv2D, klayers.Conv3D)


def _history_op(tensor):
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history[0]


def _foldable(model) -> tuple[dict, list]:
    """``({conv name: bn layer}, [names of BN layers that cannot be folded])``."""
    import keras
    from keras import layers as klayers

    convs = _conv_classes()
    bns = [layer for layer in model.layers if isinstance(layer, klayers.BatchNormalization)]
    if not bns:
        return {}, []

    def conv_ok(layer) -> bool:
        return (
            isinstance(layer, convs)
            and getattr(layer, "data_format", "channels_last") == "channels_last"
            and layer.activation in (keras.activations.linear, None)
        )

    def axis_ok(bn, rank) -> bool:
        axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
        return axis is not None and axis in (-1, rank - 1)

    pairs, bad = {}, []
    if isinstance(model, keras.Sequential):
        layers = model.layers
        for i, layer in enumerate(layers):
            if not isinstance(layer, klayers.BatchNormalization):
                continue
            prev = layers[i - 1] if i > 0 else None
            if prev is not None and conv_ok(prev) and axis_ok(layer, len(prev.kernel.shape)):
                pairs[prev.name] = layer
            else:
                bad.append(layer.name)
        return pairs, bad

    consumers: dict[int, int] = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                op = _history_op(tensor)
                consumers[id(op)] = consumers.get(id(op), 0) + 1
    for tensor in model.outputs:
        op = _history_op(tensor)
        consumers[id(op)] = consumers.get(id(op), 0) + 1
    for bn in bns:
        nodes = bn._inbound_nodes
        producer = _history_op(nodes[0].input_tensors[0]) if len(nodes) == 1 and nodes[0].input_tensors else None
        if (
            producer is not None
            and conv_ok(producer)
            and len(producer._inbound_nodes) == 1
            and consumers.get(id(producer), 0) == 1
            and axis_ok(bn, len(nodes[0].input_tensors[0].shape))
        ):
            pairs[producer.name] = bn
        else:
            bad.append(bn.name)
    return pairs, bad


def _folded_weights(conv, bn) -> list[np.ndarray]:
    kernel = np.asarray(conv.kernel, dtype=np.float64)
    bias = np.asarray(conv.bias, dtype=np.float64) if conv.use_bias else np.zeros(kernel.shape[-1])
    gamma = np.asarray(bn.gamma, dtype=np.float64) if bn.scale else 1.0
    beta = np.asarray(bn.beta, dtype=np.float64) if bn.center else 0.0
    mean = np.asarray(bn.moving_mean, dtype=np.float64)
    var = np.asarray(bn.moving_variance, dtype=np.float64)
    scale = gamma / np.sqrt(var + bn.epsilon)
    return [(kernel * scale).astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)]


def fold_batchnorm(model, strict: bool = True):
    """A new model equal to ``model`` with every ``Conv -> BatchNormalization`` pair merged into one conv.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential (inference-mode BN: the moving mean and variance are used).
    strict : bool
        Raise if a BN layer cannot be folded (it does not directly follow a linear conv whose
        output feeds only that BN); False keeps such layers unchanged.

    Returns
    -------
    keras.Model
        Same inputs, outputs and name; folded convs get a bias, the BN layers are gone (an
        ``Identity`` layer stands in their place in a Sequential model). The input model is
        not changed. A model without BN comes back as a plain copy.

    Raises
    ------
    ValueError
        ``strict`` and a BN layer that cannot be folded (named in the message).
    """
    import keras
    from keras import layers as klayers

    pairs, bad = _foldable(model)
    top = {id(layer) for layer in model.layers}
    bad += [
        layer.name
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, klayers.BatchNormalization) and id(layer) not in top
    ]  # BN inside a nested model: not folded
    if bad and strict:
        raise ValueError(
            f"fold_batchnorm: BatchNormalization layer(s) {bad} of model {model.name!r} do not directly follow a "
            "linear (no activation), channels-last Conv1D/2D/3D used only by that BN, in the model itself (not a "
            "nested model); expected conv -> BN pairs "
            "(pass strict=False to keep these layers unfolded)"
        )
    bn_names = {bn.name for bn in pairs.values()}
    sequential = isinstance(model, keras.Sequential)

    def clone_function(layer):
        if layer.name in pairs:
            config = layer.get_config()
            config["use_bias"] = True
            config["bias_initializer"] = "zeros"
            return layer.__class__.from_config(config)
        if sequential and layer.name in bn_names:
            return keras.layers.Identity(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    options = {"clone_function": clone_function}
    if not sequential:

        def call_function(layer, *args, **kwargs):
            if layer.name in bn_names:
                return args[0]
            return layer(*args, **kwargs)

        options["call_function"] = call_function
    folded = keras.models.clone_model(model, **options)
    for layer in model.layers:
        if layer.name in bn_names or not layer.weights:
            continue
        target = folded.get_layer(layer.name)
        if layer.name in pairs:
            target.set_weights(_folded_weights(layer, pairs[layer.name]))
        else:
            target.set_weights(layer.get_weights())
    return folded


def has_batchnorm(model) -> bool:
    """True if ``model`` (or a nested model) holds a BatchNormalization layer."""
    from keras import layers as klayers

    return any(isinstance(layer, klayers.BatchNormalization) for layer in model._flatten_layers(include_self=False))


# --------------------------------------------------------------------------------------------
# Export
