"""The names a preset may use: layers and their keys, activations, optimizers and schedules
(losses and metrics: core/measures.py). Every framework backend implements exactly these names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

ACTIVATIONS: tuple[str, ...] = (
    "linear", "relu", "gelu", "tanh", "sigmoid", "elu", "leaky_relu", "silu", "softmax",
)


@dataclass(frozen=True)
class Param:
    """One key a layer accepts: its type, default (None = required) and allowed values."""

    kind: type
    default: object = None
    required: bool = False
    choices: tuple[str, ...] = ()


_ACT = Param(str, "linear", choices=ACTIVATIONS)

LAYERS: dict[str, dict[str, Param]] = {
    # `units = "auto"` on a dense layer means: the dataset's output size (classes or targets).
    "dense": {"units": Param(object, required=True), "activation": _ACT, "bias": Param(bool, True)},
    "conv2d": {
        "filters": Param(int, required=True),
        "kernel_size": Param(int, 3),
        "stride": Param(int, 1),
        "padding": Param(str, "valid", choices=("valid", "same")),
        "activation": _ACT,
    },
    "maxpool2d": {"pool_size": Param(int, 2), "stride": Param(int, 0)},
    "avgpool2d": {"pool_size": Param(int, 2), "stride": Param(int, 0)},
    "globalavgpool2d": {},
    "flatten": {},
    "reshape": {"shape": Param(list, required=True)},
    "dropout": {"rate": Param(float, 0.5)},
    "batchnorm": {},
    "lstm": {"units": Param(int, required=True), "return_sequences": Param(bool, False)},
    "gru": {"units": Param(int, required=True), "return_sequences": Param(bool, False)},
    "embedding": {"input_dim": Param(int, required=True), "output_dim": Param(int, required=True)},
    "activation": {"name": Param(str, required=True, choices=ACTIVATIONS)},
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
