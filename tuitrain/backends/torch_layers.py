"""The PyTorch network of a run: one `nn.Module` builder per registered layer type (the names
in core/layers.py), the modules that have no `nn` class of their own (residual block,
attention, tied embedding, ...), the model a preset or a person's own file builds, the
layers `train.freeze` names, and the wrapper an export serves (raw inputs, channels-last)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from tuitrain.backends import user_model
from tuitrain.core import finetune, model_file
from tuitrain.core.datasets import DatasetInfo
from tuitrain.core.layers import (
    LAYERNORM_EPS,
    same_padding,
    shortcut_stride,
    transformer_layers,
    with_tokens,
)
from tuitrain.core.preprocessing import Preprocessing, Scaling
from tuitrain.core.shapes import LayerRow, summarize
from tuitrain.core.spec import LayerSpec, RunSpec
from tuitrain.core.validate import output_units

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "linear": nn.Identity, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU, "silu": nn.SiLU,
}


def _activation(name: str) -> nn.Module:
    return nn.Softmax(dim=-1) if name == "softmax" else ACTIVATIONS[name]()


class ChannelsLast(nn.Module):
    """Runs a last-axis layer on NCHW images by moving channels last and back."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FromChannelsLast(nn.Module):
    """(N, H, W, C) images, as tuitrain states them, to the (N, C, H, W) torch layers take:
    the first layer of an exported model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)


class Standardize(nn.Module):
    """Raw features to standardized ones with a run's saved statistics (last axis), or back
    (`invert`): the first and last steps of an exported model."""

    def __init__(self, scaling: Scaling, invert: bool = False) -> None:
        super().__init__()
        self.invert = invert
        self.register_buffer("mean", torch.tensor(scaling.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(scaling.std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean if self.invert else (x - self.mean) / self.std


def serving_model(model: nn.Module, info: DatasetInfo,
                   preprocessing: Preprocessing | None) -> nn.Module:
    """The trained model as an export takes it: images channels-last, and with the saved
    statistics, raw inputs in and regression outputs in the data's units."""
    steps: list[nn.Module] = []
    if preprocessing is not None and preprocessing.inputs is not None:
        steps.append(Standardize(preprocessing.inputs))
    if len(info.input_shape) == 3:
        steps.append(FromChannelsLast())
    steps.append(model)
    if preprocessing is not None and preprocessing.targets is not None:
        steps.append(Standardize(preprocessing.targets, invert=True))
    return steps[0] if len(steps) == 1 else nn.Sequential(*steps)


class SequenceBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the feature axis of (N, T, F) sequences."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class Reshape(nn.Module):
    """Reshape in channels-last terms (as the preset states shapes), keeping torch's NCHW."""

    def __init__(self, shape: tuple[int, ...], from_image: bool) -> None:
        super().__init__()
        self.shape = shape
        self.from_image = from_image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.from_image:
            x = x.permute(0, 2, 3, 1)
        x = x.reshape(x.shape[0], *self.shape)
        return x.permute(0, 3, 1, 2) if len(self.shape) == 3 else x


class Recurrent(nn.Module):
    """LSTM/GRU, batch first, returning the last step unless return_sequences."""

    def __init__(self, cell: nn.Module, return_sequences: bool) -> None:
        super().__init__()
        self.cell = cell
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.cell(x)
        return out if self.return_sequences else out[:, -1]


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class GlobalAvgPool1d(nn.Module):
    """The mean over the steps of (N, T, F) sequences."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class StepsLast(nn.Module):
    """Runs a (N, C, T) layer (conv1d) on (N, T, C) sequences."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.transpose(1, 2)).transpose(1, 2)


class Residual(nn.Module):
    """activation(inner(x) + shortcut(x)); the shortcut is the identity or a projection."""

    def __init__(self, inner: nn.Module, shortcut: nn.Module, activation: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.shortcut = shortcut
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.inner(x) + self.shortcut(x))


class PositionEmbedding(nn.Module):
    """A learned (steps, features) table added to (N, steps, features) inputs."""

    def __init__(self, steps: int, features: int) -> None:
        super().__init__()
        self.positions = nn.Parameter(torch.empty(steps, features))
        nn.init.normal_(self.positions, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.positions


class TiedEmbedding(nn.Module):
    """Embed tokens, run the body, and score the vocabulary with the embedding matrix. The
    table starts as Keras' does, uniform in [-0.05, 0.05]: torch's own N(0, 1) makes the
    first logits (unit-variance features times the table) about sqrt(output_dim) wide, a
    loss near 20 at the start where a uniform guess is log(tokens)."""

    def __init__(self, embedding: nn.Embedding, body: nn.Module) -> None:
        super().__init__()
        nn.init.uniform_(embedding.weight, -0.05, 0.05)
        self.embedding = embedding
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.body(self.embedding(x)), self.embedding.weight)


