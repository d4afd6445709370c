"""The names a preset may use: layers and their keys (from the layer registry), losses,
optimizers, schedules, metrics. Every framework backend implements exactly these names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from tuitrain.core.layers import LAYER_TYPES, Param

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")

FRAMEWORKS: tuple[str, ...] = ("torch", "tensorflow", "keras")
FRAMEWORK_TITLES: dict[str, str] = {
    "torch": "PyTorch",
    "tensorflow": "TensorFlow",
    "keras": "Keras",
}
KERAS_BACKENDS: tuple[str, ...] = ("tensorflow", "torch", "jax")
PRECISIONS: tuple[str, ...] = ("32", "bf16", "16")

# Layer types and their keys, from the layer registry (core/layers.py).
LAYERS: dict[str, Mapping[str, Param]] = {name: t.params for name, t in LAYER_TYPES.items()}

LOSSES: dict[str, Task] = {
    "cross_entropy": "classification",
    "binary_cross_entropy": "classification",
    "mse": "regression",
    "mae": "regression",
    "huber": "regression",
}

METRICS: dict[str, Task] = {
    "accuracy": "classification",
    "mae": "regression",
    "rmse": "regression",
}

# Optimizer keys shared by every framework; names are the same everywhere.
OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "sgd": ("lr", "weight_decay", "momentum", "nesterov"),
    "adam": ("lr", "weight_decay", "beta1", "beta2", "eps"),
    "adamw": ("lr", "weight_decay", "beta1", "beta2", "eps"),
    "rmsprop": ("lr", "weight_decay", "momentum", "rho", "eps"),
    "adagrad": ("lr", "weight_decay", "eps"),
}

SCHEDULES: dict[str, tuple[str, ...]] = {
    "constant": (),
    "step": ("step_size", "gamma"),
    "cosine": ("min_lr",),
    "one-cycle": ("pct_start",),
    "reduce-on-plateau": ("factor", "patience", "min_lr"),
}


def losses_for(task: Task) -> list[str]:
    """Loss names that fit a task, for pickers and error messages."""
    return [name for name, t in LOSSES.items() if t == task]


def metrics_for(task: Task) -> list[str]:
    """Metric names that fit a task."""
    return [name for name, t in METRICS.items() if t == task]
