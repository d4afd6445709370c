"""The Keras backend: `model.compile`, then Keras' own per-batch `train_step` (the code `fit`
runs for every batch: compiled loss and metrics, optimizer, loss scaling), on whichever Keras
backend the run names (`KERAS_BACKEND`, set by the runner before this module is imported).

The Trainer decides the batch order (its Sampler's: a pure function of seed and epoch, so a
resumed run continues mid-epoch on exactly the unseen batches) and hands over blocks of
steps, each batch from the in-memory batch source. On
TensorFlow a block runs as one graph execution (`tf_steps`, what `steps_per_execution` does in
`fit`); on jax a block runs Keras' `train_step` on the model's state kept from step to step,
as `fit` does (`jax_steps`); on torch the steps run one by one through `train_on_batch`.
`fit` itself is not used: for the Trainer's per-epoch order it needed one call per epoch,
whose set-up cost more than the epoch's steps on small models, and its callbacks read the
logs to the host after every step.

Checkpoints are `.keras` files with the optimizer state and the dropout RNG state (an extra
`.npz` entry), loaded with `safe_mode=True`, and written from a host copy of the model off the
training path (keras_mirror). A person's own model (`--model`) is rebuilt from its file, so its
checkpoints hold the values alone (the archive's weights file), written to memory on the
training thread; `--init-from` reads a checkpoint's weights file as plain arrays."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tuitrain.backends import keras_layers as kl  # loads Keras (and its backend) quietly
from tuitrain.backends.keras_grad_norm import GradNorm
from tuitrain.backends.keras_mirror import HostMirror
from tuitrain.core import finetune
from tuitrain.core.batches import BatchSource, InMemorySource, Pipeline, StreamedSource
from tuitrain.core.data import Splits
from tuitrain.core.errors import UserError
from tuitrain.core.measures import GRAD_NORM
from tuitrain.core.sources import Streams, collect
from tuitrain.core.spec import RunSpec
from tuitrain.core.trainer import Split

# isort: split
import h5py
import keras

WEIGHTS_ENTRY = "model.weights.h5"  # the weights file inside a `.keras` archive


class TrainStepEngine:
    """A compiled Keras model and the run's data, trained by blocks of `train_step` calls."""

    def __init__(self, spec: RunSpec, splits: Splits) -> None:
        self.spec = spec
        self.splits = splits
        self.names = ["loss", *spec.train.metrics]
        self.model = kl.build_model(spec, splits.info)
        self.model.compile(optimizer=kl.build_optimizer(spec), loss=kl.build_loss(spec),
                           metrics=kl.build_metrics(spec))
        self._block: Any = None  # built on first use, for the model trained (after `load`)
        self._grad_norm: GradNorm | None = None  # on its optimizer, from the first step on
        self._pending: list[list[float]] = []  # per-step values where steps run eagerly
        self._mirror: HostMirror | None = None  # checkpoints are written from it (snapshot)
        # The training split as host arrays: Keras moves each batch itself where steps run
        # eagerly; on TensorFlow the block's source holds it on the device. Streamed, each
        # batch comes from tf.data on TensorFlow and from torch's DataLoader on torch and jax.
        self.source: BatchSource[Any, Any]
        if splits.streams is None:
            self.source = InMemorySource(splits.x_train, splits.y_train)
        elif keras.backend.backend() == "tensorflow":
            from tuitrain.backends import tf_data

            self.source = tf_data.streamed(splits.streams)
        else:
            self.source = StreamedSource(_torch_pipeline(splits.streams), _host_arrays)

    @property
    def params(self) -> int:
        return kl.trainable_params(self.model)

    @property
    def eval_batch(self) -> int:
        """Evaluation and prediction batch: the training batch, at least 256."""
        return max(self.spec.train.batch_size, 256)

    # ----- Engine ------------------------------------------------------------------------
    def _train_one(self, xb: Any, yb: Any) -> Sequence[Any]:
        """One Keras `train_step` (TensorFlow); its logs are running means, so the metrics
        restart first and the logs are this batch's own values (and its gradient norm)."""
        self.model.reset_metrics()
        logs = self.model.train_step((xb, yb))
        return [*(logs[name] for name in self.names), self.grad_norm.take()]

    @property
    def grad_norm(self) -> GradNorm:
        """The probe on the optimizer of the model trained (a loaded one has its own)."""
        if self._grad_norm is None:
            self._grad_norm = GradNorm(self.model.optimizer)
        return self._grad_norm

    def _build_metrics(self) -> None:
        """Build the compiled metrics before the block is traced: a model loaded from a
        checkpoint (resume) has them unbuilt, `reset_metrics` skips unbuilt metrics, so the
        block traced first never reset them, and a resumed run's steps reported running
        means where an uninterrupted run's report each step's own value."""
        x, y = next(self.splits.batches("train", 2))
        self.model.compute_metrics(x, y, self.model(x, training=False))
        self.model.reset_metrics()

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        self.source.start_epoch(epoch, rows)

    def train_steps(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        grad_norm = self.grad_norm  # on the optimizer before its first step
        if keras.backend.backend() == "tensorflow":
            if self._block is None:  # in memory, the data goes to the device once, as tensors
                from tuitrain.backends import tf_steps

                # Variables made in the strategy the model was built in (on several
                # replicas: mirrored), before the block is traced.
                with self.model.distribute_strategy.scope():
                    self._build_metrics()
                    if not self.model.optimizer.built:
                        self.model.optimizer.build(self.model.trainable_variables)
                source, staged = self.source, getattr(self.source, "staged", tf_steps.ROWS)
                if isinstance(source, InMemorySource):
                    source = tf_steps.in_memory(*(keras.ops.convert_to_tensor(a)
                                                  for a in (source.x, source.y)))
                self._block = tf_steps.StepBlock(self._train_one, source,
                                                 self.model.optimizer.learning_rate,
                                                 len(self.names) + 1, self.spec.train.log_every,
                                                 staged, self.model.distribute_strategy)
            self._block(batches, lrs, slot)
            return
        source = self.source
        if keras.backend.backend() == "jax":  # Keras' train_step on state kept, as `fit` runs
            if self._block is None:
                from tuitrain.backends import jax_steps

                self._build_metrics()
                if not self.model.optimizer.built:
                    self.model.optimizer.build(self.model.trainable_variables)
                self._block = jax_steps.JaxBlock(self.model, self.names, grad_norm)
            self._block.run((source.batch(rows) for rows in source.stage(batches)),
                            lrs.tolist())
            return
        # torch: `train_on_batch` is the public per-batch step; values come back as numbers.
        for rows, lr in zip(source.stage(batches), lrs.tolist(), strict=True):
            kl.set_lr(self.model.optimizer, lr)
            self.model.reset_metrics()
            logs = self.model.train_on_batch(*source.batch(rows), return_dict=True)
            self._pending.append([*(float(logs[name]) for name in self.names),
                                  float(grad_norm.take())])

    def inject_fault(self, kind: str) -> None:
        kl.inject_fault(kind)

    def read_slots(self, n: int) -> dict[str, np.ndarray]:
        if self._block is not None:
            values = self._block.read(n)
        else:
            steps, self._pending = self._pending[:n], self._pending[n:]
            values = np.array(steps, dtype=np.float64).T
        return dict(zip([*self.names, GRAD_NORM], values, strict=True))

    def evaluate(self, split: Split) -> dict[str, float]:
        splits = self.splits
        # Keras' `evaluate` under a distribution (jax's DataParallel) shards every batch,
        # and a split's last one rarely divides among the devices; its outputs do not need to.
        if splits.streams is not None or keras.distribution.distribution() is not None:
            outputs, y = self.predict(split)
            return kl.score(self.spec, outputs, y) if len(y) else {}
        x, y = getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}")
        if len(x) == 0:
            return {}
        logs = self.model.evaluate(x, y, batch_size=self.eval_batch, verbose=0, return_dict=True)
        return {name: float(logs[name]) for name in self.names}

    def predict(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        size = self.splits.size(split)
        got = collect(size, ((np.asarray(self.model.predict_on_batch(x), dtype=np.float32), y)
                             for x, y in self.splits.batches(split, self.eval_batch)))
        return got or (np.zeros((0,), np.float32), np.zeros((0,)))

    # ----- checkpoints -------------------------------------------------------------------
    def snapshot(self) -> Callable[[Path], None]:
        if self.spec.model_file is not None:
            return self._values_snapshot()
        if self._mirror is None:
            self._mirror = HostMirror(self.model, self.model.optimizer, _write_archive)
        return self._mirror.snapshot()

    def _values_snapshot(self) -> Callable[[Path], None]:
        """A person's own model: its classes may not rebuild from a config (no host mirror),
        so its values (weights with the optimizer's state, the dropout RNG state) are
        written to memory here, on the training thread; the writer puts the bytes on disk."""
        with tempfile.TemporaryDirectory() as tmp:
            archive, weights = Path(tmp) / "values.keras", Path(tmp) / WEIGHTS_ENTRY
            self.model.save_weights(weights)  # with the optimizer's state, as `save`
            with zipfile.ZipFile(archive, "w") as zf:
                zf.write(weights, WEIGHTS_ENTRY)
            kl.append_seed_states(self.model, archive)
            data = archive.read_bytes()

        def write(path: Path) -> None:
            path.write_bytes(data)

        return write

    def _load_values(self, path: Path) -> None:
        """Weights, optimizer state and dropout RNG state from a `.keras` archive into the
        model built here (from a person's own file: the archive's config names classes that
        only that file defines, and loading never runs code from a checkpoint)."""
        try:
            self.model.optimizer.build(self.model.trainable_variables)  # its slots to fill
            self.model.load_weights(path)
            kl.load_seed_states(self.model, path)
        except Exception as exc:  # a corrupt or foreign file
            raise kl.load_error(path, exc) from None
        self._block = None

    def load(self, path: Path, with_optimizer: bool = True) -> None:
        if not zipfile.is_zipfile(path):  # legacy HDF5 (.h5) and anything else: refused outright
            raise kl.load_error(path, ValueError(
                "not a .keras archive; legacy .h5/HDF5 files are never loaded"))
        if self.spec.model_file is not None:  # rebuilt from the run's copy of the file
            self._load_values(path)
            return
        try:
            model = keras.saving.load_model(path, safe_mode=True, compile=with_optimizer)
            kl.load_seed_states(model, path)
        except Exception as exc:  # a refused (unsafe), corrupt or foreign file
            raise kl.load_error(path, exc) from None
        if with_optimizer and getattr(model, "optimizer", None) is None:
            raise kl.load_error(path, ValueError("the file has no optimizer state"))
        self.model = model
        self._block = None  # the compiled block trained the previous model
        self._mirror = None  # and the mirror copied it
        self._grad_norm = None  # and the probe watched its optimizer


def _torch_pipeline(streams: Streams) -> Pipeline:
    """torch's DataLoader, Keras' pipeline for streamed data on its torch and jax backends."""
    try:
        from tuitrain.backends import torch_data
    except ImportError:
        raise UserError(
            f"streamed data on Keras' {keras.backend.backend()} backend is loaded by torch's "
            "DataLoader: pip install torch==2.13.0, or train with --keras-backend tensorflow"
        ) from None
    return torch_data.pipeline(streams, pin_memory=False)


def _host_arrays(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """A DataLoader batch (CPU tensors) as the host arrays `train_on_batch` takes."""
    return x.numpy(), y.numpy()


def _write_archive(model: keras.Model, optimizer: keras.optimizers.Optimizer, path: Path) -> None:
    """A compiled model (its optimizer inside) as a `.keras` archive with its seed states."""
    model.save(path)
    kl.append_seed_states(model, path)  # the dropout masks' RNG state


class KerasBackend(kl.KerasFamilyBackend):
    framework = "keras"
    checkpoint_suffix = ".keras"

    def engine(self, spec: RunSpec, splits: Splits) -> TrainStepEngine:
        return TrainStepEngine(spec, splits)

    def init_weights(self, model: keras.Model, checkpoint: Path) -> finetune.WeightMatch:
        """Weights matched by their path in the archive's weights file (layer names, then the
        variable's index: `layers/dense_1/vars/0`), read as plain arrays: no model is
        rebuilt from the checkpoint, no code in it runs."""
        try:
            with zipfile.ZipFile(checkpoint) as zf:
                data = zf.read(WEIGHTS_ENTRY)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise kl.load_error(checkpoint, exc) from None
        with tempfile.TemporaryDirectory() as tmp:
            merged = Path(tmp) / "init.weights.h5"
            model.save_weights(merged)  # the new model's own values, then the matched ones
            with h5py.File(io.BytesIO(data), "r") as src, h5py.File(merged, "r+") as dst:
                source, target = _weights(src), _weights(dst)
                match = finetune.match_weights(
                    {k: tuple(v.shape) for k, v in source.items()},
                    {k: tuple(v.shape) for k, v in target.items()}, str(checkpoint))
                for name in match.loaded:
                    target[name][...] = source[name][...]
            model.load_weights(merged)
        return match


def _weights(store: h5py.File) -> dict[str, h5py.Dataset]:
    """A weights file's arrays by path, the optimizer's left out."""
    found: dict[str, h5py.Dataset] = {}

    def visit(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset) and not name.startswith("optimizer"):
            found[name] = item

    store.visititems(visit)
    return found


BACKEND = KerasBackend()
