"""The checkpoint figures: what saving a real-size model costs training, in one framework
(`python -m benchmarks.checkpoint_cost FRAMEWORK --pairs N`, in its own process).

The model is a wide MLP built through the preset spec (WIDE_MLP: 25.5M parameters; with
Adam's two moments about 300 MB of state per checkpoint) on the built-in digits, trained by
the framework's own engine under the Trainer, saved by `Trainer.save_checkpoint` into a
checkpoint store on this machine's disk, as the runner does.

Each pair of repetitions, in alternating order:
- plain: two epochs without a save (the second is timed), then one synchronous save (the
  same checkpoint written, fsynced and renamed with training waiting: `save_checkpoint` then
  `flush_checkpoints`), timed;
- saving: two epochs, each ending with a save (the second epoch is timed, save included: it
  runs while the first one's checkpoint is written in the background), then the writer is
  flushed, untimed.

Figures per pair: (a) the time the timed save kept training waiting (the copy to host memory,
and any wait for the previous write) / the synchronous save's time; (b) the saving epoch's
time / the plain epoch's. The epoch is sized from a calibration so that a synchronous save
every epoch would make it 1.5x as long (steps = 2 x save / step time): short enough that the
background writer's competition for the interpreter lock and the cores shows in (b).
Validation is not part of an epoch here (as in the engine figures)."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import emit, median

WIDE_MLP = """\
name = "wide-mlp-digits"
description = "a 25.5M-parameter MLP on the digits: the checkpoint-cost benchmark's model"
task = "classification"

[data]
dataset = "digits"

[model]
layers = [
  { type = "flatten" },
  { type = "dense", units = 4096, activation = "relu" },
  { type = "dense", units = 4096, activation = "relu" },
  { type = "dense", units = 2048, activation = "relu" },
  { type = "dense", units = "auto" },
]

[train]
loss = "cross_entropy"
epochs = 100000
batch_size = 32
log_every = 25
metrics = ["accuracy"]

[optimizer]
name = "adam"
lr = 0.0001
"""
MAX_STEPS = 4000  # the longest epoch the calibration may ask for
SYNC_SHARE = 0.5  # a synchronous save adds this share of an epoch (1.5x)


@contextmanager
def framework(name: str, spec: Any, splits: Any) -> Iterator[tuple[Any, str, Callable[[], Any]]]:
    """The framework's backend, its device and an engine factory, under the device scope the
    backend trains in."""
    if name == "keras":
        os.environ["KERAS_BACKEND"] = spec.run.keras_backend
    from tuitrain import backends

    backend = backends.load(name)
    if name == "torch":
        from tuitrain.backends.torch_backend import TorchEngine

        device = backend.resolve_device(spec.run.device)
        yield backend, device.id, lambda: TorchEngine(spec, splits, device.id)
        return
    import keras

    placement = backend.prepare(spec)
    with keras.device(placement.place):
        yield backend, placement.device.id, lambda: backend.engine(spec, splits)


def measure(name: str, pairs: int) -> dict:
    from tuitrain.core.checkpoints import CheckpointStore
    from tuitrain.core.data import load_splits
    from tuitrain.core.presets import load_spec
    from tuitrain.core.rundir import RunDir
    from tuitrain.core.trainer import Position, Trainer

    with tempfile.TemporaryDirectory() as tmp:
        preset = Path(tmp) / "wide-mlp-digits.toml"
        preset.write_text(WIDE_MLP)
        spec = load_spec(str(preset), {"run.framework": name})
        splits = load_splits(spec.data, spec.run.seed, task=spec.task)
        # Room for the longest epoch: the training split repeated (the sampler picks rows).
        rows = np.arange(MAX_STEPS * spec.train.batch_size) % len(splits.x_train)
        splits = replace(splits, x_train=splits.x_train[rows], y_train=splits.y_train[rows])
        with framework(name, spec, splits) as (backend, device, build):
            engine = build()
            run = RunDir.create(Path(tmp) / "runs", spec)
            store = CheckpointStore(
                run.checkpoints,
                backend.checkpoint_suffix,
                spec.train.keep_checkpoints,
                backend.checkpoint_is_dir,
            )

            def trainer_of(steps: int) -> Trainer:
                trainer = Trainer(spec, run, steps * spec.train.batch_size, store)
                trainer.begin(engine, device, device, engine.params, {})
                return trainer

            def epoch(trainer: Trainer) -> float:
                t0 = time.perf_counter()
                if not trainer.train_epoch():
                    raise RuntimeError("stopped")
                spent = time.perf_counter() - t0
                trainer.pos = Position(trainer.pos.epoch + 1, 0, trainer.pos.global_step)
                return spent

            def save(trainer: Trainer, wait: bool) -> float:
                t0 = time.perf_counter()
                trainer.save_checkpoint(best=False)
                if wait:
                    trainer.flush_checkpoints()
                return time.perf_counter() - t0

            # Calibration: a step's time, then a synchronous save's (after a first save,
            # which builds what later ones reuse: the Keras host mirror).
            probe = trainer_of(20)
            epoch(probe)
            step = epoch(probe) / 20
            save(probe, wait=True)
            epoch(probe)
            sync = save(probe, wait=True)
            steps = min(MAX_STEPS, max(4, math.ceil(sync / SYNC_SHARE / step)))
            trainer = trainer_of(steps)
            trainer.pos = Position(0, 0, probe.pos.global_step)
            out: dict[str, list[float]] = {"plain": [], "saving": [], "sync": [], "blocked": []}

            def plain() -> None:
                epoch(trainer)
                out["plain"].append(epoch(trainer))
                out["sync"].append(save(trainer, wait=True))

            def saving() -> None:
                epoch(trainer)
                save(trainer, wait=False)
                t0 = time.perf_counter()
                epoch(trainer)
                out["blocked"].append(save(trainer, wait=False))
                out["saving"].append(time.perf_counter() - t0)
                trainer.flush_checkpoints()

            for i in range(pairs):
                for fn in (plain, saving) if i % 2 == 0 else (saving, plain):
                    fn()
            trainer.finish("completed")
            size = _size(store)
    return {
        "framework": name,
        "device": device,
        "params": engine.params,
        "checkpoint_mb": size / 2**20,
        "steps_per_epoch": steps,
        "step_ms": 1e3 * step,
        "calibration_sync_s": sync,
        **out,
        "blocked_ratios": [b / s for b, s in zip(out["blocked"], out["sync"], strict=True)],
        "epoch_ratios": [s / p for s, p in zip(out["saving"], out["plain"], strict=True)],
        "sync_epoch_ratio": median(
            [(p + s) / p for p, s in zip(out["plain"], out["sync"], strict=True)]
        ),
    }


def _size(store: Any) -> int:
    latest = store.latest()
    if latest is None:
        return 0
    path = latest.path
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("framework", choices=("torch", "tensorflow", "keras"))
    p.add_argument("--pairs", type=int, default=7)
    a = p.parse_args()
    emit(measure(a.framework, a.pairs))


if __name__ == "__main__":
    main()
