"""`optimizer.weight_decay` means one thing in every framework: decoupled decay. Each step,
before the update, every trainable weight is multiplied by (1 - lr * weight_decay), as Keras
does in all its optimizers and torch's AdamW does; it is never an L2 term in the gradient.

Each framework's engine takes one step from the same weights on the same batch, in its own
child process, with and without weight decay. The decay must move every weight by exactly
-lr * weight_decay * w in every framework and optimizer. (The whole step is compared through
the decay's share: the adaptive optimizers differ between torch and Keras in where `eps`
enters, which shows on weights whose gradient is close to zero, with or without decay.) SGD
uses Nesterov momentum, whose first step tells coupled from decoupled decay."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import cli_env, skip_unless_installed

from tuitrain.core.catalog import OPTIMIZERS

LR, DECAY = 0.1, 0.1

# Run as `python -c SCRIPT FRAMEWORK LR DECAY`: prints {optimizer: [start, moved with decay,
# moved without]}, every weight flattened in Keras' layout (a dense kernel is (inputs, units);
# torch stores it transposed).
STEP_SCRIPT = """
import importlib, json, os, sys
import numpy as np
framework, lr, decay = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
os.environ["KERAS_BACKEND"] = "tensorflow"
from tuitrain import backends
from tuitrain.core.catalog import OPTIMIZERS
from tuitrain.core.data import load_splits
from tuitrain.core.presets import load_spec

module = importlib.import_module(backends.MODULES[framework])


def one_step(name, keys, weight_decay):
    overrides = {"run.framework": framework, "optimizer.name": name, "optimizer.lr": lr,
                 "optimizer.weight_decay": weight_decay}
    if "momentum" in keys:
        overrides.update({"optimizer.momentum": 0.9, "optimizer.nesterov": "nesterov" in keys})
    spec = load_spec("mlp-moons", overrides)
    splits = load_splits(spec.data, spec.run.seed, task=spec.task)
    rng = np.random.default_rng(0)
    if framework == "torch":
        import torch
        engine = module.TorchEngine(spec, splits, "cpu")
        params = list(engine.model.parameters())
        with torch.no_grad():
            for p in params:
                start = 0.2 * rng.standard_normal(p.shape[::-1], np.float32)
                p.copy_(torch.from_numpy(start.T.copy()))
        read = lambda: np.concatenate([p.detach().numpy().T.ravel() for p in params])
    else:
        make = module.TensorFlowEngine if framework == "tensorflow" else module.TrainStepEngine
        engine = make(spec, splits)
        weights = engine.model.trainable_weights
        for w in weights:
            w.assign(0.2 * rng.standard_normal(tuple(w.shape), np.float32))
        read = lambda: np.concatenate([np.ravel(w.numpy()) for w in weights])
    start = read()
    engine.train_steps(np.arange(32).reshape(1, 32), np.full(1, lr, np.float32), 0)
    return start, read() - start


out = {}
for name, keys in OPTIMIZERS.items():
    start, moved = one_step(name, keys, decay)
    out[name] = [start.tolist(), moved.tolist(), one_step(name, keys, 0.0)[1].tolist()]
print(json.dumps(out))
"""


@functools.cache
def step(framework: str) -> dict[str, list[list[float]]]:
    """Every optimizer's start, and one step's moves with and without decay (one child)."""
    skip_unless_installed(framework)
    proc = subprocess.run(
        [sys.executable, "-c", STEP_SCRIPT, framework, str(LR), str(DECAY)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("framework", ["torch", "tensorflow", "keras"])
def test_weight_decay_is_decoupled(framework: str, optimizer: str) -> None:
    start, moved, moved_without = (np.array(a) for a in step(framework)[optimizer])
    np.testing.assert_array_equal(start, np.array(step("torch")[optimizer][0]))
    # 1% of each weight here; as an L2 term in the gradient the share would differ by far more.
    np.testing.assert_allclose(
        moved - moved_without, -LR * DECAY * start, rtol=0, atol=1e-6 * np.abs(start).max()
    )
    assert np.abs(moved_without).max() > 1e-3  # and the step itself trained
