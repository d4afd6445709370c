"""The gradient norm each engine reports for the gradient-norm alert (core/alerts.py) is the
true one, of every step (PyTorch: every 4th, every step with clipping): with plain SGD a
step moves the weights by lr x the gradient, so the norm reported for a step equals the norm
of that step's weight change / lr. Checked in every engine (Keras on each of its backends),
before clipping (`train.grad_clip`: the weights then move by lr x the clip) and with
float16 loss scaling undone. Each engine runs in its own child."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import subprocess
import sys
from typing import Any

import pytest
from conftest import cli_env

# Run as `python -c SCRIPT FRAMEWORK GRAD_CLIP PRECISION REPLICAS`: prints {"norms": [each
# block's per-step norms], "moved": the last step's weight change / lr}. REPLICAS > 1: the
# engine is built in a MirroredStrategy over that many logical CPUs.
SCRIPT = """
import importlib, json, sys
import numpy as np
from tuitrain import backends
from tuitrain.core.data import load_splits
from tuitrain.core.presets import load_spec

import contextlib
framework, clip, precision, replicas = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
LR = 0.05
spec = load_spec("mlp-moons", {"optimizer.name": "sgd", "optimizer.lr": LR,
                               "train.grad_clip": float(clip), "run.precision": precision})
splits = load_splits(spec.data, 0, task=spec.task)
module = importlib.import_module(backends.MODULES[framework])
if framework == "torch":
    engine = module.TorchEngine(spec, splits, "cpu")
    weights = lambda: [p.detach().numpy().copy() for p in engine.model.parameters()]
else:
    import keras
    module.kl.set_precision(precision)
    scope = contextlib.nullcontext()
    if replicas > 1:
        from tuitrain.backends import tf_steps
        from tuitrain.backends.base import DeviceInfo
        _, devices = module.kl.configure_tensorflow(DeviceInfo("tf", "cpu", "cpu", "CPU"),
                                                    replicas)
        scope = tf_steps.mirrored(devices).scope()
    with scope:
        engine = (module.TensorFlowEngine if framework == "tensorflow"
                  else module.TrainStepEngine)(spec, splits)
    weights = lambda: [np.array(keras.ops.convert_to_numpy(v), np.float64)
                       for v in engine.model.trainable_variables]
rows = np.arange(4 * 32).reshape(4, 32)
engine.start_epoch(0, iter(rows))
norms = []
engine.train_steps(rows[:3], np.full(3, LR), 0)
norms.append(engine.read_slots(3)["grad_norm"].tolist())
before = weights()
engine.train_steps(rows[3:], np.full(1, LR), 0)
norms.append(engine.read_slots(1)["grad_norm"].tolist())
moved = np.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(weights(), before))) / LR
print(json.dumps({"norms": norms, "moved": moved}))
"""

ENGINES = {  # the engine: (framework, KERAS_BACKEND)
    "torch": ("torch", "torch"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "keras-tensorflow": ("keras", "tensorflow"),
    "keras-jax": ("keras", "jax"),
    "keras-torch": ("keras", "torch"),
}


@functools.cache
def report(engine: str, clip: float = 0.0, precision: str = "32",
           replicas: int = 1) -> dict[str, Any]:
    framework, keras_backend = ENGINES[engine]
    if importlib.util.find_spec("tensorflow" if "tensorflow" in engine else keras_backend) is None:
        pytest.skip(f"{keras_backend} is not installed")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, framework, str(clip), precision, str(replicas)],
        capture_output=True, text=True, timeout=300, check=False,
        env=cli_env(KERAS_BACKEND=keras_backend),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("engine", ENGINES)
def test_the_reported_norm_is_the_steps_gradient_norm(engine: str) -> None:
    got = report(engine)
    first, (last,) = got["norms"][0], got["norms"][1]
    # Every step's norm, on PyTorch every 4th step's (the 4th is the second block's).
    sampled = [n for n in first if math.isfinite(n)]
    assert len(first) == 3 and len(sampled) == (0 if engine == "torch" else 3)
    assert all(n > 0 for n in sampled)
    assert last == pytest.approx(got["moved"], rel=1e-3)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_norm_is_taken_before_clipping(engine: str) -> None:
    clip = 1e-3
    got = report(engine, clip)
    (last,) = got["norms"][1]
    assert got["moved"] == pytest.approx(clip, rel=1e-2)  # the step was clipped...
    assert last > 10 * clip  # ...and the norm reported is the gradient's own


@pytest.mark.parametrize("engine", ["tensorflow", "keras-tensorflow", "keras-jax"])
def test_float16_loss_scaling_is_undone(engine: str) -> None:
    got = report(engine, 0.0, "16")
    (last,) = got["norms"][1]
    assert last == pytest.approx(got["moved"], rel=2e-2)


@pytest.mark.parametrize("engine", ["tensorflow", "keras-tensorflow"])
def test_each_mirrored_replica_takes_its_own_norm(engine: str) -> None:
    got = report(engine, replicas=2)
    first, (last,) = got["norms"][0], got["norms"][1]
    assert len(first) == 3 and all(math.isfinite(n) and n > 0 for n in first)
    # The mean of the replicas' norms (each of its half batch's mean loss): at least the
    # norm of their mean, the global gradient the weights moved by, and not far above it.
    assert got["moved"] * (1 - 1e-3) <= last < 2 * got["moved"]


# PyTorch's norm with a sparse gradient (an embedding's `sparse=True`) and with none at all.
SPARSE = """
import json, math
import torch
from torch import nn
from tuitrain.backends import torch_backend
from tuitrain.core.data import load_splits
from tuitrain.core.presets import load_spec

spec = load_spec("mlp-moons")
engine = torch_backend.TorchEngine(spec, load_splits(spec.data, 0, task=spec.task), "cpu")
assert not engine.sparse_grads  # dense models keep the one-call path
embedding = nn.Embedding(10, 3, sparse=True)
embedding(torch.tensor([1, 2, 2])).pow(2).sum().backward()
engine.sparse_grads, engine._steps = True, 3  # the next step is a 4th: it has its norm
parts = engine._grad_norm([embedding.weight], False)
engine._steps = 3
unused = engine._grad_norm([nn.Parameter(torch.ones(2))], False)  # no gradient this step
print(json.dumps({"got": math.hypot(*(float(p) for p in parts)),
                  "dense": float(embedding.weight.grad.to_dense().norm()),
                  "unused": len(unused)}))
"""


def test_pytorch_takes_sparse_gradients_and_steps_without_any() -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    proc = subprocess.run([sys.executable, "-c", SPARSE], capture_output=True, text=True,
                          timeout=300, check=False, env=cli_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["got"] == pytest.approx(got["dense"], rel=1e-6) and got["unused"] == 0
