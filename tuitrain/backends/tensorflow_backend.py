"""The TensorFlow backend, in the lower-level TF style: the preset's Keras-built network trained
by a `tf.GradientTape` step, compiled with `tf.function` and run a block of steps per call
(`tf_steps`). The data lives on the device as tensors and each batch is gathered by index
(the in-memory batch source);
per-step loss and metrics are written into a device-side variable that the host reads once
per log interval. Checkpoints are `tf.train.Checkpoint`s (model, optimizer and the dropout RNG
state) in a folder, written from a host copy of the model off the training path (keras_mirror)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tuitrain.core import finetune
from tuitrain.core.batches import BatchSource
from tuitrain.core.data import Splits
from tuitrain.core.measures import GRAD_NORM
from tuitrain.core.sources import collect
from tuitrain.core.spec import RunSpec
from tuitrain.core.trainer import Split

# Keras reads its backend once, at import: this backend needs Keras on TensorFlow.
if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    raise ImportError("the tensorflow backend needs Keras on TensorFlow, but Keras was imported "
                      f"with KERAS_BACKEND={os.environ['KERAS_BACKEND']!r} in this process")
os.environ["KERAS_BACKEND"] = "tensorflow"

from tuitrain.backends import keras_layers as kl
from tuitrain.backends import tf_data, tf_steps
from tuitrain.backends.keras_grad_norm import GradNorm
from tuitrain.backends.keras_mirror import HostMirror

# isort: split
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

CHECKPOINT_PREFIX = "ckpt"  # the files inside a checkpoint folder: ckpt.index, ckpt.data-*


class TensorFlowEngine:
    """The model, optimizer and device-resident data of one run; build it on its device."""

    def __init__(self, spec: RunSpec, splits: Splits) -> None:
        self.spec = spec
        self.model = kl.build_model(spec, splits.info)
        self.loss = kl.build_loss(spec)
        self.metrics = kl.build_metrics(spec)
        self.opt = kl.build_optimizer(spec)
        self.opt.build(self.model.trainable_variables)  # slots exist before any restore
        self.grad_norm = GradNorm(self.opt)
        self.names = ["loss", *spec.train.metrics, GRAD_NORM]
        self.strategy = tf.distribute.get_strategy()  # the one it is built in
        self.replicas = self.strategy.num_replicas_in_sync
        self.splits = splits
        self.source: BatchSource[Any, tf.Tensor]
        if splits.streams is None:
            self.source = tf_steps.in_memory(tf.constant(splits.x_train),
                                             tf.constant(splits.y_train))
            self.data = {
                "val": (tf.constant(splits.x_val), tf.constant(splits.y_val)),
                "test": (tf.constant(splits.x_test), tf.constant(splits.y_test)),
            }
            staged = tf_steps.ROWS
        else:  # streamed: tf.data loads each batch; evaluation reads the splits in batches
            self.source = tf_data.streamed(splits.streams)
            staged = self.source.staged
        self.block = tf_steps.StepBlock(self._train_step, self.source,
                                        self.opt.learning_rate, len(self.names),
                                        spec.train.log_every, staged, self.strategy)
        self._forward = tf.function(self._predict, reduce_retracing=True)
        self._mirror: HostMirror | None = None  # checkpoints are written from it (snapshot)

    @property
    def params(self) -> int:
        return kl.trainable_params(self.model)

    # ----- compiled functions ------------------------------------------------------------
    def _train_step(self, xb: tf.Tensor, yb: tf.Tensor) -> list[tf.Tensor]:
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            out = tf.cast(self.model(xb, training=True), tf.float32)
            loss = self.loss(yb, out)
            scaled = self.opt.scale_loss(loss)  # loss scaling for float16; identity otherwise
        grads = tape.gradient(scaled, variables)
        self.opt.apply(grads, variables)  # unscales, clips by global norm when set, steps
        # On several replicas a Keras loss is the replica's share of the global mean (its
        # mean / replicas), as the summed gradients need; the value reported is its mean.
        values = [loss * self.replicas if self.replicas > 1 else loss]
        for metric in self.metrics:
            metric.reset_state()
            metric.update_state(yb, out)
            values.append(metric.result())
        return [*values, self.grad_norm.take()]

    def _predict(self, x: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.model(x, training=False), tf.float32)

    # ----- Engine ------------------------------------------------------------------------
    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        self.source.start_epoch(epoch, rows)

    def train_steps(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        self.block(batches, lrs, slot)

    def read_slots(self, n: int) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.block.read(n), strict=True))

    def _batches(self, split: Split) -> Iterator[tuple[tf.Tensor, Any]]:
        """A split's x and y in evaluation batches: slices of the tensors held on the
        device, or batches read from the streams."""
        bs = max(self.spec.train.batch_size, 256)
        if self.splits.streams is None:
            x, y = self.data[split]
            return ((x[i:i + bs], y[i:i + bs]) for i in range(0, int(x.shape[0]), bs))
        return ((tf.constant(x), y) for x, y in self.splits.streams.batches(split, bs))

    def predict(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        size = self.splits.size(split)
        got = collect(size, ((self._forward(x).numpy(), np.asarray(y))
                             for x, y in self._batches(split)))
        return got or (np.zeros((0,), np.float32), np.zeros((0,)))

    def evaluate(self, split: Split) -> dict[str, float]:
        outputs, y = self.predict(split)
        return kl.score(self.spec, outputs, y) if len(y) else {}

    def inject_fault(self, kind: str) -> None:
        kl.inject_fault(kind)

    # ----- checkpoints -------------------------------------------------------------------
    def snapshot(self) -> Callable[[Path], None]:
        if self._mirror is None:
            self._mirror = HostMirror(self.model, self.opt, write_checkpoint)
        return self._mirror.snapshot()

    def load(self, path: Path, with_optimizer: bool = True) -> None:
        try:
            if not (path / f"{CHECKPOINT_PREFIX}.index").is_file():
                raise FileNotFoundError(f"no {CHECKPOINT_PREFIX}.index in the folder")
            prefix = str(path / CHECKPOINT_PREFIX)
            seeds = with_optimizer and any(  # checkpoints from before they were saved lack them
                name.startswith("seeds/") for name, _ in tf.train.list_variables(prefix))
            optimizer = self.opt if with_optimizer else None
            status = checkpoint_of(self.model, optimizer, seeds).read(prefix)
            if with_optimizer:
                status.assert_existing_objects_matched()
            else:
                status.expect_partial()
        except (tf.errors.OpError, AssertionError, ValueError, OSError) as exc:
            raise kl.load_error(path, exc) from None


def checkpoint_of(model: Any, optimizer: Any = None, seeds: bool = True) -> tf.train.Checkpoint:
    """The checkpoint object of a model (with its optimizer, unless None) and its dropout
    masks' RNG state (`seeds`: a resume continues the stream)."""
    parts: dict[str, Any] = {"model": model}
    if optimizer is not None:
        parts["optimizer"] = optimizer
    states = kl.seed_states(model)
    if seeds and states:
        parts["seeds"] = states
    return tf.train.Checkpoint(**parts)


