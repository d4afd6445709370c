"""What the TensorFlow and Keras backends share: the preset's network as a `keras.Sequential`,
the loss, metrics and optimizer, scoring of whole splits, device set-up and a common base class.

Everything here uses only `keras.layers` / `keras.ops` / `keras.optimizers`, so the same model
builds on every Keras backend (tensorflow, torch, jax); TensorFlow itself is imported only when
Keras runs on it. Import this module after `KERAS_BACKEND` is set: Keras reads it once."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from tuitrain.backends import user_model
from tuitrain.backends.base import Backend, DeviceInfo, Evaluation, Signature
from tuitrain.core import finetune, model_file
from tuitrain.core.catalog import parallel_strategy
from tuitrain.core.data import Splits
from tuitrain.core.datasets import DatasetInfo
from tuitrain.core.errors import UserError
from tuitrain.core.generation import Forward
from tuitrain.core.group import SOLO, Group
from tuitrain.core.layers import LAYERNORM_EPS, shortcut_stride, transformer_layers, with_tokens
from tuitrain.core.measures import lookup
from tuitrain.core.preprocessing import Preprocessing
from tuitrain.core.shapes import LayerRow, summarize
from tuitrain.core.spec import LayerSpec, OptimizerSpec, RunSpec
from tuitrain.core.tcp_group import TcpGroup
from tuitrain.core.trainer import Engine, Split, Trainer
from tuitrain.core.validate import needed_output, output_units


@contextmanager
def native_logs_silenced() -> Iterator[None]:
    """Drop what native code writes to stderr meanwhile: TensorFlow's start-up lines (oneDNN,
    CPU features) ignore TF_CPP_MIN_LOG_LEVEL. Python errors still raise as usual; set
    TF_CPP_MIN_LOG_LEVEL=0 to see everything."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
        yield
        return
    sys.stderr.flush()
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no stderr to silence
        yield
        return
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # TF must never take all GPU memory
if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    # Keras imports TensorFlow whenever it is installed, whatever its backend (to seed it, and
    # to check types when it saves a model): seconds of start-up and a second framework's
    # memory, a GPU's included. Marked absent (Python's way to block an import), it is never
    # loaded, and Keras takes the paths it has for a machine without TensorFlow.
    sys.modules.setdefault("tensorflow", None)
with native_logs_silenced():  # Keras on TensorFlow loads TensorFlow here
    import keras

# PyTorch's LeakyReLU slope, so that one preset means the same function everywhere.
LEAKY_SLOPE = 0.01
POLICIES: dict[str, str] = {"32": "float32", "bf16": "mixed_bfloat16", "16": "mixed_float16"}


# ----- the model ---------------------------------------------------------------------------
def _activation(name: str) -> list[keras.layers.Layer]:
    """A standalone activation layer (none for linear)."""
    if name == "linear":
        return []
    if name == "leaky_relu":  # Keras' default slope is 0.2; the catalogue means torch's 0.01
        return [keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE)]
    return [keras.layers.Activation(name)]


def _with_activation(layer_cls: type[keras.layers.Layer], activation: str,
                     **kwargs: Any) -> list[keras.layers.Layer]:
    """A dense/conv layer with its activation fused when Keras' default matches the catalogue."""
    if activation == "leaky_relu":
        return [layer_cls(**kwargs), *_activation(activation)]
    return [layer_cls(activation=None if activation == "linear" else activation, **kwargs)]


# One builder per layer type (the registry's names, core/layers.py): each takes the layer and
# its summary row (shapes channels-last; nested rows for a layer that nests) and returns the
# Keras layers it becomes, in order.
Builder = Callable[[LayerSpec, LayerRow], list[keras.layers.Layer]]


def _dense(layer: LayerSpec, row: LayerRow) -> list[keras.layers.Layer]:
    return _with_activation(keras.layers.Dense, layer.get("activation"),
                            units=row.output_shape[-1], use_bias=bool(layer.get("bias")))


def _conv2d(layer: LayerSpec, row: LayerRow) -> list[keras.layers.Layer]:
    g = layer.get
    return _with_activation(keras.layers.Conv2D, g("activation"), filters=g("filters"),
                            kernel_size=g("kernel_size"), strides=g("stride"),
                            padding=g("padding"), use_bias=g("bias"))


def _pool(cls: type[keras.layers.Layer]) -> Builder:
    """Max/average pooling; stride 0 means the pool size, as in the catalogue."""

    def build(layer: LayerSpec, row: LayerRow) -> list[keras.layers.Layer]:
        size = layer.get("pool_size")
        return [cls(pool_size=size, strides=layer.get("stride") or size, padding="valid")]

    return build


