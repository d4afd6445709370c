"""The Keras backend: `model.compile` + `model.fit`, on whichever Keras backend the run names
(`KERAS_BACKEND`, set by the runner before this module is imported).

The Trainer still decides the batch order (a pure function of seed and epoch, so a resumed run
continues mid-epoch on exactly the unseen batches): each epoch is one `fit` call over the
epoch's ordered samples with `shuffle=False`. A callback hands every step to the Trainer's
hooks (logging, learning rate, pause, stop, checkpoint commands). Checkpoints are `.keras`
files with the optimizer state and the dropout RNG state (an extra `.npz` entry), loaded with
`safe_mode=True`."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tuitrain.backends import keras_layers as kl  # loads Keras (and its backend) quietly
from tuitrain.core.data import Splits
from tuitrain.core.spec import RunSpec
from tuitrain.core.trainer import Split, Trainer

# isort: split
import keras

# Metrics Keras reports as the square root of a running mean.
ROOT_MEAN_METRICS = frozenset({"rmse"})


class StepHooks(keras.callbacks.Callback):
    """Each batch's values into the Trainer's slots, then the Trainer's step hook.

    Keras reads the logs to the host for any callback with a batch-end hook; per-step control
    (stop, pause, learning rate, checkpoint commands) needs one, so this is the one host read
    per step on this path (the tensorflow backend has none)."""

    def __init__(self, engine: FitEngine, trainer: Trainer) -> None:
        super().__init__()
        self.engine = engine
        self.trainer = trainer
        self.stopped = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.engine.running.clear()  # Keras resets its metrics as each fit epoch begins

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        size = self.trainer.batch_size_at(self.trainer.pos.step)
        self.engine.record(self.trainer.slot, logs or {}, size)
        if not self.trainer.step_done():
            self.stopped = True
            self.model.stop_training = True


class FitEngine:
    """A compiled Keras model and the run's data, driven by `fit` one epoch at a time."""

    def __init__(self, spec: RunSpec, splits: Splits) -> None:
        self.spec = spec
        self.splits = splits
        self.names = ["loss", *spec.train.metrics]
        self.slots = np.zeros((len(self.names), spec.train.log_every))
        self.running: dict[str, float] = {}  # running sums of this epoch's logs, and "_samples"
        self.model = kl.build_model(spec, splits.info)
        self.model.compile(optimizer=kl.build_optimizer(spec), loss=kl.build_loss(spec),
                           metrics=kl.build_metrics(spec))

    @property
    def params(self) -> int:
        return kl.trainable_params(self.model)

    def _data(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """x and y of "train", "val" or "test", as host arrays (Keras feeds them itself)."""
        return getattr(self.splits, f"x_{split}"), getattr(self.splits, f"y_{split}")

    @property
    def eval_batch(self) -> int:
        """Evaluation and prediction batch: the training batch, at least 256."""
        return max(self.spec.train.batch_size, 256)

    # ----- Engine ------------------------------------------------------------------------
    def record(self, slot: int, logs: dict[str, Any], size: int) -> None:
        """Store one batch's own values. Keras logs running values since the epoch began
        (sample-weighted means; RMSE the root of one), so each batch's value is the change in
        the running sum. Resetting the metrics every batch instead doubled the step time."""
        seen = self.running.get("_samples", 0.0) + size
        for i, name in enumerate(self.names):
            value = float(logs.get(name, np.nan))
            total = (value * value if name in ROOT_MEAN_METRICS else value) * seen
            mean = (total - self.running.get(name, 0.0)) / size
            self.slots[i, slot] = np.sqrt(max(mean, 0.0)) if name in ROOT_MEAN_METRICS else mean
            self.running[name] = total
        self.running["_samples"] = seen

    def read_slots(self, n: int) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.slots[:, :n].copy(), strict=True))

    def evaluate(self, split: Split) -> dict[str, float]:
        x, y = self._data(split)
        if len(x) == 0:
            return {}
        logs = self.model.evaluate(x, y, batch_size=self.eval_batch, verbose=0, return_dict=True)
        return {name: float(logs[name]) for name in self.names}

    def outputs(self, split: Split) -> np.ndarray:
        x = self._data(split)[0]
        if len(x) == 0:
            return np.zeros((0,), np.float32)
        out = self.model.predict(x, batch_size=self.eval_batch, verbose=0)
        return np.asarray(out, dtype=np.float32)

    def set_lr(self, lr: float) -> None:
        kl.set_lr(self.model.optimizer, lr)

    def fit(self, trainer: Trainer) -> Literal["completed", "stopped"]:
        """One `fit` per epoch over the Trainer's order, from where the Trainer stands."""
        bs = self.spec.train.batch_size
        x, y = self._data("train")
        hooks = StepHooks(self, trainer)
        while not trainer.done:
            order = trainer.order(trainer.pos.epoch)[trainer.pos.step * bs:]
            if len(order):
                self.model.fit(x[order], y[order], batch_size=bs, epochs=1, shuffle=False,
                               verbose=0, callbacks=[hooks])
            if hooks.stopped:
                return trainer.stop()
            if not trainer.epoch_done(self.evaluate("val")):
                return "completed" if trainer.done else trainer.stop()
        return "completed"

    # ----- checkpoints -------------------------------------------------------------------
    def save(self, path: Path) -> None:
        self.model.save(path)
        kl.append_seed_states(self.model, path)  # the dropout masks' RNG state

    def load(self, path: Path, with_optimizer: bool = True) -> None:
        if not zipfile.is_zipfile(path):  # legacy HDF5 (.h5) and anything else: refused outright
            raise kl.load_error(path, ValueError(
                "not a .keras archive; legacy .h5/HDF5 files are never loaded"))
        try:
            model = keras.saving.load_model(path, safe_mode=True, compile=with_optimizer)
            kl.load_seed_states(model, path)
        except Exception as exc:  # a refused (unsafe), corrupt or foreign file
            raise kl.load_error(path, exc) from None
        if with_optimizer and getattr(model, "optimizer", None) is None:
            raise kl.load_error(path, ValueError("the file has no optimizer state"))
        self.model = model


class KerasBackend(kl.KerasFamilyBackend):
    framework = "keras"
    checkpoint_suffix = ".keras"

    def engine(self, spec: RunSpec, splits: Splits) -> FitEngine:
        return FitEngine(spec, splits)


BACKEND = KerasBackend()
