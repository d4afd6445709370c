"""The plain MirroredStrategy loop the `mirrored` figure compares tuitrain with
(`python -m benchmarks.mirrored_plain PRESET --epochs E --devices N`, on N logical CPUs).

What a careful person writes from TensorFlow's "Custom training with tf.distribute.Strategy"
tutorial: the preset's network (tuitrain's Keras `build_model`, so the model is the same) and
Adam built in the strategy's scope; each epoch a permutation of the in-memory training split
as a tf.data dataset of global batches, distributed by the strategy (each replica its slice
of every global batch); a `tf.function` step that runs the replicas' steps (`strategy.run`)
and sums their losses; then the model validates on the validation split and a checkpoint of
model and optimizer is written, as tuitrain does between epochs (its write in the
background). Prints the seconds of each epoch, validation included, as one JSON line."""

from __future__ import annotations

import json
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from benchmarks.common import plain_loop_args
from tuitrain.core.data import load_splits
from tuitrain.core.presets import load_spec


def main() -> None:
    a = plain_loop_args()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * a.devices)
    from tuitrain.backends import keras_layers as kl

    spec = load_spec(a.preset, {"train.epochs": a.epochs})
    splits = load_splits(spec.data, spec.run.seed, task=spec.task)
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(a.devices)])
    with strategy.scope():
        model = kl.build_model(spec, splits.info)
        opt = kl.build_optimizer(spec)
        opt.build(model.trainable_variables)  # its slots made here, not inside the step
        loss_fn = kl.build_loss(spec)  # a Keras loss: divided by the replicas inside one

    def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    @tf.function
    def distributed_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        losses = strategy.run(train_step, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    predict = tf.function(lambda x: model(x, training=False))
    x_train, y_train = splits.x_train, splits.y_train
    x_val, y_val = tf.constant(splits.x_val), splits.y_val
    bs, n = spec.train.batch_size, len(x_train)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=opt)
    folder = tempfile.mkdtemp()
    seconds = []
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        order = np.random.default_rng([spec.run.seed, epoch]).permutation(n)
        data = tf.data.Dataset.from_tensor_slices((x_train[order], y_train[order]))
        for x, y in strategy.experimental_distribute_dataset(data.batch(bs, drop_remainder=True)):
            distributed_step(x, y)
        accuracy = float(np.mean(np.argmax(predict(x_val).numpy(), -1) == y_val))
        checkpoint.write(os.path.join(folder, "ckpt"))
        seconds.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": seconds, "steps": n // bs, "accuracy": accuracy}), flush=True)


if __name__ == "__main__":
    main()