def _recurrent(cls: type[keras.layers.Layer], **kwargs: Any) -> Builder:
    def build(layer: LayerSpec, row: LayerRow) -> list[keras.layers.Layer]:
        return [cls(layer.get("units"), return_sequences=layer.get("return_sequences"), **kwargs)]

    return build


def _conv1d(layer: LayerSpec, row: LayerRow) -> list[keras.layers.Layer]:
    g = layer.get
    return _with_activation(keras.layers.Conv1D, g("activation"), filters=g("filters"),
                            kernel_size=g("kernel_size"), strides=g("stride"),
                            padding=g("padding"), use_bias=g("bias"))


def _sequential(layer: LayerSpec, row: LayerRow) -> list[keras.layers.Layer]:
    return [keras.Sequential(build_layers(layer.layers, row.children))]


def _graph(row: LayerRow, build: Callable[[Any], Any]) -> keras.Model:
    """A block that is not a chain (a sum, attention's three inputs), as a functional model
    from the row's input shape: one layer of the outer Sequential, saved without custom code."""
    inputs = keras.Input(shape=row.input_shape)
    return keras.Model(inputs, build(inputs))


def _residual(layer: LayerSpec, row: LayerRow) -> list[keras.layers.Layer]:
    shape, out = row.input_shape, row.output_shape

    def build(x: Any) -> Any:
        y = x
        for inner in build_layers(layer.layers, row.children):
            y = inner(y)
        shortcut = x
        if shape != out and len(shape) == 3:
            stride = shortcut_stride(shape, out)
            shortcut = keras.layers.Conv2D(out[-1], 1, strides=stride, use_bias=False)(x)
        elif shape != out:
            shortcut = keras.layers.Dense(out[-1], use_bias=False)(x)
        y = keras.layers.Add()([y, shortcut])
        for after in _activation(layer.get("activation")):
            y = after(y)
        return y

    return [_graph(row, build)]


def _attention(layer: LayerSpec, row: LayerRow) -> list[keras.layers.Layer]:
    heads, dim = layer.get("heads"), row.input_shape[-1]
    attention = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads)
    return [_graph(row, lambda x: attention(x, x, use_causal_mask=layer.get("causal")))]


@keras.saving.register_keras_serializable(package="tuitrain")
class PositionEmbedding(keras.layers.Layer):
    """A learned (steps, features) table added to (N, steps, features) inputs."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.positions = self.add_weight(
            shape=tuple(input_shape[1:]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="positions",
        )

    def call(self, x: Any) -> Any:
        return x + keras.ops.cast(self.positions, x.dtype)


@keras.saving.register_keras_serializable(package="tuitrain")
class TiedEmbedding(keras.layers.Layer):
    """Embed tokens, run the body (a Sequential), and score the vocabulary with the
    embedding matrix."""

    def __init__(self, input_dim: int, output_dim: int, body: keras.Sequential,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = input_dim, output_dim
        self.embedding = keras.layers.Embedding(input_dim, output_dim)
        self.body = body

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.embedding.build(input_shape)
        self.body.build((*input_shape, self.output_dim))

    def call(self, x: Any, training: bool | None = None) -> Any:
        h = self.body(self.embedding(x), training=training)
        table = keras.ops.cast(self.embedding.embeddings, h.dtype)
        return keras.ops.matmul(h, keras.ops.transpose(table))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "body": keras.saving.serialize_keras_object(self.body)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TiedEmbedding:
        body = keras.saving.deserialize_keras_object(config.pop("body"))
        return cls(body=body, **config)


BUILDERS: dict[str, Builder] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "maxpool2d": _pool(keras.layers.MaxPooling2D),
    "avgpool2d": _pool(keras.layers.AveragePooling2D),
    "globalavgpool2d": lambda layer, row: [keras.layers.GlobalAveragePooling2D()],
    "flatten": lambda layer, row: [keras.layers.Flatten()],
    "reshape": lambda layer, row: [keras.layers.Reshape(row.output_shape)],
    "dropout": lambda layer, row: [keras.layers.Dropout(layer.get("rate"))],
    # Keras defaults: momentum 0.99, epsilon 1e-3
    "batchnorm": lambda layer, row: [keras.layers.BatchNormalization()],
    "lstm": _recurrent(keras.layers.LSTM),
    "gru": _recurrent(keras.layers.GRU, reset_after=True),
    "embedding": lambda layer, row: [
        keras.layers.Embedding(layer.get("input_dim"), layer.get("output_dim"))
    ],
    "activation": lambda layer, row: _activation(layer.get("name")) or [keras.layers.Identity()],
    "sequential": _sequential,
    "residual": _residual,
    "conv1d": _conv1d,
    "layernorm": lambda layer, row: [keras.layers.LayerNormalization(epsilon=LAYERNORM_EPS)],
    "globalavgpool1d": lambda layer, row: [keras.layers.GlobalAveragePooling1D()],
    "posembedding": lambda layer, row: [PositionEmbedding()],
    "attention": _attention,
    "tied_embedding": lambda layer, row: [
        TiedEmbedding(layer.get("input_dim"), layer.get("output_dim"),
                      keras.Sequential(build_layers(layer.layers, row.children)))
    ],
    "transformer": lambda layer, row: [
        keras.Sequential(build_layers(transformer_layers(layer, row.input_shape), row.children))
    ],
}


def build_layers(layers: tuple[LayerSpec, ...], rows: tuple[LayerRow, ...]) -> list[Any]:
    """The Keras layers of a list of layers, each from its type's builder."""
    return [
        built
        for layer, row in zip(layers, rows, strict=True)
        for built in BUILDERS[layer.type](layer, row)
    ]


