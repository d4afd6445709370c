"""Checkpoints of a Keras model off the training path, for the TensorFlow and Keras backends.

A Keras checkpoint is written by the model object itself (`model.save`, `tf.train.Checkpoint`),
so the background writer cannot write the live model while it trains. `HostMirror` keeps a
second copy of the model and its optimizer in host memory, rebuilt from the live ones' configs
the way `keras.saving.load_model` rebuilds a saved model (same layer names, same variables in
the same order). A snapshot copies every live variable's value to a host array on the training
thread (the only part training waits for); the writer assigns those arrays to the mirror and
saves the mirror, which then holds exactly the state the live model had at the snapshot. The
mirror is built once, on the training thread at the first save (Keras keeps settings per
thread, the dtype policy among them, that the writer thread would not see), and costs one
more host copy of the model and optimizer state.

The host arrays are kept from one save to the next, as the PyTorch backend's staging buffers
are: a copy into memory already mapped costs no page faults and no zeroing (a fresh 291 MB
copy of the checkpoint benchmark's model blocked training 10x longer). Reusing them is safe
because a save waits for the write before it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

# Writes a model and its optimizer (a temp path; the checkpoint store renames it).
Save = Callable[[keras.Model, keras.optimizers.Optimizer, Path], None]

# Where the mirror lives, whatever device the live model trains on ("cpu:0" fails on Keras'
# torch backend: its integer seed-generator states would be created requiring gradients).
HOST = "cpu"


def _host_view(variable: Any) -> np.ndarray:
    """A variable's value as a host array, without a copy where the value is in host memory
    already (a tensor read from a TensorFlow variable, a JAX array and a torch tensor expose
    their buffer; a device's is copied)."""
    value = variable.value  # the backend's own variable or tensor
    backend = keras.backend.backend()
    if backend == "tensorflow":  # np.asarray of the tf.Variable itself would copy twice
        return np.asarray(value.read_value())
    if backend == "torch":
        return value.detach().cpu().numpy()  # a parameter refuses np.asarray (it needs grad)
    return np.asarray(value)


class HostMirror:
    """A host copy of one live model and optimizer that checkpoints are written from."""

    def __init__(
        self, model: keras.Model, optimizer: keras.optimizers.Optimizer, save: Save
    ) -> None:
        if not optimizer.built:  # its slots exist from the first step on; a save may come first
            optimizer.build(model.trainable_variables)
        self._live = [*model.variables, *optimizer.variables]
        self._save = save
        with keras.device(HOST):
            # A compiled model's config carries its compile config, optimizer included (as
            # a .keras file does): deserializing compiles the copy and builds its optimizer.
            self._model = keras.saving.deserialize_keras_object(
                keras.saving.serialize_keras_object(model)
            )
            if model.compiled:
                self._optimizer = self._model.optimizer
            else:  # an optimizer kept apart (TensorFlow's engine) is copied apart
                self._optimizer = keras.optimizers.deserialize(
                    keras.optimizers.serialize(optimizer)
                )
                self._optimizer.build(self._model.trainable_variables)
        self._targets = [*self._model.variables, *self._optimizer.variables]
        self._values: list[np.ndarray] = []  # the host arrays a snapshot copies into
        shapes = [tuple(v.shape) for v in self._targets]
        if shapes != [tuple(v.shape) for v in self._live]:
            raise RuntimeError(
                "the host mirror of the model does not match the live model's "
                f"variables ({len(shapes)} vs {len(self._live)})"
            )

    def snapshot(self) -> Callable[[Path], None]:
        """Copy the live state to host arrays now; the writer saves them to a path later."""
        if not self._values:
            self._values = [np.array(_host_view(v)) for v in self._live]
        else:
            for value, variable in zip(self._values, self._live, strict=True):
                np.copyto(value, _host_view(variable))
        values = self._values
        return lambda path: self._write(values, path)

    def _write(self, values: list[np.ndarray], path: Path) -> None:
        with keras.device(HOST):
            for variable, value in zip(self._targets, values, strict=True):
                variable.assign(value)
            self._save(self._model, self._optimizer, path)
