"""The bfloat16 inference path: a model's copy that computes its inner layers in bfloat16.

Where the CPU has bfloat16 instructions (``avx512_bf16`` / ``amx_bf16``,
:func:`denoise_tf.hardware.cpu_has_bf16`), TensorFlow's oneDNN kernels run bfloat16
convolutions on them (AMX tiles where the CPU has them), several times faster than float32.
:func:`bf16_model` makes a copy of a Keras model with BatchNorm folded into the convolutions
(:func:`denoise_tf.batchnorm.fold_batchnorm`) and Keras' ``mixed_bfloat16`` dtype policy on every
layer after the first convolution up to the last :data:`FLOAT32_CONVS` convolutions
(:func:`inner_layers`). The rest stays float32:

* the image: the layers before the first convolution (pixel unshuffle, the level map, the
  opponent transform) and the first convolution itself, which reads the image. Rounded to
  bfloat16's 8 significant bits, a pixel in [0.5, 1) would move by up to half of 1/256, and
  that rounding error passes through ``input - noise`` into the output; the first
  convolution has one to five input channels, a small part of the work;
* the last two convolutions and everything after them (the residual subtraction, the inverse
  transforms): the last convolution turns 64 feature maps into the noise estimate, and those
  features have rare values far above their mean, whose rounding reaches the output
  unattenuated.

``benchmarks/results_lowprecision.md`` measures the PSNR cost of each choice (the image
rounded to bfloat16, only the last convolution in float32) beside the path. Weights stay
float32 variables; each bfloat16 convolution casts them.

:func:`load` wraps that copy as a :class:`LowPrecisionModel`, which
:class:`denoise_tf.inference.NeuralDenoiser` runs like an export (``exported=``); it is the
``"bf16"`` inference path of :data:`denoise_tf.export.BACKENDS`.

Which shipped models take it on their own (``backend="auto"``, for ``denoise`` and the web page
only; ``evaluate`` always runs float32) is decided from a measurement:
``denoise_tf/weights/lowprecision.json`` holds, per shipped model, the sha256 of the weights file
measured, the BSD68 PSNR at sigma 25 of the float32 and the bfloat16 path (the evaluation
protocol, all 68 images; CBSD68 too for a colour model), and the time of both on one 512x512
image, with the command that measured them (``benchmarks/bench_lowprecision.py``).
:func:`adopted` reads it: a model takes the path when its weights still have that sha256, its
PSNR cost is under :data:`MAX_PSNR_COST_DB` and the bfloat16 path was faster. Weights shipped
again lose it until they are measured again. The PSNR cost is a property of the weights, not of
the machine, and measuring it takes the test sets and minutes, so it is recorded once; what
depends on the machine, whether it has the instructions, is probed at run time
(:func:`unavailable`).
"""

from __future__ import annotations

import json
import threading
import weakref
from pathlib import Path

#: Keras dtype policy of the inner layers (:func:`inner_layers`).
POLICY = "mixed_bfloat16"
#: How many of the last convolutions (on the longest path to the output) stay float32.
FLOAT32_CONVS = 2
#: The measurements :func:`adopted` reads (written by ``benchmarks/bench_lowprecision.py --write-registry``).
REGISTRY_FILE = Path(__file__).resolve().parent / "weights" / "lowprecision.json"
#: Largest BSD68 (sigma 25) PSNR loss, in dB, of a model that takes the path under ``auto``.
MAX_PSNR_COST_DB = 0.02
#: Rounding of bfloat16: 8 significant bits, a relative step of 2**-8 (half of it when rounding).
EPSILON = 2.0**-8


def unavailable() -> str | None:
    """Why the bfloat16 path cannot run here (a sentence), or None when it can.

    It needs Keras on the TensorFlow backend (oneDNN's bfloat16 kernels) and a CPU with
    bfloat16 instructions: elsewhere bfloat16 is emulated, slower than float32.
    """
    from .hardware import cpu_has_bf16, tensorflow_unavailable

    reason = tensorflow_unavailable("the bf16 path")
    if reason is not None:
        return reason
    if not cpu_has_bf16():
        return (
            "this CPU has no bfloat16 instructions (avx512_bf16 or amx_bf16 in /proc/cpuinfo), "
            "where bfloat16 is emulated and slower than float32"
        )
    return None


# --------------------------------------------------------------------------------------------
# The bfloat16 copy of a model


def _conv_classes() -> tuple:
    from keras import layers

    return (
        layers.Conv1D, layers.Conv2D, layers.Conv3D, layers.Conv1DTranspose, layers.Conv2DTranspose,
        layers.Conv3DTranspose, layers.DepthwiseConv2D, layers.SeparableConv2D,
    )