class SelfAttention(nn.Module):
    """Multi-head self-attention on (N, T, D): fused q/k/v projection, scaled dot-product
    attention (causal: each step sees itself and earlier steps), output projection."""

    def __init__(self, dim: int, heads: int, causal: bool) -> None:
        super().__init__()
        self.heads = heads
        self.causal = causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(y.transpose(1, 2).reshape(n, t, d))


# ----- one builder per layer type (the registry's names, core/layers.py) -------------------
# Each takes the layer and its summary row (input and output shapes channels-last, as the
# preset states them; nested rows for a layer that nests) and returns its torch module.
Builder = Callable[[LayerSpec, LayerRow], nn.Module]


def _dense(layer: LayerSpec, row: LayerRow) -> nn.Module:
    linear = nn.Linear(row.input_shape[-1], row.output_shape[-1], bias=layer.get("bias"))
    mod = nn.Sequential(linear, _activation(layer.get("activation")))
    return ChannelsLast(mod) if len(row.input_shape) == 3 else mod


def _conv2d(layer: LayerSpec, row: LayerRow) -> nn.Module:
    g = layer.get
    k, s = g("kernel_size"), g("stride")
    pad = "same" if g("padding") == "same" and s == 1 else 0
    conv = nn.Conv2d(row.input_shape[-1], g("filters"), k, s, padding=pad, bias=g("bias"))
    if g("padding") == "same" and s > 1:  # torch's own 'same' takes stride 1 only
        (top, bottom), (left, right) = (same_padding(n, k, s) for n in row.input_shape[:2])
        return nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)), conv,
                             _activation(g("activation")))
    return nn.Sequential(conv, _activation(g("activation")))


def _pool(cls: type[nn.Module]) -> Builder:
    """Max/average pooling; stride 0 means the pool size, as in the catalogue."""

    def build(layer: LayerSpec, row: LayerRow) -> nn.Module:
        return cls(layer.get("pool_size"), layer.get("stride") or layer.get("pool_size"))

    return build


def _flatten(layer: LayerSpec, row: LayerRow) -> nn.Module:
    # Flatten channels-last so a following dense layer sees Keras' feature order.
    if len(row.input_shape) == 3:
        return nn.Sequential(Reshape(row.output_shape, from_image=True))
    return nn.Flatten()


def _batchnorm(layer: LayerSpec, row: LayerRow) -> nn.Module:
    # Keras defaults (momentum 0.99, epsilon 1e-3) in torch's convention.
    shape = row.input_shape
    if len(shape) == 3:
        return nn.BatchNorm2d(shape[-1], eps=1e-3, momentum=0.01)
    if len(shape) == 2:
        return SequenceBatchNorm(shape[-1], eps=1e-3, momentum=0.01)
    return nn.BatchNorm1d(shape[-1], eps=1e-3, momentum=0.01)


def _recurrent(cls: type[nn.RNNBase]) -> Builder:
    def build(layer: LayerSpec, row: LayerRow) -> nn.Module:
        cell = cls(row.input_shape[-1], layer.get("units"), batch_first=True)
        return Recurrent(cell, layer.get("return_sequences"))

    return build


def _conv1d(layer: LayerSpec, row: LayerRow) -> nn.Module:
    g = layer.get
    k, s = g("kernel_size"), g("stride")
    pad = "same" if g("padding") == "same" and s == 1 else 0
    conv: nn.Module = nn.Conv1d(
        row.input_shape[-1], g("filters"), k, s, padding=pad, bias=g("bias")
    )
    if g("padding") == "same" and s > 1:  # torch's own 'same' takes stride 1 only
        conv = nn.Sequential(nn.ConstantPad1d(same_padding(row.input_shape[0], k, s), 0.0), conv)
    return nn.Sequential(StepsLast(conv), _activation(g("activation")))


def _layernorm(layer: LayerSpec, row: LayerRow) -> nn.Module:
    norm = nn.LayerNorm(row.input_shape[-1], eps=LAYERNORM_EPS)
    return ChannelsLast(norm) if len(row.input_shape) == 3 else norm


