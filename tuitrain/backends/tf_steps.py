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

import json
import operator
import os
import re
import signal
import socket
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tuitrain.core.batches import BatchSource, InMemorySource
from tuitrain.core.errors import UserError
from tuitrain.core.tcp_group import PeerLost, TcpGroup

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


def multi_worker(group: TcpGroup, replicas: int) -> tf.distribute.Strategy:
    """TensorFlow's MultiWorkerMirroredStrategy among the run's machines, one worker each
    (its GPUs, or its CPU): every worker's server address (this machine's as the others
    reach it, a free port) gathered through the `group`, written to TF_CONFIG as a cluster
    manager would, before the strategy reads it. Gradients are all-reduced by TensorFlow's
    collectives among all replicas of all workers."""
    with socket.socket() as probe:  # a free port for this worker's server
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    workers = group.all_gather(f"{group.address}:{port}")
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers},
                                          "task": {"type": "worker", "index": group.rank}})
    # Its coordination service takes SIGTERM and SIGINT over (at the C level, unseen by
    # `signal.getsignal`): the run's own stop handlers are put back.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    local = len(strategy.extended.worker_devices)
    if local != replicas:
        raise UserError(f"--devices {replicas}: TensorFlow's MultiWorkerMirroredStrategy trains "
                        f"on {local} device(s) of this machine (every GPU it sees, or the CPU "
                        "as one); on the CPU use --devices 1")
    return strategy


def worker_lost(exc: BaseException) -> BaseException:
    """A collective that failed because another machine's worker is gone (its connection
    reset: the process died), as one line naming that machine; anything else as it is."""
    if not isinstance(exc, tf.errors.UnavailableError | tf.errors.CancelledError):
        return exc
    text = str(exc)
    task = re.search(r"/job:worker/replica:\d+/task:(\d+)", text)
    why = re.search(r'grpc_message:"([^"]+)"', text)
    who = f"node {task.group(1)}" if task else "another machine's worker"
    return PeerLost(f"{who} left the run: TensorFlow's all-reduce failed "
                    f"({why.group(1) if why else type(exc).__name__})")


def in_memory(x: tf.Tensor, y: tf.Tensor) -> InMemorySource[tf.Tensor, tf.Tensor]:
    """A split held whole as tensors, each batch gathered by index inside the graph."""
    return InMemorySource(x, y, to_rows=_rows, take=tf.gather)


class StepBlock:
    """Runs `step(x_batch, y_batch) -> [loss, *metrics, gradient norm]` over blocks of
    steps, each batch from `source` (its `batch` runs inside the graph on the step's part of
    the staged block: `staged` is its TensorSpec), on the replicas of `strategy` (the one the model
    was built in). Blocks run outside that strategy's scope: there a slice of a variable
    cannot be assigned."""

    def __init__(self, step: StepFn, source: BatchSource[Any, tf.Tensor],
                 learning_rate: tf.Variable, n_values: int, n_slots: int,
                 staged: Any = ROWS, strategy: tf.distribute.Strategy | None = None) -> None:
        self.step = step
        self.source = source
        self.learning_rate = learning_rate
        self.strategy = strategy or tf.distribute.get_strategy()
        # This process's replicas (all of them, but on several machines its own) and the
        # number in sync of its first: each takes its share of this process's batch.
        synced = self.strategy.num_replicas_in_sync
        self.local = len(self.strategy.extended.worker_devices) if synced > 1 else 1
        resolver = self.strategy.cluster_resolver if synced > 1 else None
        self.first = (resolver.task_id or 0) * self.local if resolver is not None else 0
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
        """One replica's step on its share of this process's batch (x and y, any
        structure: the global batch, or on several machines this one's shares of it)."""
        context = tf.distribute.get_replica_context()
        n = tf.shape(tf.nest.flatten(yb)[0])[0] // self.local
        start = (context.replica_id_in_sync_group - self.first) * n
        mine = tf.nest.map_structure(lambda t: t[start:start + n], (xb, yb))
        return [tf.cast(v, tf.float32) for v in self.step(*mine)]

    def __call__(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        self._run(self.source.stage(batches), tf.constant(lrs, tf.float32),
                  tf.constant(slot, tf.int32))

    def read(self, n: int) -> np.ndarray:
        """The first n slots' values, one row per value (one host read)."""
        return self.slots[:, :n].numpy().astype(np.float64)