def _graph(model) -> tuple[list, dict]:
    """``(layers, parents)``: the model's layers and, per layer id, the layers feeding it in this model's graph."""
    import keras

    layers = list(model.layers)
    parents: dict[int, set] = {id(layer): set() for layer in layers}
    if isinstance(model, keras.Sequential):
        for before, after in zip(layers, layers[1:]):
            parents[id(after)].add(id(before))
        return layers, parents
    seen = set()
    stack = [tensor._keras_history for tensor in model.outputs]
    while stack:
        operation, node_index, _ = stack.pop()
        if (id(operation), node_index) in seen:
            continue
        seen.add((id(operation), node_index))
        for tensor in operation._inbound_nodes[node_index].input_tensors:
            history = getattr(tensor, "_keras_history", None)
            if history is None:
                continue
            parents.setdefault(id(operation), set()).add(id(history[0]))
            stack.append(history)
    return layers, parents


def inner_layers(model, float32_convs: int = FLOAT32_CONVS, float32_first: bool = True) -> list[str]:
    """Names of the layers that compute in bfloat16.

    A layer does when a convolution comes before it (``float32_first=False``: or it is one)
    and at least ``float32_convs`` convolutions follow it on its longest path to the output:
    so the first convolution and whatever comes before it, the last ``float32_convs``
    convolutions and whatever lies between them and after them stay float32. Nested models
    stay float32 as a whole.
    """
    import keras

    convs = _conv_classes()
    layers, parents = _graph(model)
    by_id = {id(layer): layer for layer in layers}
    children: dict[int, set] = {}
    for child, feeding in parents.items():
        for parent in feeding:
            children.setdefault(parent, set()).add(child)
    memo_up: dict[int, bool] = {}
    memo_down: dict[int, int] = {}

    def is_conv(key) -> bool:
        return isinstance(by_id.get(key), convs)

    def upstream(key) -> bool:  # a conv at or before this layer
        if key not in memo_up:
            memo_up[key] = False  # cycles cannot occur; this only guards recursion
            memo_up[key] = is_conv(key) or any(upstream(p) for p in parents.get(key, ()))
        return memo_up[key]

    def downstream(key) -> int:  # convs strictly after this layer, on its longest path to the output
        if key not in memo_down:
            memo_down[key] = 0
            memo_down[key] = max((int(is_conv(c)) + downstream(c) for c in children.get(key, ())), default=0)
        return memo_down[key]

    def after_conv(key) -> bool:
        if float32_first:
            return any(upstream(p) for p in parents.get(key, ()))
        return upstream(key)

    return [
        layer.name
        for layer in layers
        if not isinstance(layer, keras.Model) and after_conv(id(layer)) and downstream(id(layer)) >= max(1, float32_convs)
    ]


#: (id(model), float32_convs, float32_first) -> (weak reference to the model, its bfloat16 copy); entries die with the model.
_COPIES: dict[int, tuple] = {}
_LOCK = threading.Lock()


def bf16_model(model, float32_convs: int = FLOAT32_CONVS, float32_first: bool = True):
    """A copy of Keras ``model`` with BatchNorm folded and its inner layers (:func:`inner_layers`) in ``mixed_bfloat16``.

    Same inputs and outputs (float32); its own layers and weight variables, holding the
    weights ``model`` has now (weights loaded into ``model`` later are not seen). Made once per
    model and options (cached while ``model`` lives). Works on any functional or Sequential
    model; a model with too few convolutions comes back as a float32 copy.
    """
    import keras

    from .batchnorm import fold_batchnorm, has_batchnorm

    key = (id(model), int(float32_convs), bool(float32_first))
    with _LOCK:
        entry = _COPIES.get(key)
        if entry is not None and entry[0]() is model:
            return entry[1]
    inner = set(inner_layers(model, float32_convs, float32_first))

    def clone_function(layer):
        config = layer.get_config()
        if layer.name in inner:
            config["dtype"] = POLICY
        return layer.__class__.from_config(config)

    # A clone has its own layers, each used once, so that BatchNorm folds even in a model that
    # calls another model's layers (the luminance network of a colour model).
    copy = keras.models.clone_model(model, clone_function=clone_function)
    for layer in model.layers:
        if layer.weights:
            copy.get_layer(layer.name).set_weights(layer.get_weights())
    if has_batchnorm(copy):
        copy = fold_batchnorm(copy, strict=False)
    with _LOCK:
        _COPIES[key] = (weakref.ref(model), copy)
    weakref.finalize(model, _COPIES.pop, key, None)
    return copy


