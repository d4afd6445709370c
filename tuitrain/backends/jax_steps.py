"""The driver's block of train steps for Keras on its JAX backend, run as `fit` runs them.

`train_on_batch` moves every variable's value into its jitted step and back on every call,
then reads its logs to the host: a step of the digits MLP took three times as long as in
`fit` (2.84 against 0.91 ms on one CPU thread).
`fit` instead takes the model's state once, runs its compiled `train_step` batch after
batch on that state, and writes it back at the end. A block does the same between the
driver's block boundaries: Keras' own `train_step` (the one `fit` and `train_on_batch` jit:
the same loss, metrics, optimizer and RNG state, so the same values bit for bit), jitted
once, with the state (trainable, non-trainable, optimizer and metric values) carried from
step to step. Inside the compiled step the learning rate replaces the optimizer's and the
metrics restart (its logs are that batch's own values, as `train_on_batch` gives them, with
the gradient norm its optimizer was given); the logs stay on the device until the driver
reads a log interval. Under Keras' DataParallel distribution each batch is laid out across
the devices as `fit` lays it out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from tuitrain.backends.keras_grad_norm import GradNorm
from tuitrain.core.measures import GRAD_NORM

State = tuple[list[Any], list[Any], list[Any], list[Any]]


class JaxBlock:
    """Runs blocks of Keras `train_step` calls on a compiled, built model (its first step
    taken by `train_on_batch`, which builds what a step needs)."""

    def __init__(self, model: keras.Model, names: list[str], grad_norm: GradNorm) -> None:
        self.model = model
        self.names = [*names, GRAD_NORM]
        self.grad_norm = grad_norm
        optimizer = model.optimizer
        self._lr_index = next(i for i, v in enumerate(optimizer.variables)
                              if v is optimizer.learning_rate)
        self._lr_dtype = np.dtype(optimizer.learning_rate.dtype)
        model.reset_metrics()
        self._restarted = [np.asarray(v.value) for v in model.metrics_variables]
        self._step = jax.jit(self._train_step, donate_argnums=0)
        self._logs: list[dict[str, Any]] = []

    def _train_step(self, state: State, lr: Any, data: Any) -> tuple[dict[str, Any], State]:
        """Keras' `train_step` at learning rate `lr`, on restarted metrics (constants of the
        compiled step: nothing but the rate and the batch goes to the device per step)."""
        trainable, non_trainable, optimizer_values, _ = state
        optimizer_values = list(optimizer_values)
        optimizer_values[self._lr_index] = lr
        metrics = [jnp.asarray(v) for v in self._restarted]
        logs, state = self.model.train_step(
            (trainable, non_trainable, optimizer_values, metrics), data)
        return {**logs, GRAD_NORM: self.grad_norm.take()}, state

    def _variables(self) -> tuple[list[Any], ...]:
        m = self.model
        return (m.trainable_variables, m.non_trainable_variables, m.optimizer.variables,
                m.metrics_variables)

    def run(self, batches: Iterable[tuple[Any, Any]], lrs: list[float]) -> None:
        """One step per (x, y) batch at its learning rate; the model's variables hold the
        state after the last."""
        parts = self._variables()
        state: State = tuple([v.value for v in part] for part in parts)  # type: ignore[assignment]
        distribution = keras.distribution.distribution()
        for (x, y), lr in zip(batches, lrs, strict=True):
            data = (_laid_out(x, distribution), _laid_out(y, distribution), None)
            logs, state = self._step(state, self._lr_dtype.type(lr), data)
            self._logs.append(logs)
        for part, values in zip(parts, state, strict=True):
            for variable, value in zip(part, values, strict=True):
                variable.assign(value)

    def read(self, n: int) -> np.ndarray:
        """The first n steps' values, one row per value (one host read)."""
        steps, self._logs = self._logs[:n], self._logs[n:]
        values = jax.device_get([[logs[name] for name in self.names] for logs in steps])
        return np.array(values, dtype=np.float64).T.reshape(len(self.names), len(steps))


def _laid_out(array: Any, distribution: Any) -> Any:
    """A batch as the step takes it: split along its first axis under a distribution."""
    if distribution is None:
        return array
    return jax.device_put(array, distribution.get_data_layout(array.shape).backend_layout)
