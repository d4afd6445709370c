"""The driver's block of train steps as one TensorFlow graph execution, for both engines that
run on TensorFlow (the tensorflow backend's GradientTape step, and Keras' own `train_step` on
its TensorFlow backend).

One call runs every step of the block in a `tf.while_loop`: take the batch from the source
(in memory: gathered on the device; streamed: the block's batches from tf.data, stacked by
`tf_data`), set the learning rate, train, and write the step's values into a slot variable
that the host reads once per log interval. Calling a compiled function
costs about 0.3 ms of Python and runtime overhead, as much as a small model's whole step, so
paying it once per block instead of once per step is what makes these engines faster than a
hand-written per-step loop.

On several devices (`tf.distribute.MirroredStrategy`, `mirrored`) the block takes each
step's global batch as one process would, and every replica trains on its contiguous share
(replica r: the share of DDP rank r; the Sampler made it split evenly): `strategy.run`
steps all replicas, whose gradients the optimizer sums across them (so each replica's loss
is divided by their number: the global batch's mean), and the values written are the mean
over the replicas, the global batch's."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tuitrain.core.batches import BatchSource, InMemorySource

StepFn = Callable[[tf.Tensor, tf.Tensor], Sequence[tf.Tensor]]
MEAN = tf.distribute.ReduceOp.MEAN
ROWS = tf.TensorSpec([None, None], tf.int64)  # a block's index rows, staged as they are


def _rows(block: np.ndarray) -> tf.Tensor:
    return tf.constant(block, tf.int64)


def mirrored(devices: Sequence[str]) -> tf.distribute.Strategy:
    """One replica per device (`/gpu:N`, or logical CPUs), gradients summed by all-reduce;
    the default strategy (no replication) for one device."""
    if len(devices) < 2:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(list(devices))


def in_memory(x: tf.Tensor, y: tf.Tensor) -> InMemorySource[tf.Tensor, tf.Tensor]:
    """A split held whole as tensors, each batch gathered by index inside the graph."""
    return InMemorySource(x, y, to_rows=_rows, take=tf.gather)


class StepBlock:
    """Runs `step(x_batch, y_batch) -> [loss, *metrics]` over blocks of steps, each batch
    from `source` (its `batch` runs inside the graph on the step's part of the staged
    block: `staged` is its TensorSpec), on the replicas of `strategy` (the one the model
    was built in). Blocks run outside that strategy's scope: there a slice of a variable
    cannot be assigned."""

    def __init__(self, step: StepFn, source: BatchSource[Any, tf.Tensor],
                 learning_rate: tf.Variable, n_values: int, n_slots: int,
                 staged: Any = ROWS, strategy: tf.distribute.Strategy | None = None) -> None:
        self.step = step
        self.source = source
        self.learning_rate = learning_rate
        self.strategy = strategy or tf.distribute.get_strategy()
        self.slots = tf.Variable(tf.zeros((n_values, n_slots)), trainable=False,
                                 name="step_values")
        # One trace for every block: any number of steps, full or short batches.
        self._run = tf.function(self._block, input_signature=[
            staged, tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32)])

    def _block(self, staged: Any, lrs: tf.Tensor, slot: tf.Tensor) -> None:
        for i in tf.range(tf.shape(lrs)[0]):
            self.learning_rate.assign(lrs[i])
            step = tf.nest.map_structure(operator.itemgetter(i), staged)
            batch = self.source.batch(step)
            if self.strategy.num_replicas_in_sync == 1:
                values = self.step(*batch)
            else:
                per_replica = self.strategy.run(self._replica_step, args=batch)
                values = [self.strategy.reduce(MEAN, v, axis=None) for v in per_replica]
            self.slots[:, slot + i].assign(tf.stack([tf.cast(v, tf.float32) for v in values]))

    def _replica_step(self, xb: Any, yb: Any) -> list[tf.Tensor]:
        """One replica's step on its share of the global batch (x and y, any structure)."""
        context = tf.distribute.get_replica_context()
        n = tf.shape(tf.nest.flatten(yb)[0])[0] // context.num_replicas_in_sync
        start = context.replica_id_in_sync_group * n
        mine = tf.nest.map_structure(lambda t: t[start:start + n], (xb, yb))
        return [tf.cast(v, tf.float32) for v in self.step(*mine)]

    def __call__(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        self._run(self.source.stage(batches), tf.constant(lrs, tf.float32),
                  tf.constant(slot, tf.int32))

    def read(self, n: int) -> np.ndarray:
        """The first n slots' values, one row per value (one host read)."""
        return self.slots[:, :n].numpy().astype(np.float64)