class LowPrecisionModel:
    """The bfloat16 path of a model, run by :class:`denoise_tf.inference.NeuralDenoiser` like an export.

    Attributes: ``name``, ``format`` (``"bf16"``), ``model`` (the bfloat16 Keras copy,
    :func:`bf16_model`), ``measurement`` (the registry entry of the model when it has one,
    :func:`measurement`), ``float32_convs`` (the entry's, else :data:`FLOAT32_CONVS`),
    ``float32_first`` (the first convolution in float32: the entry's, else True), ``numpy_call``
    (``f(noisy[, level]) -> ndarray``: the copy's compiled call, ``tf.function``).
    """

    format = "bf16"
    quantize = "bfloat16"

    def __init__(
        self, model, name: str | None = None, measurement: dict | None = None, float32_convs: int | None = None,
        float32_first: bool | None = None,
    ):
        from .inference import compiled_call

        if float32_convs is None:
            float32_convs = int((measurement or {}).get("float32_convs", FLOAT32_CONVS))
        if float32_first is None:
            float32_first = bool((measurement or {}).get("float32_first", True))
        self.float32_convs, self.float32_first = float32_convs, float32_first
        self.model = bf16_model(model, float32_convs, float32_first)
        self.name = name or model.name
        self.measurement = measurement
        self.numpy_call = compiled_call(self.model)

    def __call__(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)):
            return self.numpy_call(*inputs)
        return self.numpy_call(inputs)

    def predict_on_batch(self, inputs):
        return self(inputs)

    def describe(self) -> str:
        """``"bf16 (Keras mixed_bfloat16 through tf.function, ...)"``: what runs, and the measured PSNR cost when known."""
        first = "the first convolution" if self.float32_first else "the input layers"
        text = (
            f"bf16 (Keras {POLICY} through tf.function, BatchNorm folded; {first} and the last "
            f"{self.float32_convs} convolutions float32"
        )
        record = self.measurement
        if record and record.get("psnr_cost_db") is not None:
            sets = ", ".join(str(row.get("dataset", "")).upper() for row in record.get("psnr", [])) or "BSD68"
            text += f"; PSNR cost {record['psnr_cost_db']:.4f} dB against float32 on {sets} at sigma 25"
        return text + ")"

    def __repr__(self):
        return f"LowPrecisionModel({self.name!r}, format='bf16')"


def load(model, name: str | None = None) -> LowPrecisionModel:
    """The bfloat16 path of Keras ``model`` (named ``name``: shipped weights get their measurement attached).

    Raises
    ------
    ValueError
        The path cannot run here (:func:`unavailable`; the reason in the message).
    """
    reason = unavailable()
    if reason is not None:
        raise ValueError(f"backend='bf16' cannot run here: {reason}; use backend='auto', 'keras' or 'tflite'")
    return LowPrecisionModel(model, name=name, measurement=measurement(name) if name else None)


# --------------------------------------------------------------------------------------------
# Which shipped models take it under "auto"


def registry(path=None) -> dict:
    """The measurements file (:data:`REGISTRY_FILE`): ``{"command", "machine", ..., "models": {name: entry}}``; empty when missing."""
    path = Path(path) if path is not None else REGISTRY_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def measurement(name: str, path=None) -> dict | None:
    """The registry entry of shipped weights ``name``, or None: none, or measured on other weights.

    The entry counts only while its ``weights_sha256`` is the sha256 of the weights file shipped
    under ``name`` now (:func:`denoise_tf.pretrained.entry`).
    """
    from . import pretrained

    entry = registry(path).get("models", {}).get(str(name))
    if not entry or str(name) not in pretrained.available():
        return None
    if entry.get("weights_sha256") != pretrained.entry(str(name)).get("sha256"):
        return None
    return entry


def verdict(entry: dict | None) -> tuple[bool, str]:
    """``(adopted, why)`` of one registry entry: PSNR cost under :data:`MAX_PSNR_COST_DB` and faster than float32."""
    if not entry:
        return False, "not measured (or measured on other weights)"
    cost, speedup = entry.get("psnr_cost_db"), entry.get("speedup")
    if cost is None or speedup is None:
        return False, "measurement incomplete"
    if not cost < MAX_PSNR_COST_DB:
        return False, f"PSNR cost {cost:.4f} dB, not under {MAX_PSNR_COST_DB} dB"
    if not speedup > 1.0:
        return False, f"not faster than float32 ({speedup:.2f}x)"
    return True, f"PSNR cost {cost:.4f} dB, {speedup:.2f}x the float32 path"


def adopted(name: str, path=None) -> bool:
    """Whether shipped weights ``name`` take the bfloat16 path under ``auto`` where it runs (:func:`verdict` of :func:`measurement`)."""
    return verdict(measurement(name, path))[0]


__all__ = [
    "EPSILON",
    "FLOAT32_CONVS",
    "MAX_PSNR_COST_DB",
    "POLICY",
    "REGISTRY_FILE",
    "LowPrecisionModel",
    "adopted",
    "bf16_model",
    "inner_layers",
    "load",
    "measurement",
    "registry",
    "unavailable",
    "verdict",
]