def build_model(spec: RunSpec, info: DatasetInfo) -> keras.Model:
    """The preset's layers as a built `keras.Sequential` (under the current dtype policy; a
    layer that nests is a `keras.Sequential` inside it), or what a person's own file builds,
    called on a `keras.Input` (images channels-last); `train.freeze` applied."""
    units = output_units(spec, info)
    inputs = keras.Input(shape=tuple(info.input_shape), dtype=info.input_dtype)
    if spec.model_file is not None:
        return _own_model(spec, info, inputs, units)
    layers = with_tokens(spec.layers, units)
    summary = summarize(layers, info.input_shape, units)
    labels = [row.label for row in summary.rows]
    frozen = finetune.frozen_indexes(spec, labels) if spec.train.freeze else frozenset()
    stack: list[Any] = [inputs]
    for i, (layer, row) in enumerate(zip(layers, summary.rows, strict=True)):
        built = BUILDERS[layer.type](layer, row)
        for part in built:
            part.trainable = i not in frozen
        stack += built
    return keras.Sequential(stack, name=spec.name.replace("-", "_"))


def _own_model(spec: RunSpec, info: DatasetInfo, inputs: Any, units: int) -> keras.Model:
    """A person's `build_model(input_shape, num_outputs)`, wrapped as a functional model on
    the data's input (so that it is built, and exports with a fixed signature)."""
    own = spec.model_file
    assert own is not None
    framework = spec.run.framework
    shape = model_file.input_shape_for(framework, info.input_shape)
    model = user_model.build(own, framework, shape, units, keras.Model, "keras.Model")
    try:
        wrapped = keras.Model(inputs, model(inputs), name=f"{model.name}_on_data")
    except Exception as exc:
        raise user_model.does_not_run(own, framework, shape, exc) from None
    if spec.train.freeze:
        layers = named_layers(model)
        finetune.check_frozen_names(spec.train.freeze, list(layers), own.file)
        for name in spec.train.freeze:
            layers[name].trainable = False
    return wrapped


def named_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """Every layer inside a model by name, nested models' layers too."""
    found: dict[str, keras.layers.Layer] = {}
    for layer in getattr(model, "layers", ()):
        found[layer.name] = layer
        found.update(named_layers(layer))
    return found


def trainable_params(model: keras.Model) -> int:
    """Trainable parameter count of a built model."""
    return int(sum(int(np.prod(v.shape)) for v in model.trainable_weights))


def non_trainable_params(model: keras.Model) -> int:
    """Parameters not trained: frozen layers' (`train.freeze`) and batch-norm statistics."""
    return int(sum(int(np.prod(v.shape)) for v in model.non_trainable_weights))


# ----- random state ----------------------------------------------------------------------
SEED_STATES = "seed_states.npz"  # the extra entry a .keras checkpoint carries


def seed_states(model: keras.Model) -> list[Any]:
    """The state variable of every `SeedGenerator` in the model (each dropout layer's mask
    stream), in layer order. Neither `model.save` nor `tf.train.Checkpoint(model)` holds them,
    and `set_random_seed` rebuilds them from the seed, so a resumed run would replay the masks.
    Dropout draws from its own generator, never Keras' global one."""
    return [v for v in model.non_trainable_variables if v.name == "seed_generator_state"]


def restore_seed_states(model: keras.Model, values: list[np.ndarray]) -> None:
    """Assign saved `seed_states` back; a count or shape that differs is a ValueError."""
    states = seed_states(model)
    if len(values) != len(states):
        raise ValueError(f"the checkpoint has {len(values)} seed generator states, the model "
                         f"{len(states)}")
    for variable, value in zip(states, values, strict=True):
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"seed generator state of shape {value.shape}, expected "
                             f"{tuple(variable.shape)}")
        variable.assign(value.astype(variable.dtype))


