"""The layer registry: one entry per layer type, holding the settings it accepts (with their
checks) and its shape inference and parameter count. Pure Python, no framework.

Each backend keeps its own table of builders keyed by the same type names
(`torch_layers.BUILDERS`, `keras_layers.BUILDERS`); a test checks every registered type has a
builder in every backend. Adding a layer type means adding an entry here and one builder per
backend. A type that `nests` takes `layers = [...]`, a list of layer tables: specs are a tree.
A block that takes `repeat = N` stands for N copies of itself in a row; the preset reader
writes the copies into the tree, so inference and the builders never see the setting."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]

ACTIVATIONS: tuple[str, ...] = (
    "linear",
    "relu",
    "gelu",
    "tanh",
    "sigmoid",
    "elu",
    "leaky_relu",
    "silu",
    "softmax",
)


@dataclass(frozen=True)
class Rule:
    """A check on a setting's value (after its type is checked) and the words for what it
    must be, for the error: `dropout rate must be in [0, 1)`."""

    ok: Callable[[Any], bool]
    must: str


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# Layer norm's epsilon in every framework (PyTorch's default; Keras' is 1e-3).
LAYERNORM_EPS = 1e-5

AT_LEAST_1 = Rule(lambda v: v >= 1, ">= 1")
AT_LEAST_0 = Rule(lambda v: v >= 0, ">= 0")


@dataclass(frozen=True)
class Param:
    """One key a layer accepts: its type, default (None = required) and allowed values."""

    kind: type
    default: object = None
    required: bool = False
    choices: tuple[str, ...] = ()
    rule: Rule | None = None


@dataclass(frozen=True)
class LayerSpec:
    """One framework-neutral layer: its type, its keys (defaults filled in) and, for a type
    that nests, the layers inside it."""

    type: str
    params: tuple[tuple[str, Any], ...] = ()
    layers: tuple[LayerSpec, ...] = ()

    def get(self, key: str) -> Any:
        for name, value in self.params:
            if name == key:
                return value
        return LAYER_TYPES[self.type].params[key].default

    def to_dict(self) -> dict[str, Any]:
        """The layer as a TOML-shaped table (tuples become lists, as TOML reads them)."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}
        nested = {"layers": [layer.to_dict() for layer in self.layers]} if self.layers else {}
        return {"type": self.type, **params, **nested}


@dataclass(frozen=True)
class Inferred:
    """What a layer does to shapes: its output shape, trainable and non-trainable parameter
    counts as Keras counts them, what PyTorch's own module has on top, and a note."""

    shape: Shape
    params: int = 0
    non_trainable: int = 0
    torch_extra: int = 0
    note: str = ""


@dataclass(frozen=True)
class Context:
    """What inference may use besides the layer and its input shape: what `units = "auto"`
    means, and `walk`, which infers a nested list of layers from a shape (recording their
    rows under this layer) and returns the shape they end in."""

    num_outputs: int
    walk: Callable[[tuple[LayerSpec, ...], Shape], Shape]


@dataclass(frozen=True)
class LayerType:
    """One registry entry. `infer` raises ValueError (a short reason) when the input shape does
    not fit; the caller names the layer."""

    name: str
    params: Mapping[str, Param]
    infer: Callable[[LayerSpec, Shape, Context], Inferred]
    nests: bool = False


