"""The gradient norm of every step a Keras optimizer takes, for the gradient-norm alert
(core/alerts.py), in both engines that step through one: the tensorflow backend's
GradientTape step and Keras' own `train_step` on each Keras backend.

Keras' `train_step` computes the gradients and hands them to `optimizer.apply` (TensorFlow,
torch) or `optimizer.stateless_apply` (jax) without returning them. `GradNorm` wraps those
two methods on the one optimizer instance (its class, its variables and its checkpoints stay
as they are) and keeps the global L2 norm of the gradients they are given, as a tensor of the
step being run or traced: the compiled step takes it in the same trace and returns it beside
its loss. Loss scaling (float16) is undone, so the norm is the true gradient's; a step that
loss scaling skips has an infinite one, which the alert ignores. Each replica of a
TensorFlow MirroredStrategy steps in a thread of its own, so the value is kept per thread;
a replica sees its own gradients, of its share of the global mean loss: scaled back by the
replica count, the norm reported is the mean of the replicas' own (at least the global
gradient's, which their mean is)."""

from __future__ import annotations

import threading
from typing import Any

import keras
from keras import ops


class GradNorm:
    """The norm of the gradients the optimizer's latest step was given."""

    def __init__(self, optimizer: keras.optimizers.Optimizer) -> None:
        self._step = threading.local()  # `value`: the norm of this thread's (replica's) step
        apply, stateless_apply = optimizer.apply, optimizer.stateless_apply
        # A LossScaleOptimizer is given scaled gradients: divided by its scale of the step.
        scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

        def probed_apply(grads: list[Any], trainable_variables: Any = None) -> Any:
            scale = None  # (`apply` builds it on its first step: the initial scale then)
            if scaled:
                scale = optimizer.dynamic_scale if optimizer.built else optimizer.initial_scale
            self._step.value = _norm(grads, scale)
            return apply(grads, trainable_variables)

        def probed_stateless_apply(optimizer_variables: list[Any], grads: list[Any],
                                   trainable_variables: list[Any]) -> Any:
            scale = None
            if scaled:  # its value in this step's state, not the variable's
                at = next(i for i, v in enumerate(optimizer.variables)
                          if v is optimizer.dynamic_scale)
                scale = optimizer_variables[at]
            self._step.value = _norm(grads, scale)
            return stateless_apply(optimizer_variables, grads, trainable_variables)

        optimizer.apply = probed_apply
        optimizer.stateless_apply = probed_stateless_apply

    def take(self) -> Any:
        """The latest step's norm, once (a traced value must not outlive its trace); NaN
        where no step went through the optimizer (a model's own `train_step` that steps
        some other way): nothing to judge."""
        value, self._step.value = getattr(self._step, "value", None), None
        return value if value is not None else ops.convert_to_tensor(float("nan"), "float32")


def _norm(grads: list[Any], scale: Any) -> Any:
    present = [g for g in grads if g is not None]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        norm = tf.linalg.global_norm(present)  # sparse (embedding) gradients as they are
        norm *= tf.distribute.get_strategy().num_replicas_in_sync
    else:
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in present))
    return ops.cast(norm if scale is None else norm / scale, "float32")