def append_seed_states(model: keras.Model, archive: Path) -> None:
    """Add the model's `seed_states` to a `.keras` archive `model.save` just wrote, as an
    `.npz` entry (plain arrays, no pickle)."""
    states = seed_states(model)
    if not states:
        return
    buffer = io.BytesIO()
    np.savez(buffer, *(np.asarray(keras.ops.convert_to_numpy(v)) for v in states))
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(SEED_STATES, buffer.getvalue())


def load_seed_states(model: keras.Model, archive: Path) -> None:
    """Restore the `seed_states` `append_seed_states` wrote (an archive without them, from an
    older tuitrain or another tool, keeps the model's fresh ones)."""
    with zipfile.ZipFile(archive) as zf:
        if SEED_STATES not in zf.namelist():
            return
        raw = zf.read(SEED_STATES)
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        values = [data[f"arr_{i}"] for i in range(len(data.files))]
    restore_seed_states(model, values)


# ----- loss, metrics, optimizer ------------------------------------------------------------
@keras.saving.register_keras_serializable(package="tuitrain")
class CrossEntropy(keras.losses.Loss):
    """Sparse cross-entropy from logits; with a label per position (y_pred (N, L, classes),
    y_true (N, L), -1 = none), each sample's mean over its labelled positions
    (core/measures.py). One label per sample is Keras's own sparse cross-entropy."""

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Each sample's loss."""
        ops = keras.ops
        if len(y_pred.shape) == 2:
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        y = ops.reshape(ops.cast(y_true, "int32"), ops.shape(y_pred)[:-1])
        asked = ops.cast(ops.greater_equal(y, 0), y_pred.dtype)
        per_position = keras.losses.sparse_categorical_crossentropy(
            ops.maximum(y, 0), y_pred, from_logits=True
        )
        return ops.sum(per_position * asked, axis=1) / ops.maximum(ops.sum(asked, axis=1), 1.0)


# Each loss of the registry (core/measures.py), on the model's raw outputs (logits for
# classification), reported as "loss".
LOSSES: dict[str, Callable[[], keras.losses.Loss]] = {
    "cross_entropy": lambda: CrossEntropy(name="loss"),
    "binary_cross_entropy": lambda: keras.losses.BinaryCrossentropy(from_logits=True, name="loss"),
    "mse": lambda: keras.losses.MeanSquaredError(name="loss"),
    "mae": lambda: keras.losses.MeanAbsoluteError(name="loss"),
    "huber": lambda: keras.losses.Huber(delta=1.0, name="loss"),
}


