"""The plain Keras-on-JAX data-parallel loop the `ddp keras-jax` figure compares tuitrain with
(`python -m benchmarks.jax_plain PRESET --epochs E --devices N`, on N forced host devices).

What a careful person writes from Keras' distribution guide: `XLA_FLAGS` makes the CPU N
devices, `keras.distribution.set_distribution(DataParallel(...))` before the model is built,
then the preset's network (tuitrain's Keras `build_model`, so the model is the same)
compiled with its loss, optimizer and metrics, and `fit` one epoch at a time on a
permutation of the in-memory training split (global batches; `fit` shards each one), the
validation split evaluated after each (trimmed to a multiple of the devices: `evaluate`
shards its batches too) and the model saved, as tuitrain does between epochs (its write in
the background). Prints the seconds of each epoch, validation included, as one JSON line."""

from __future__ import annotations

import json
import os
import tempfile
import time

from benchmarks.common import plain_loop_args


def main() -> None:
    a = plain_loop_args()
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={a.devices}"
    import jax
    import keras
    import numpy as np

    from tuitrain.backends import keras_layers as kl
    from tuitrain.core.data import load_splits
    from tuitrain.core.presets import load_spec

    spec = load_spec(a.preset, {"train.epochs": a.epochs, "run.framework": "keras",
                                "run.keras_backend": "jax"})
    splits = load_splits(spec.data, spec.run.seed, task=spec.task)
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices("cpu")[:a.devices]))
    keras.utils.set_random_seed(spec.run.seed)
    model = kl.build_model(spec, splits.info)
    model.compile(optimizer=kl.build_optimizer(spec), loss=kl.build_loss(spec),
                  metrics=kl.build_metrics(spec))
    x_train, y_train = splits.x_train, splits.y_train
    keep = len(splits.x_val) // a.devices * a.devices
    x_val, y_val = splits.x_val[:keep], splits.y_val[:keep]
    bs, n = spec.train.batch_size, len(x_train) // spec.train.batch_size * spec.train.batch_size
    path = os.path.join(tempfile.mkdtemp(), "model.keras")
    seconds = []
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        order = np.random.default_rng([spec.run.seed, epoch]).permutation(len(x_train))[:n]
        model.fit(x_train[order], y_train[order], batch_size=bs, epochs=1, shuffle=False,
                  verbose=0)
        logs = model.evaluate(x_val, y_val, batch_size=keep, verbose=0, return_dict=True)
        model.save(path)
        seconds.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": seconds, "steps": n // bs, "logs": logs}), flush=True)


if __name__ == "__main__":
    main()
