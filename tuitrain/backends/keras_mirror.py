"""Checkpoints of a Keras model off the training path, for the TensorFlow and Keras backends.

A Keras checkpoint is written by the model object itself (`model.save`, `tf.train.Checkpoint`),
so the background writer cannot write the live model while it trains. `HostMirror` keeps a
second copy of the model and its optimizer in host memory, rebuilt from the live ones' configs
the way `keras.saving.load_model` rebuilds a saved model (same layer names, same variables in
the same order). A snapshot copies every live variable's value to a host array on the training
thread (the only part training waits for); the writer assigns those arrays to the mirror and
saves the mirror, which then holds exactly the state the live model had at the snapshot. The
mirror is built on the writer thread at its first write and costs one more host copy of the
model and optimizer state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

# Writes a model and its optimizer (a temp path; the checkpoint store renames it).
Save = Callable[[keras.Model, keras.optimizers.Optimizer, Path], None]

HOST = "cpu:0"  # where the mirror lives, whatever device the live model trains on


def _host_copy(variable: Any) -> np.ndarray:
    """One copy of a variable's value in host memory, of its own: the live one changes as
    training goes on. (`keras.ops.convert_to_numpy` copies twice on TensorFlow.)"""
    value = variable.value  # the backend's own variable or tensor
    if keras.backend.backend() == "tensorflow":
        return value.numpy()  # reads it (copy on write) and copies that once
    return keras.ops.convert_to_numpy(value)  # np.array: a copy


class HostMirror:
    """A host copy of one live model and optimizer that checkpoints are written from."""

    def __init__(
        self, model: keras.Model, optimizer: keras.optimizers.Optimizer, save: Save
    ) -> None:
        if not optimizer.built:  # its slots exist from the first step on; a save may come first
            optimizer.build(model.trainable_variables)
        self._live = [*model.variables, *optimizer.variables]
        # A compiled model's config carries its compile config, optimizer included (as a
        # .keras file does); an optimizer kept apart (TensorFlow's engine) is saved apart.
        self._model = keras.saving.serialize_keras_object(model)
        self._optimizer = None if model.compiled else keras.optimizers.serialize(optimizer)
        self._save = save
        self._built: tuple[keras.Model, keras.optimizers.Optimizer, list[Any]] | None = None

    def snapshot(self) -> Callable[[Path], None]:
        """Copy the live state to host arrays now; the writer saves them to a path later."""
        values = [_host_copy(v) for v in self._live]
        return lambda path: self._write(values, path)

    def _build(self) -> tuple[keras.Model, keras.optimizers.Optimizer, list[Any]]:
        with keras.device(HOST):
            model = keras.saving.deserialize_keras_object(self._model)  # compiled, if it was
            if self._optimizer is None:
                optimizer = model.optimizer  # built by compiling a built model
            else:
                optimizer = keras.optimizers.deserialize(self._optimizer)
                optimizer.build(model.trainable_variables)
        targets = [*model.variables, *optimizer.variables]
        shapes = [tuple(v.shape) for v in targets]
        if shapes != [tuple(v.shape) for v in self._live]:
            raise RuntimeError(
                "the host mirror of the model does not match the live model's "
                f"variables ({len(shapes)} vs {len(self._live)})"
            )
        return model, optimizer, targets

    def _write(self, values: list[np.ndarray], path: Path) -> None:
        if self._built is None:
            self._built = self._build()
        model, optimizer, targets = self._built
        with keras.device(HOST):
            for variable, value in zip(targets, values, strict=True):
                variable.assign(value)
            self._save(model, optimizer, path)