@keras.saving.register_keras_serializable(package="tuitrain")
class ExactMatch(keras.metrics.Metric):
    """The share of samples whose every answered position (target >= 0) is right, kept as a
    sum and a count (core/measures.py's `exact_match`); `binary`: one logit, right when > 0."""

    def __init__(self, binary: bool = False, name: str = "exact_match", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.binary = binary
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch's matching samples and its sample count."""
        ops = keras.ops
        if self.binary:
            pred = ops.cast(y_pred[..., 0] > 0, "int32")
        else:
            pred = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        y = ops.reshape(ops.cast(y_true, "int32"), ops.shape(pred))
        right = ops.logical_or(ops.equal(pred, y), ops.less(y, 0))
        if len(right.shape) > 1:
            right = ops.all(right, axis=tuple(range(1, len(right.shape))))
        self.total.assign_add(ops.sum(ops.cast(right, self.dtype)))
        self.count.assign_add(ops.cast(ops.shape(right)[0], self.dtype))

    def result(self) -> Any:
        """Matching samples over samples seen."""
        return self.total / keras.ops.maximum(self.count, 1.0)

    def get_config(self) -> dict[str, Any]:
        """What a saved model needs to rebuild the metric."""
        return {**super().get_config(), "binary": self.binary}


@keras.saving.register_keras_serializable(package="tuitrain")
class Perplexity(keras.metrics.Metric):
    """e to the mean cross-entropy (core/measures.py's `perplexity`), kept as the sum of the
    samples' cross-entropies (`CrossEntropy`, each sample's mean over its labelled positions)
    and their count."""

    def __init__(self, name: str = "perplexity", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.cross_entropy = CrossEntropy(reduction=None)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch's cross-entropy sum and its sample count."""
        per_sample = keras.ops.cast(self.cross_entropy(y_true, y_pred), self.dtype)
        self.total.assign_add(keras.ops.sum(per_sample))
        self.count.assign_add(keras.ops.cast(keras.ops.shape(per_sample)[0], self.dtype))

    def result(self) -> Any:
        """e to the mean cross-entropy of the samples seen."""
        return keras.ops.exp(self.total / keras.ops.maximum(self.count, 1.0))


# Each metric of the registry as a stateful Keras metric named as the registry names it;
# the argument says whether the model has one logit (binary cross-entropy).
METRICS: dict[str, Callable[[bool], keras.metrics.Metric]] = {
    "accuracy": lambda binary: (
        keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")  # one logit > 0
        if binary
        else keras.metrics.SparseCategoricalAccuracy(name="accuracy")  # argmax of logits
    ),
    "exact_match": lambda binary: ExactMatch(binary),
    "perplexity": lambda binary: Perplexity(),
    "mae": lambda binary: keras.metrics.MeanAbsoluteError(name="mae"),
    "rmse": lambda binary: keras.metrics.RootMeanSquaredError(name="rmse"),
}


def _adam(o: OptimizerSpec, common: dict[str, Any]) -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(beta_1=o.beta1, beta_2=o.beta2, epsilon=o.eps, **common)


def _adamw(o: OptimizerSpec, common: dict[str, Any]) -> keras.optimizers.Optimizer:
    # AdamW's own default weight decay is 0.004, not 0
    return keras.optimizers.AdamW(
        beta_1=o.beta1, beta_2=o.beta2, epsilon=o.eps, **{**common, "weight_decay": o.weight_decay}
    )


# Each optimizer name of the catalogue (core/catalog.py), given the keys every optimizer takes.
OPTIMIZERS: dict[str, Callable[[OptimizerSpec, dict[str, Any]], keras.optimizers.Optimizer]] = {
    "sgd": lambda o, common: keras.optimizers.SGD(
        momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0, **common
    ),
    "adam": _adam,
    "adamw": _adamw,
    "rmsprop": lambda o, common: keras.optimizers.RMSprop(
        rho=o.rho, momentum=o.momentum, epsilon=o.eps, **common
    ),
    "adagrad": lambda o, common: keras.optimizers.Adagrad(
        initial_accumulator_value=0.1, epsilon=o.eps, **common
    ),
}


def build_loss(spec: RunSpec) -> keras.losses.Loss:
    """The loss on the model's raw outputs (logits for classification)."""
    return lookup(LOSSES, spec.train.loss, "keras loss")()


def build_metrics(spec: RunSpec) -> list[keras.metrics.Metric]:
    """The spec's metrics as stateful Keras metrics named as the registry names them."""
    binary = spec.train.loss == "binary_cross_entropy"
    return [lookup(METRICS, name, "keras metric")(binary) for name in spec.train.metrics]


def build_optimizer(spec: RunSpec) -> keras.optimizers.Optimizer:
    """The optimizer with a plain float learning rate (a variable `set_lr` assigns), gradient
    clipping by global norm when `grad_clip` is set, and loss scaling for float16.

    Keras applies `weight_decay` decoupled from the gradient (AdamW-style) in every optimizer,
    which is what it means in tuitrain (the torch backend does the same)."""
    o = spec.optimizer
    common: dict[str, Any] = {"learning_rate": o.lr}
    if o.weight_decay:
        common["weight_decay"] = o.weight_decay
    if spec.train.grad_clip > 0:
        common["global_clipnorm"] = spec.train.grad_clip
    opt = lookup(OPTIMIZERS, o.name, "keras optimizer")(o, common)
    if spec.run.precision == "16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def set_lr(optimizer: keras.optimizers.Optimizer, lr: float) -> None:
    """Assign the learning-rate variable in place (compiled steps read it; nothing retraces).

    Eager steps call this every step under per-step schedules: on TensorFlow, assigning the
    backend variable directly skips Keras' wrapper (0.26 ms -> 0.09 ms a step, measured)."""
    variable = optimizer.learning_rate
    raw = getattr(variable, "value", None)
    if keras.backend.backend() == "tensorflow" and hasattr(raw, "assign"):
        raw.assign(lr, read_value=False)
    else:
        variable.assign(lr)


def score(spec: RunSpec, outputs: Any, targets: Any) -> dict[str, float]:
    """Loss and metrics of a whole split's outputs (arrays or device tensors), as plain floats."""
    out = keras.ops.cast(outputs, "float32")
    values = {"loss": build_loss(spec)(targets, out)}
    for metric in build_metrics(spec):
        metric.update_state(targets, out)
        values[metric.name] = metric.result()
    return {k: float(keras.ops.convert_to_numpy(v)) for k, v in values.items()}


def inject_fault(kind: str) -> None:
    """Test hook (core/faults.py): fail the step with the Keras backend's typed out-of-memory
    error, as a full GPU raises it."""
    if kind != "oom":
        return
    message = "out of memory (injected by TUITRAIN_FAULT)"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        raise tf.errors.ResourceExhaustedError(None, None, message)
    import torch

    raise torch.OutOfMemoryError(message)


def set_precision(precision: str) -> None:
    """The global dtype policy: float32, or mixed bf16/float16 (variables stay float32)."""
    keras.mixed_precision.set_global_policy(POLICIES[precision])


# ----- devices ---------------------------------------------------------------------------
def _nvidia_memory() -> list[tuple[int, int]]:
    """(total, free) bytes per GPU from nvidia-smi, where it exists; TF does not report totals."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        query = ["nvidia-smi", "--query-gpu=memory.total,memory.free",
                 "--format=csv,noheader,nounits"]
        out = subprocess.run(query, capture_output=True, text=True, timeout=5, check=True).stdout
        rows = (line.split(",") for line in out.strip().splitlines())
        return [(int(total) << 20, int(free) << 20) for total, free in rows]
    except (OSError, ValueError, subprocess.SubprocessError):
        return []


def cpu_device(framework: str) -> DeviceInfo:
    """The host CPU, as every Keras backend can use it."""
    return DeviceInfo(framework, "cpu", "cpu", f"CPU ({os.cpu_count() or 1} cores)")


def tf_devices(framework: str) -> list[DeviceInfo]:
    """GPUs and the CPU as TensorFlow sees them, without initialising its runtime."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    memory = _nvidia_memory()
    found = []
    for i, gpu in enumerate(gpus):
        name = tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        total, free = memory[i] if len(memory) == len(gpus) else (0, 0)
        found.append(DeviceInfo(framework, f"cuda:{i}", "cuda", name, total, free))
    return [*found, cpu_device(framework)]


def configure_tensorflow(device: DeviceInfo, replicas: int = 1) -> tuple[str, list[str]]:
    """Before TensorFlow touches a GPU: memory growth on every GPU (never reserve all memory;
    TF_FORCE_GPU_ALLOW_GROWTH, set before the import, covers a runtime already started) and
    only the chosen devices visible (`cpu` hides the GPUs): the device, or `replicas` GPUs
    from it on (the runner made the GPUs it claimed the only ones CUDA shows), or on the CPU
    `replicas` logical CPUs. Returns where to place the work, and the replicas' devices."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    index = device_index(device)
    on_cpu = device.kind == "cpu"
    if not on_cpu and index + replicas > len(gpus):
        raise UserError(f"{replicas} replicas from {device.id} on: TensorFlow sees "
                        f"{len(gpus)} GPU(s)")
    try:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        if gpus:
            tf.config.set_visible_devices([] if on_cpu else gpus[index:index + replicas], "GPU")
            index = 0  # the chosen GPUs are now the only ones TensorFlow sees
        if on_cpu and replicas > 1:
            tf.config.set_logical_device_configuration(
                tf.config.list_physical_devices("CPU")[0],
                [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:  # the runtime already started in this process: place explicitly
        if replicas > 1:
            raise
    kind = "cpu" if on_cpu else "gpu"
    return ("cpu" if on_cpu else f"gpu:{index}"), [f"/{kind}:{index + i}" for i in range(replicas)]


def force_host_devices(count: int) -> None:
    """Make the CPU `count` devices for jax (XLA's host platform), before jax starts; GPUs
    are not affected."""
    flag = "--xla_force_host_platform_device_count"
    kept = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(flag)]
    os.environ["XLA_FLAGS"] = " ".join([*kept, f"{flag}={count}"])


def distribute_jax(device: DeviceInfo, replicas: int) -> None:
    """Set Keras' DataParallel distribution over `replicas` jax devices from `device` on (the
    runner made the GPUs it claimed the only ones CUDA shows; on the CPU, the host devices
    `force_host_devices` made): variables replicated, each batch split evenly along its
    first axis."""
    import jax

    found = jax.devices("cpu" if device.kind == "cpu" else "gpu")
    chosen = found[device_index(device):device_index(device) + replicas]
    if len(chosen) < replicas:
        raise UserError(f"{replicas} replicas from {device.id} on: jax sees {len(found)} "
                        f"{'CPU' if device.kind == 'cpu' else 'GPU'} device(s)")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=chosen))


def device_index(device: DeviceInfo) -> int:
    """N of "cuda:N" (0 for "cpu" and "mps")."""
    return int(device.id.partition(":")[2] or 0)


# ----- the shared part of both backends -----------------------------------------------------
def load_error(path: Path, exc: BaseException) -> UserError:
    """A refused or unreadable checkpoint, in one line."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return UserError(f"{path}: cannot load checkpoint safely ({type(exc).__name__}: {first})")


@dataclass(frozen=True)
class Placement:
    """Where a run trains, as `prepare` set it up."""

    device: DeviceInfo
    place: str  # the Keras device name to run under (one device)
    strategy: Any = None  # TensorFlow's strategy on several devices: build in its scope


class KerasEngine(Engine, Protocol):
    """What each of the two backends' engines adds to the Trainer's `Engine`."""

    @property
    def params(self) -> int: ...

    model: Any  # the keras.Model being trained

    def load(self, path: Path, with_optimizer: bool = True) -> None:
        """Restore a checkpoint (never running code from it); a bad file is a UserError."""

    def predict(self, split: Split) -> tuple[Any, Any]:
        """Raw model outputs (logits for classification) for a whole split, and its
        targets (arrays or tensors; empty for an empty split)."""


class KerasFamilyBackend(Backend):
    """Versions, devices, parameter counts, device set-up, training and evaluation flow
    common to the TensorFlow and Keras backends; each supplies its engine."""

    @abstractmethod
    def engine(self, spec: RunSpec, splits: Splits) -> KerasEngine:
        """A fresh engine (model, optimizer, data) for the spec, built on the current device."""

    def versions(self) -> dict[str, str]:
        backend = keras.backend.backend()
        out = {"keras": keras.__version__, "keras_backend": backend,
               backend: importlib.import_module(backend).__version__}
        if backend == "tensorflow":  # a CUDA build says which toolkit and cuDNN it has
            import tensorflow as tf

            build = tf.sysconfig.get_build_info()
            out.update({k: str(build[f"{k}_version"]) for k in ("cuda", "cudnn")
                        if build.get(f"{k}_version")})
        return out

    def devices(self) -> list[DeviceInfo]:
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return tf_devices(self.framework)
        if backend == "torch":
            import torch

            found = [DeviceInfo(self.framework, f"cuda:{i}", "cuda", torch.cuda.get_device_name(i),
                                *torch.cuda.mem_get_info(i)[::-1])
                     for i in range(torch.cuda.device_count())]
            return [*found, cpu_device(self.framework)]
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        found = [DeviceInfo(self.framework, f"cuda:{i}", "cuda", d.device_kind)
                 for i, d in enumerate(gpus)]
        return [*found, cpu_device(self.framework)]

    def count_params(self, spec: RunSpec, info: DatasetInfo) -> int:
        return trainable_params(build_model(spec, info))

    def prepare(self, spec: RunSpec, replicas: int = 1, group: Group = SOLO) -> Placement:
        """Resolve the device and set it up before first use, seed every RNG and set the
        precision; on several devices or machines, start what trains on them before any
        model is built (TensorFlow: MirroredStrategy over `replicas` devices, or among the
        `group`'s machines MultiWorkerMirroredStrategy; jax: Keras' DataParallel)."""
        backend = keras.backend.backend()
        if backend == "jax" and replicas > 1:
            force_host_devices(replicas)  # before jax starts: CPU replicas, when on the CPU
        device = self.resolve_device(spec.run.device)
        strategy = None
        if backend == "tensorflow":
            from tuitrain.backends import tf_steps

            place, devices = configure_tensorflow(device, replicas)
            if group.world_size > 1:
                if not isinstance(group, TcpGroup):
                    raise TypeError(f"TensorFlow's workers meet through a TcpGroup, not {group}")
                strategy = tf_steps.multi_worker(group, replicas)
            elif replicas > 1:
                strategy = tf_steps.mirrored(devices)
        else:
            place = "cpu" if device.kind == "cpu" else f"gpu:{device_index(device)}"
            if backend == "jax" and replicas > 1:
                distribute_jax(device, replicas)
        with native_logs_silenced():  # on its tensorflow backend Keras seeds TensorFlow too
            keras.utils.set_random_seed(spec.run.seed)
        set_precision(spec.run.precision)
        return Placement(device, place, strategy)

    def train(self, trainer: Trainer, splits: Splits,
              resume: Path | None) -> Literal["completed", "stopped"]:
        """Train on the run's device, or on several: TensorFlow's strategy (model and
        optimizer built in its scope: their variables mirrored), or jax's DataParallel
        distribution (set by `prepare`)."""
        spec = trainer.spec
        placement = self.prepare(spec, trainer.replicas, trainer.group)
        device = placement.device
        if spec.run.precision == "16" and device.kind == "cpu":
            trainer.recorder.log("warning", "float16 on CPU is slow; consider --precision bf16")
        building: Any = contextlib.nullcontext()
        placed: Any = keras.device(placement.place)
        if trainer.replicas > 1 or trainer.group.world_size > 1:
            placed = contextlib.nullcontext()  # the strategy or the distribution places it
            if placement.strategy is not None:  # built in its scope, trained through it
                building = placement.strategy.scope()
        with placed:
            with building:
                engine = self.engine(spec, splits)
                if resume is not None:
                    engine.load(resume)
                elif spec.train.init_from:
                    source = spec.train.init_from
                    match = self.init_weights(engine.model, Path(source))
                    trainer.recorder.log("info", match.describe(source))
            replicas = trainer.group.world_size * trainer.replicas
            if trainer.group.world_size > 1:
                parallel = f"MultiWorkerMirrored x{replicas}, {trainer.group.describe()}"
            elif replicas > 1:
                strategy = parallel_strategy(self.framework, keras.backend.backend())
                parallel = f"{strategy} x{replicas}"
            else:
                parallel = ""
            trainer.begin(engine, device.id, device.name, engine.params, self.versions(),
                          non_trainable_params(engine.model), parallel)
            if trainer.group.world_size == 1:
                return trainer.fit()
            from tuitrain.backends import tf_steps

            try:
                return trainer.fit()
            except Exception as exc:  # a worker gone: its machine named, in one line
                raise tf_steps.worker_lost(exc) from None

    @abstractmethod
    def init_weights(self, model: keras.Model, checkpoint: Path) -> finetune.WeightMatch:
        """`--init-from`: load a checkpoint's weights whose names and shapes `model` has (a
        mismatch is a UserError listing it), in this backend's checkpoint format."""

    def check_model(self, spec: RunSpec, info: DatasetInfo, init: bool) -> tuple[int, int]:
        model = build_model(spec, info)
        if spec.model_file is not None:
            out = model(np.zeros((2, *info.input_shape), dtype=info.input_dtype))
            user_model.check_output(spec.model_file, tuple(out.shape[1:]),
                                    needed_output(spec, info))
        if init and spec.train.init_from:
            self.init_weights(model, Path(spec.train.init_from))
        return trainable_params(model), non_trainable_params(model)

    export_formats = {"keras": ".keras", "savedmodel": ""}  # noqa: RUF012

    def export(
        self,
        spec: RunSpec,
        splits: Splits,
        checkpoint: Path,
        dest: Path,
        fmt: str,
        preprocessing: Preprocessing | None,
    ) -> Signature:
        """A `.keras` archive (loads with `keras.saving.load_model`, safe mode) or a TensorFlow
        SavedModel for TF Serving / TFLite conversion."""
        if fmt == "savedmodel" and keras.backend.backend() != "tensorflow":
            raise UserError(
                "savedmodel export needs the tensorflow Keras backend; use --format keras"
            )
        place = self.prepare(spec).place
        with keras.device(place):
            engine = self.engine(spec, splits)
            engine.load(checkpoint, with_optimizer=False)
            model = serving_model(engine.model, preprocessing)
            if fmt == "keras":
                model.save(dest)
            else:
                with native_logs_silenced():
                    model.export(str(dest), format="tf_saved_model", verbose=False)
        x, y = model.inputs[0], model.outputs[0]
        return Signature(tuple(x.shape[1:]), x.dtype, tuple(y.shape[1:]), y.dtype)

    def evaluate(self, spec: RunSpec, splits: Splits, checkpoint: Path, split: Split) -> Evaluation:
        place = self.prepare(spec).place
        with keras.device(place):
            engine = self.engine(spec, splits)
            engine.load(checkpoint, with_optimizer=False)
            outputs, targets = engine.predict(split)
            targets = np.asarray(keras.ops.convert_to_numpy(targets))
            metrics = score(spec, outputs, targets) if len(targets) else {}
        outputs = np.asarray(keras.ops.convert_to_numpy(outputs), dtype=np.float32)
        return Evaluation(metrics, outputs, targets)

    def forward(self, spec: RunSpec, splits: Splits, checkpoint: Path) -> Forward:
        place = self.prepare(spec).place
        with keras.device(place):
            engine = self.engine(spec, splits)
            engine.load(checkpoint, with_optimizer=False)
        model = engine.model

        def run(x: np.ndarray) -> np.ndarray:
            with keras.device(place):
                out = model(x, training=False)
            return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32)

        return run


def serving_model(model: keras.Model, preprocessing: Preprocessing | None) -> keras.Model:
    """The trained model as an export takes it: with the run's saved statistics, a wrapper
    that standardizes raw inputs before it and returns regression outputs in the data's
    units after it (float32 steps, whatever the precision policy)."""
    if preprocessing is None or (preprocessing.inputs is None and preprocessing.targets is None):
        return model
    x = inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
    if preprocessing.inputs is not None:
        mean, std = np.asarray(preprocessing.inputs.mean), np.asarray(preprocessing.inputs.std)
        x = keras.layers.Rescaling(
            (1 / std).tolist(), (-mean / std).tolist(), dtype="float32", name="standardize"
        )(x)
    y = model(x)
    if preprocessing.targets is not None:
        scaling = preprocessing.targets
        y = keras.layers.Rescaling(
            list(scaling.std), list(scaling.mean), dtype="float32", name="to_data_units"
        )(y)
    return keras.Model(inputs, y, name=f"{model.name}_serving")