def _image(shape: Shape) -> None:
    if len(shape) != 3:
        raise ValueError(f"needs (height, width, channels) input, got {shape}")


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """The zeros before and after one axis that padding 'same' adds, as TensorFlow and Keras
    add them (the odd one after): ceil(size / stride) outputs."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv_out(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


def _dense(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    units = ctx.num_outputs if layer.get("units") == "auto" else int(layer.get("units"))
    params = shape[-1] * units + (units if layer.get("bias") else 0)
    return Inferred((*shape[:-1], units), params)


def _conv2d(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    _image(shape)
    k, s, pad = layer.get("kernel_size"), layer.get("stride"), layer.get("padding")
    h, w = _conv_out(shape[0], k, s, pad), _conv_out(shape[1], k, s, pad)
    if h < 1 or w < 1:
        raise ValueError(f"kernel {k} does not fit input {shape}")
    f = layer.get("filters")
    return Inferred((h, w, f), k * k * shape[2] * f + (f if layer.get("bias") else 0))


def _pool2d(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    _image(shape)
    p = layer.get("pool_size")
    s = layer.get("stride") or p
    h, w = (shape[0] - p) // s + 1, (shape[1] - p) // s + 1
    if h < 1 or w < 1:
        raise ValueError(f"pool {p} does not fit input {shape}")
    return Inferred((h, w, shape[2]))


def _globalavgpool2d(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    _image(shape)
    return Inferred((shape[2],))


def _flatten(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    return Inferred((math.prod(shape),))


def _reshape(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    target = tuple(int(d) for d in layer.get("shape"))
    if math.prod(target) != math.prod(shape):
        raise ValueError(f"cannot reshape {shape} ({math.prod(shape)} values) to {target}")
    return Inferred(target)


def _same(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    return Inferred(shape)


def _batchnorm(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    c = shape[-1]
    return Inferred(shape, 2 * c, 2 * c)


def _recurrent(gates: int, biases: int, torch_biases: int) -> Callable[..., Inferred]:
    """LSTM (4 gates) or GRU (3); Keras' GRU (reset_after) has two bias vectors as PyTorch's
    does, its LSTM one where PyTorch's has two."""

    def infer(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
        if len(shape) != 2:
            raise ValueError(f"needs (steps, features) input, got {shape}; add a reshape layer")
        units = layer.get("units")
        params = gates * (units * (shape[1] + units) + biases * units)
        extra = gates * units * (torch_biases - biases)
        note = f"PyTorch: +{extra} (second bias)" if extra else ""
        out = (shape[0], units) if layer.get("return_sequences") else (units,)
        return Inferred(out, params, torch_extra=extra, note=note)

    return infer


def _tokens(layer: LayerSpec, num_outputs: int) -> int:
    """The tokens an embedding reads: its `input_dim`, or with "auto" the data's classes."""
    return num_outputs if layer.get("input_dim") == "auto" else int(layer.get("input_dim"))


def with_tokens(layers: tuple[LayerSpec, ...], num_outputs: int) -> tuple[LayerSpec, ...]:
    """The layers with every `input_dim = "auto"` (nested ones too) set to `num_outputs`:
    what the backends build."""
    out = []
    for layer in layers:
        params = tuple(
            (k, _tokens(layer, num_outputs) if k == "input_dim" else v) for k, v in layer.params
        )
        out.append(LayerSpec(layer.type, params, with_tokens(layer.layers, num_outputs)))
    return tuple(out)


def _embedding(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    if len(shape) != 1:
        raise ValueError(f"needs (steps,) token input, got {shape}")
    d = layer.get("output_dim")
    return Inferred((shape[0], d), _tokens(layer, ctx.num_outputs) * d)


def _tied_embedding(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    """Token embedding, the nested layers, then logits over the vocabulary from the same
    embedding matrix (transposed): one (input_dim, output_dim) table, counted once."""
    if len(shape) != 1:
        raise ValueError(f"needs (steps,) token input, got {shape}")
    vocab, d = _tokens(layer, ctx.num_outputs), layer.get("output_dim")
    out = ctx.walk(layer.layers, (shape[0], d))
    if out[-1] != d:
        raise ValueError(f"its layers must end in {d} features (output_dim), got {out}")
    return Inferred((*out[:-1], vocab), vocab * d, note="output tied to the embedding")


def _sequential(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    return Inferred(ctx.walk(layer.layers, shape))


def shortcut_stride(shape: Shape, out: Shape) -> int | None:
    """The stride of the 1x1 convolution that takes an image of `shape` to the spatial size of
    `out` (as a valid 1x1 conv: ceil(size / stride)), or None when no whole stride does."""
    for stride in range(1, max(shape[0], shape[1]) + 1):
        if (math.ceil(shape[0] / stride), math.ceil(shape[1] / stride)) == out[:2]:
            return stride
    return None


def _residual(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    """inner(x) + shortcut(x): the shortcut is the identity when the inner layers keep the
    shape, else a projection without bias (the inner path's last layer, usually a batchnorm,
    carries the bias): a 1x1 convolution (strided when the image shrinks) for images, a
    dense layer on the last axis otherwise."""
    out = ctx.walk(layer.layers, shape)
    if out == shape:
        return Inferred(out)
    if len(shape) == 3 and len(out) == 3 and shortcut_stride(shape, out) is not None:
        return Inferred(
            out, shape[2] * out[2], note=f"1x1 conv shortcut, stride {shortcut_stride(shape, out)}"
        )
    if len(shape) == len(out) and shape[:-1] == out[:-1]:
        return Inferred(out, shape[-1] * out[-1], note="dense shortcut")
    raise ValueError(
        f"cannot add its input {shape} to its layers' output {out}: a shortcut projects only "
        "images to a smaller or equal size by a whole stride, or the last axis"
    )


def _sequence(shape: Shape) -> None:
    if len(shape) != 2:
        raise ValueError(f"needs (steps, features) input, got {shape}")


def _layernorm(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    return Inferred(shape, 2 * shape[-1])


def _conv1d(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    _sequence(shape)
    k, s, pad = layer.get("kernel_size"), layer.get("stride"), layer.get("padding")
    steps = _conv_out(shape[0], k, s, pad)
    if steps < 1:
        raise ValueError(f"kernel {k} does not fit input {shape}")
    f = layer.get("filters")
    return Inferred((steps, f), k * shape[1] * f + (f if layer.get("bias") else 0))


def _globalavgpool1d(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    _sequence(shape)
    return Inferred((shape[1],))


def _posembedding(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    _sequence(shape)
    return Inferred(shape, shape[0] * shape[1])


def _attention(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    """Multi-head self-attention: query, key, value and output projections, each d x d with a
    bias (Keras' per-head kernels hold the same numbers as PyTorch's fused ones)."""
    _sequence(shape)
    d, heads = shape[1], layer.get("heads")
    if d % heads:
        raise ValueError(f"{heads} heads do not divide the {d} features")
    return Inferred(shape, 4 * d * d + 4 * d)


def transformer_layers(layer: LayerSpec, shape: Shape) -> tuple[LayerSpec, ...]:
    """A pre-norm transformer block as the nested spec it is: x + attention(layernorm(x)),
    then x + mlp(layernorm(x)) with a gelu hidden layer `mlp_ratio` times as wide. Inference
    walks it and each backend builds it as these layers."""
    d = shape[-1]
    attention = LayerSpec(
        "attention", (("heads", layer.get("heads")), ("causal", layer.get("causal")))
    )
    hidden = LayerSpec("dense", (("units", layer.get("mlp_ratio") * d), ("activation", "gelu")))
    return (
        LayerSpec("residual", layers=(LayerSpec("layernorm"), attention)),
        LayerSpec(
            "residual", layers=(LayerSpec("layernorm"), hidden, LayerSpec("dense", (("units", d),)))
        ),
    )


def _transformer(layer: LayerSpec, shape: Shape, ctx: Context) -> Inferred:
    _sequence(shape)
    return Inferred(ctx.walk(transformer_layers(layer, shape), shape))


_ACT = Param(str, "linear", choices=ACTIVATIONS)
_POOL = {
    "pool_size": Param(int, 2, rule=AT_LEAST_1),
    # a stride of 0 means "the pool size"
    "stride": Param(int, 0, rule=AT_LEAST_0),
}
_RECURRENT = {
    "units": Param(int, required=True, rule=AT_LEAST_1),
    "return_sequences": Param(bool, False),
}
# `units = "auto"` on a dense layer means: the dataset's output size (classes or targets).
_UNITS = Param(
    object, required=True, rule=Rule(lambda v: v == "auto" or _whole(v), '> 0 or "auto"')
)
_CONV = {
    "filters": Param(int, required=True, rule=AT_LEAST_1),
    "kernel_size": Param(int, 3, rule=AT_LEAST_1),
    "stride": Param(int, 1, rule=AT_LEAST_1),
    "padding": Param(str, "valid", choices=("valid", "same")),
    "activation": _ACT,
    "bias": Param(bool, True),
}
_HEADS = {"heads": Param(int, required=True, rule=AT_LEAST_1), "causal": Param(bool, False)}
_NESTED = Param(list, required=True)
# `repeat = N` on a block: N copies of it in a row, each with its own weights (presets read it;
# the spec holds the copies).
REPEAT = "repeat"
MAX_REPEAT = 1000
_REPEAT = Param(int, 1, rule=Rule(lambda v: 1 <= v <= MAX_REPEAT, f"in [1, {MAX_REPEAT}]"))
# `input_dim = "auto"`: as many tokens as the data has classes (a language model reads the
# characters it predicts).
_EMBEDDING = {
    "input_dim": Param(
        object, required=True, rule=Rule(lambda v: v == "auto" or _whole(v), '> 0 or "auto"')
    ),
    "output_dim": Param(int, required=True, rule=AT_LEAST_1),
}  # checked and read into `LayerSpec.layers` by presets

LAYER_TYPES: dict[str, LayerType] = {
    t.name: t
    for t in (
        LayerType(
            "dense", {"units": _UNITS, "activation": _ACT, "bias": Param(bool, True)}, _dense
        ),
        LayerType("conv2d", _CONV, _conv2d),
        LayerType("conv1d", _CONV, _conv1d),
        LayerType("maxpool2d", _POOL, _pool2d),
        LayerType("avgpool2d", _POOL, _pool2d),
        LayerType("globalavgpool2d", {}, _globalavgpool2d),
        LayerType("globalavgpool1d", {}, _globalavgpool1d),
        LayerType("flatten", {}, _flatten),
        LayerType(
            "reshape",
            {
                "shape": Param(
                    list,
                    required=True,
                    rule=Rule(lambda v: bool(v) and all(_whole(d) for d in v), "whole numbers > 0"),
                )
            },
            _reshape,
        ),
        LayerType(
            "dropout",
            {"rate": Param(float, 0.5, rule=Rule(lambda v: 0 <= v < 1, "in [0, 1)"))},
            _same,
        ),
        LayerType("batchnorm", {}, _batchnorm),
        LayerType("layernorm", {}, _layernorm),
        LayerType("lstm", _RECURRENT, _recurrent(gates=4, biases=1, torch_biases=2)),
        LayerType("gru", _RECURRENT, _recurrent(gates=3, biases=2, torch_biases=2)),
        LayerType("embedding", _EMBEDDING, _embedding),
        LayerType("tied_embedding", {**_EMBEDDING, "layers": _NESTED}, _tied_embedding, nests=True),
        LayerType("activation", {"name": Param(str, required=True, choices=ACTIVATIONS)}, _same),
        LayerType("posembedding", {}, _posembedding),
        LayerType("attention", _HEADS, _attention),
        LayerType(
            "transformer",
            {**_HEADS, "mlp_ratio": Param(int, 4, rule=AT_LEAST_1), REPEAT: _REPEAT},
            _transformer,
        ),
        LayerType("sequential", {"layers": _NESTED, REPEAT: _REPEAT}, _sequential, nests=True),
        LayerType(
            "residual",
            {"layers": _NESTED, "activation": _ACT, REPEAT: _REPEAT},
            _residual,
            nests=True,
        ),
    )
}