def write_checkpoint(model: Any, optimizer: Any, path: Path) -> None:
    """A model, its optimizer and its seed states as a checkpoint folder at `path`."""
    path.mkdir(parents=True, exist_ok=True)
    checkpoint_of(model, optimizer).write(str(path / CHECKPOINT_PREFIX))


class TensorFlowBackend(kl.KerasFamilyBackend):
    framework = "tensorflow"
    checkpoint_suffix = ".tfckpt"
    checkpoint_is_dir = True

    def engine(self, spec: RunSpec, splits: Splits) -> TensorFlowEngine:
        return TensorFlowEngine(spec, splits)

    def init_weights(self, model: Any, checkpoint: Path) -> finetune.WeightMatch:
        """Weights matched by their path from the model in the checkpoint's object graph
        (attribute names and list indexes: `_operations/1/_kernel`), as `tf.train.Checkpoint`
        restores them."""
        prefix = str(checkpoint / CHECKPOINT_PREFIX)
        try:
            source = _model_variables(prefix)
        except (tf.errors.OpError, ValueError) as exc:
            raise kl.load_error(checkpoint, exc) from None
        with tempfile.TemporaryDirectory() as tmp:
            written = tf.train.Checkpoint(model=model).write(os.path.join(tmp, CHECKPOINT_PREFIX))
            target = _model_variables(written)
        match = finetune.match_weights(source, target, str(checkpoint))
        tf.train.Checkpoint(model=model).read(prefix).expect_partial()
        return match


def _model_variables(prefix: str) -> dict[str, tuple[int, ...]]:
    """The model's variables in a checkpoint, path -> shape: each variable by its first path
    from the model in the checkpoint's object graph (the file itself may hold it under
    another object that shares it, such as the optimizer)."""
    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    shapes = reader.get_variable_to_shape_map()
    found: dict[str, tuple[int, ...]] = {}
    model = next((c.node_id for c in graph.nodes[0].children if c.local_name == "model"), None)
    seen = {model}
    todo = [(model, "")] if model is not None else []
    while todo:  # breadth first: the shortest path names a variable
        node_id, path = todo.pop(0)
        for attribute in graph.nodes[node_id].attributes:
            if attribute.name == "VARIABLE_VALUE":
                found[path] = tuple(shapes[attribute.checkpoint_key])
        for child in graph.nodes[node_id].children:
            if child.node_id not in seen:
                seen.add(child.node_id)
                todo.append((child.node_id, f"{path}/{child.local_name}".lstrip("/")))
    return found


BACKEND = TensorFlowBackend()
