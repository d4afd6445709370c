"""The driver's block of train steps as one TensorFlow graph execution, for both engines that
run on TensorFlow (the tensorflow backend's GradientTape step, and Keras' own `train_step` on
its TensorFlow backend).

One call runs every step of the block in a `tf.while_loop`: take the batch from the source
(in memory: gathered on the device; streamed: the block's batches from tf.data, stacked by
`tf_data`), set the learning rate, train, and write the step's values into a slot variable
that the host reads once per log interval. Calling a compiled function
costs about 0.3 ms of Python and runtime overhead, as much as a small model's whole step, so
paying it once per block instead of once per step is what makes these engines faster than a
hand-written per-step loop."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tuitrain.core.batches import BatchSource, InMemorySource

StepFn = Callable[[tf.Tensor, tf.Tensor], Sequence[tf.Tensor]]
ROWS = tf.TensorSpec([None, None], tf.int64)  # a block's index rows, staged as they are


def _rows(block: np.ndarray) -> tf.Tensor:
    return tf.constant(block, tf.int64)


def in_memory(x: tf.Tensor, y: tf.Tensor) -> InMemorySource[tf.Tensor, tf.Tensor]:
    """A split held whole as tensors, each batch gathered by index inside the graph."""
    return InMemorySource(x, y, to_rows=_rows, take=tf.gather)


class StepBlock:
    """Runs `step(x_batch, y_batch) -> [loss, *metrics]` over blocks of steps, each batch
    from `source` (its `batch` runs inside the graph on the step's part of the staged
    block: `staged` is its TensorSpec)."""

    def __init__(self, step: StepFn, source: BatchSource[Any, tf.Tensor],
                 learning_rate: tf.Variable, n_values: int, n_slots: int,
                 staged: Any = ROWS) -> None:
        self.step = step
        self.source = source
        self.learning_rate = learning_rate
        self.slots = tf.Variable(tf.zeros((n_values, n_slots)), trainable=False,
                                 name="step_values")
        # One trace for every block: any number of steps, full or short batches.
        self._run = tf.function(self._block, input_signature=[
            staged, tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32)])

    def _block(self, staged: Any, lrs: tf.Tensor, slot: tf.Tensor) -> None:
        for i in tf.range(tf.shape(lrs)[0]):
            self.learning_rate.assign(lrs[i])
            step = tf.nest.map_structure(operator.itemgetter(i), staged)
            values = self.step(*self.source.batch(step))
            self.slots[:, slot + i].assign(tf.stack([tf.cast(v, tf.float32) for v in values]))

    def __call__(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        self._run(self.source.stage(batches), tf.constant(lrs, tf.float32),
                  tf.constant(slot, tf.int32))

    def read(self, n: int) -> np.ndarray:
        """The first n slots' values, one row per value (one host read)."""
        return self.slots[:, :n].numpy().astype(np.float64)
