"""The names a preset may use: layers and their keys (from the layer registry), activations,
optimizers and schedules (losses and metrics: core/measures.py). Every framework backend
implements exactly these names."""

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


def parallel_strategy(framework: str, keras_backend: str = "tensorflow") -> str:
    """What trains a run on several devices: 'DDP' (PyTorch), 'Mirrored' (TensorFlow's
    MirroredStrategy: TensorFlow, Keras on it), 'DataParallel' (Keras' distribution on jax);
    '' where one device trains (Keras on torch)."""
    if framework == "torch":
        return "DDP"
    if framework == "tensorflow" or keras_backend == "tensorflow":
        return "Mirrored"
    return "DataParallel" if keras_backend == "jax" else ""


PRECISIONS: tuple[str, ...] = ("32", "bf16", "16")

# Layer types and their keys, from the layer registry (core/layers.py).
LAYERS: dict[str, Mapping[str, Param]] = {name: t.params for name, t in LAYER_TYPES.items()}

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