def _sequential(layer: LayerSpec, row: LayerRow) -> nn.Module:
    return nn.Sequential(*build_layers(layer.layers, row.children))


def _residual(layer: LayerSpec, row: LayerRow) -> nn.Module:
    shape, out = row.input_shape, row.output_shape
    shortcut: nn.Module = nn.Identity()
    if shape != out and len(shape) == 3:
        stride = shortcut_stride(shape, out)
        shortcut = nn.Conv2d(shape[-1], out[-1], 1, stride, bias=False)
    elif shape != out:
        shortcut = nn.Linear(shape[-1], out[-1], bias=False)
    inner = nn.Sequential(*build_layers(layer.layers, row.children))
    return Residual(inner, shortcut, _activation(layer.get("activation")))


def _transformer(layer: LayerSpec, row: LayerRow) -> nn.Module:
    """The block as the nested spec core defines it."""
    return nn.Sequential(*build_layers(transformer_layers(layer, row.input_shape), row.children))


BUILDERS: dict[str, Builder] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "maxpool2d": _pool(nn.MaxPool2d),
    "avgpool2d": _pool(nn.AvgPool2d),
    "globalavgpool2d": lambda layer, row: GlobalAvgPool(),
    "flatten": _flatten,
    "reshape": lambda layer, row: Reshape(row.output_shape, from_image=len(row.input_shape) == 3),
    "dropout": lambda layer, row: nn.Dropout(layer.get("rate")),
    "activation": lambda layer, row: _activation(layer.get("name")),
    "batchnorm": _batchnorm,
    "lstm": _recurrent(nn.LSTM),
    "gru": _recurrent(nn.GRU),
    "embedding": lambda layer, row: nn.Embedding(layer.get("input_dim"), layer.get("output_dim")),
    "sequential": _sequential,
    "residual": _residual,
    "conv1d": _conv1d,
    "layernorm": _layernorm,
    "globalavgpool1d": lambda layer, row: GlobalAvgPool1d(),
    "posembedding": lambda layer, row: PositionEmbedding(*row.input_shape),
    "attention": lambda layer, row: SelfAttention(
        row.input_shape[-1], layer.get("heads"), layer.get("causal")
    ),
    "transformer": _transformer,
    "tied_embedding": lambda layer, row: TiedEmbedding(
        nn.Embedding(layer.get("input_dim"), layer.get("output_dim")),
        nn.Sequential(*build_layers(layer.layers, row.children)),
    ),
}


def build_layers(layers: tuple[LayerSpec, ...], rows: tuple[LayerRow, ...]) -> list[nn.Module]:
    """One module per layer, each from its type's builder."""
    return [BUILDERS[layer.type](layer, row) for layer, row in zip(layers, rows, strict=True)]


def build_model(spec: RunSpec, info: DatasetInfo) -> nn.Module:
    """The preset's layers as an `nn.Sequential` (a layer that nests is one inside it), or
    what a person's own file builds (images channels-first); `train.freeze` applied."""
    if spec.model_file is not None:
        shape = model_file.input_shape_for("torch", info.input_shape)
        model = user_model.build(spec.model_file, "torch", shape, output_units(spec, info),
                                 nn.Module, "torch.nn.Module")
    else:
        units = output_units(spec, info)
        layers = with_tokens(spec.layers, units)
        summary = summarize(layers, info.input_shape, units)
        model = nn.Sequential(*build_layers(layers, summary.rows))
    for module in frozen_modules(spec, model):
        module.requires_grad_(False)
    return model


def frozen_modules(spec: RunSpec, model: nn.Module) -> list[nn.Module]:
    """The modules `train.freeze` names: a preset's top-level layers (each one module of the
    Sequential), an own model's by `named_modules()` name."""
    if not spec.train.freeze:
        return []
    if spec.model_file is None:
        labels = [f"{layer.type}_{i}" for i, layer in enumerate(spec.layers)]
        return [model[i] for i in sorted(finetune.frozen_indexes(spec, labels))]
    named = dict(model.named_modules())
    named.pop("", None)
    finetune.check_frozen_names(spec.train.freeze, list(named), spec.model_file.file)
    return [named[name] for name in spec.train.freeze]


def frozen_norms(spec: RunSpec, model: nn.Module) -> list[nn.Module]:
    """Batch norms inside frozen modules: they stay in inference mode while training, their
    running statistics not updated (as Keras runs a frozen BatchNormalization)."""
    return [m for frozen in frozen_modules(spec, model) for m in frozen.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]
