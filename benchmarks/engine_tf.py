"""Figures 1 (TensorFlow, Keras) and 9: tuitrain's TensorFlow and Keras engines against the
loops a person writes by hand, in one process (Keras on its TensorFlow backend).

Five loops train the same network (tuitrain's `keras_layers.build_model` for the preset) on
the same data with the same batch size, seed and cosine learning-rate curve:
- `tf_hand`: a plain `tf.function` GradientTape step; data as device tensors gathered by
  index; loss sum and correct count accumulated in `tf.Variable`s inside the step and read once
  per epoch; the learning rate a Keras `CosineDecay` schedule (no per-step Python).
- `tf_tuitrain`: tuitrain's TensorFlow engine driven by the shared `Trainer` (default logging).
- `keras_fit`: plain `model.compile(...)` + `model.fit(x, y, epochs=BLOCK, shuffle=True,
  verbose=0)`, one call per repetition, same `CosineDecay` schedule.
- `keras_fit_spe`: the same with `compile(steps_per_execution=LOG_EVERY)`, Keras' own answer
  to per-step overhead (the strongest plain-Keras baseline).
- `keras_tuitrain`: tuitrain's Keras engine (Keras' `train_step` in blocks, driven by the
  Trainer).

Repetitions rotate the order of the five; each is BLOCK epochs of training steps. Validation
and checkpoints at epoch ends are excluded from tuitrain's time (the baselines do neither).
Each figure is judged on the per-rotation ratios baseline/tuitrain time (1.0 = no overhead).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np

from benchmarks.common import emit, median
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.data import load_splits
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir
from tuitrain.core.trainer import Trainer


class BenchTrainer(Trainer):
    """The real Trainer, stopping after every `block` epochs so that repetitions can
    interleave, and timing its epoch-end work (validation, checkpoints) to leave it out."""

    block = 1
    excluded = 0.0

    def epoch_done(self, val):  # type: ignore[override]
        t0 = time.perf_counter()
        go = super().epoch_done(val)
        self.flush_checkpoints()  # its background write is epoch-end work too: left out
        self.excluded += time.perf_counter() - t0
        return go and self.pos.epoch % self.block != 0

    def stop(self):  # type: ignore[override]
        return "stopped"  # a pause between repetitions, not a real stop: no checkpoint


def timed_evaluate(engine, trainer: BenchTrainer) -> None:
    original = engine.evaluate

    def evaluate(split):
        t0 = time.perf_counter()
        try:
            return original(split)
        finally:
            trainer.excluded += time.perf_counter() - t0

    engine.evaluate = evaluate


def tuitrain_runner(framework: str, spec, splits, folder: Path, block: int):
    import importlib

    backend = importlib.import_module(f"tuitrain.backends.{framework}_backend").BACKEND
    run = RunDir.create(folder, spec)
    store = CheckpointStore(
        run.checkpoints,
        backend.checkpoint_suffix,
        spec.train.keep_checkpoints,
        backend.checkpoint_is_dir,
    )
    trainer = BenchTrainer(spec, run, len(splits.x_train), store)
    trainer.block = block
    engine = backend.engine(spec, splits)
    trainer.begin(engine, "cpu", "cpu", engine.params, backend.versions())
    timed_evaluate(engine, trainer)

    def go() -> float:
        trainer.excluded = 0.0
        t0 = time.perf_counter()
        trainer.fit()
        return time.perf_counter() - t0 - trainer.excluded

    return go


def cosine_optimizer(spec, total_steps: int):
    import keras

    from tuitrain.backends import keras_layers as kl

    opt = kl.build_optimizer(spec)
    schedule = keras.optimizers.schedules.CosineDecay(spec.optimizer.lr, total_steps)
    config = opt.get_config()
    config["learning_rate"] = schedule
    return type(opt).from_config(config)


def tf_hand_runner(spec, splits, block: int, total_steps: int):
    import keras
    import tensorflow as tf

    from tuitrain.backends import keras_layers as kl

    keras.utils.set_random_seed(spec.run.seed)
    model = kl.build_model(spec, splits.info)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = cosine_optimizer(spec, total_steps)
    x, y = tf.constant(splits.x_train), tf.constant(splits.y_train)
    loss_sum = tf.Variable(0.0)
    correct = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def step(idx):
        xb, yb = tf.gather(x, idx), tf.gather(y, idx)
        with tf.GradientTape() as tape:
            out = model(xb, training=True)
            loss = loss_fn(yb, out)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply(grads, model.trainable_variables)
        loss_sum.assign_add(loss * tf.cast(tf.shape(idx)[0], tf.float32))
        correct.assign_add(tf.reduce_sum(tf.cast(tf.argmax(out, -1) == yb, tf.int64)))

    n, bs = len(splits.x_train), spec.train.batch_size
    steps = math.ceil(n / bs)
    epoch = [0]

    def go() -> float:
        t0 = time.perf_counter()
        for _ in range(block):
            order = np.random.default_rng([spec.run.seed, epoch[0]]).permutation(n)
            loss_sum.assign(0.0)
            correct.assign(0)
            for s in range(steps):
                step(tf.constant(order[s * bs : (s + 1) * bs]))
            float(loss_sum.numpy()), int(correct.numpy())  # the epoch's one read
            epoch[0] += 1
        return time.perf_counter() - t0

    return go


def keras_fit_runner(spec, splits, block: int, total_steps: int, per_execution: int = 1):
    import keras

    from tuitrain.backends import keras_layers as kl

    keras.utils.set_random_seed(spec.run.seed)
    model = kl.build_model(spec, splits.info)
    model.compile(
        optimizer=cosine_optimizer(spec, total_steps),
        loss=kl.build_loss(spec),
        metrics=kl.build_metrics(spec),
        steps_per_execution=per_execution,
    )
    x, y = splits.x_train, splits.y_train

    def go() -> float:
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=spec.train.batch_size, epochs=block, shuffle=True, verbose=0)
        return time.perf_counter() - t0

    return go


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("preset")
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--block", type=int, default=2, help="epochs per repetition")
    a = p.parse_args()
    from tuitrain.backends import keras_layers  # noqa: F401  (quiet TF logs, Keras backend)

    epochs = (a.reps + 1) * a.block + 2
    spec = load_spec(a.preset, {"train.epochs": epochs})
    splits = load_splits(spec.data, spec.run.seed, task=spec.task)
    total = epochs * math.ceil(len(splits.x_train) / spec.train.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        runners = {
            "tf_hand": tf_hand_runner(spec, splits, a.block, total),
            "tf_tuitrain": tuitrain_runner("tensorflow", spec, splits, Path(tmp, "tf"), a.block),
            "keras_fit": keras_fit_runner(spec, splits, a.block, total),
            "keras_fit_spe": keras_fit_runner(spec, splits, a.block, total, spec.train.log_every),
            "keras_tuitrain": tuitrain_runner("keras", spec, splits, Path(tmp, "k"), a.block),
        }
        for go in runners.values():  # warm-up: tracing, first-call costs
            go()
        times: dict[str, list[float]] = {k: [] for k in runners}
        names = list(runners)
        for r in range(a.reps):
            for k in names[r % len(names) :] + names[: r % len(names)]:
                times[k].append(runners[k]())

    def ratios(base: str, ours: str) -> list[float]:
        return [b / o for b, o in zip(times[base], times[ours], strict=True)]

    steps = a.block * math.ceil(len(splits.x_train) / spec.train.batch_size)
    emit(
        {
            "preset": a.preset,
            "steps_per_block": steps,
            "ms_per_step": {k: 1e3 * median(v) / steps for k, v in times.items()},
            "tf_ratio": ratios("tf_hand", "tf_tuitrain"),
            "keras_ratio": ratios("keras_fit", "keras_tuitrain"),
            "keras_spe_ratio": ratios("keras_fit_spe", "keras_tuitrain"),
            "keras_vs_custom": ratios("tf_hand", "keras_tuitrain"),
            "times": times,
        }
    )


if __name__ == "__main__":
    main()
