"""Framework-neutral shape inference and parameter counts: the model summary.

The UI shows it without importing a framework, validation uses it to reject layer stacks
that cannot connect, and the backend tests check every framework builds the same counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tuitrain.core.errors import UserError
from tuitrain.core.spec import LayerSpec

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerRow:
    """One line of the summary."""

    index: int
    type: str
    output_shape: Shape
    params: int
    non_trainable: int = 0
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.type}_{self.index}"


@dataclass(frozen=True)
class Summary:
    """All rows plus totals; `torch_params` differs from `params` only for LSTMs."""

    input_shape: Shape
    rows: tuple[LayerRow, ...]

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def non_trainable(self) -> int:
        return sum(r.non_trainable for r in self.rows)

    @property
    def torch_params(self) -> int:
        """PyTorch's LSTM carries a second bias vector (4 x units more per layer)."""
        extra = sum(4 * r.output_shape[-1] for r in self.rows if r.type == "lstm")
        return self.params + extra

    def params_for(self, framework: str) -> int:
        return self.torch_params if framework == "torch" else self.params

    def lines(self) -> list[str]:
        """A plain-text table, as `tuitrain summary` and the setup screen print it."""
        out = [f"{'layer':<18}{'output shape':<20}{'params':>10}  note"]
        out.append(f"{'input':<18}{self.input_shape!s:<20}{'':>10}")
        for r in self.rows:
            out.append(f"{r.label:<18}{r.output_shape!s:<20}{r.params:>10,}  {r.note}".rstrip())
        out.append(f"total trainable params: {self.params:,}")
        if self.non_trainable:
            out.append(f"non-trainable params: {self.non_trainable:,}")
        if self.torch_params != self.params:
            out.append(f"PyTorch: {self.torch_params:,} (its LSTM has a second bias vector)")
        return out


def _conv_out(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


def _step(layer: LayerSpec, shape: Shape, num_outputs: int) -> tuple[Shape, int, int, str]:
    """Output shape, trainable params, non-trainable params and a note for one layer."""
    kind = layer.type
    if kind == "dense":
        units = num_outputs if layer.get("units") == "auto" else int(layer.get("units"))
        fan_in = shape[-1]
        params = fan_in * units + (units if layer.get("bias") else 0)
        return (*shape[:-1], units), params, 0, ""
    if kind == "conv2d":
        if len(shape) != 3:
            raise ValueError(f"needs (height, width, channels) input, got {shape}")
        k, s, pad = layer.get("kernel_size"), layer.get("stride"), layer.get("padding")
        if pad == "same" and s != 1:
            raise ValueError("padding 'same' needs stride 1 (PyTorch supports no other)")
        h, w = _conv_out(shape[0], k, s, pad), _conv_out(shape[1], k, s, pad)
        if h < 1 or w < 1:
            raise ValueError(f"kernel {k} does not fit input {shape}")
        f = layer.get("filters")
        return (h, w, f), k * k * shape[2] * f + f, 0, ""
    if kind in ("maxpool2d", "avgpool2d"):
        if len(shape) != 3:
            raise ValueError(f"needs (height, width, channels) input, got {shape}")
        p = layer.get("pool_size")
        s = layer.get("stride") or p
        h, w = (shape[0] - p) // s + 1, (shape[1] - p) // s + 1
        if h < 1 or w < 1:
            raise ValueError(f"pool {p} does not fit input {shape}")
        return (h, w, shape[2]), 0, 0, ""
    if kind == "globalavgpool2d":
        if len(shape) != 3:
            raise ValueError(f"needs (height, width, channels) input, got {shape}")
        return (shape[2],), 0, 0, ""
    if kind == "flatten":
        return (math.prod(shape),), 0, 0, ""
    if kind == "reshape":
        target = tuple(int(d) for d in layer.get("shape"))
        if math.prod(target) != math.prod(shape):
            raise ValueError(f"cannot reshape {shape} ({math.prod(shape)} values) to {target}")
        return target, 0, 0, ""
    if kind in ("dropout", "activation"):
        return shape, 0, 0, ""
    if kind == "batchnorm":
        c = shape[-1]
        return shape, 2 * c, 2 * c, ""
    if kind in ("lstm", "gru"):
        if len(shape) != 2:
            raise ValueError(f"needs (steps, features) input, got {shape}; add a reshape layer")
        units = layer.get("units")
        gates = 4 if kind == "lstm" else 3
        biases = 1 if kind == "lstm" else 2  # Keras GRU (reset_after) has two, like PyTorch
        params = gates * (units * (shape[1] + units) + biases * units)
        note = f"PyTorch: +{4 * units} (second bias)" if kind == "lstm" else ""
        out = (shape[0], units) if layer.get("return_sequences") else (units,)
        return out, params, 0, note
    if kind == "embedding":
        if len(shape) != 1:
            raise ValueError(f"needs (steps,) token input, got {shape}")
        d = layer.get("output_dim")
        return (shape[0], d), layer.get("input_dim") * d, 0, ""
    raise ValueError(f"unknown layer type {kind!r}")


def summarize(layers: tuple[LayerSpec, ...], input_shape: Shape, num_outputs: int) -> Summary:
    """Infer every layer's output shape and parameter count; a mismatch names the layer."""
    shape = tuple(input_shape)
    rows = []
    for i, layer in enumerate(layers):
        try:
            shape, params, frozen, note = _step(layer, shape, num_outputs)
        except ValueError as exc:
            raise UserError(f"model.layers[{i}] ({layer.type}): {exc}") from None
        rows.append(LayerRow(i, layer.type, shape, params, frozen, note))
    return Summary(tuple(input_shape), tuple(rows))


def check_output(summary: Summary, expected: int, loss: str) -> None:
    """The last layer must produce what the loss needs."""
    want = 1 if loss == "binary_cross_entropy" else expected
    got = summary.rows[-1].output_shape if summary.rows else summary.input_shape
    if got != (want,):
        raise UserError(
            f"model.layers[{len(summary.rows) - 1}] ({summary.rows[-1].type}): the model ends in "
            f"shape {got} but loss {loss!r} on this dataset needs ({want},); "
            'set the last dense layer\'s units to "auto"'
        )
