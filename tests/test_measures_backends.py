"""Every loss, metric and optimizer of the registries (core/measures.py, core/catalog.py) has
an implementation in every backend, keyed by the same name, and nothing else; each loss and
metric gives the registry's value on the same batch; an unknown name raises the one-line
error instead of falling back to a default. Each framework runs in its own child process
(Keras on torch for `keras`, so that both Keras runtimes are covered)."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest
from conftest import cli_env

from tuitrain.core.catalog import OPTIMIZERS
from tuitrain.core.measures import LOSSES, METRICS

# Run as `python -c SCRIPT FRAMEWORK`: prints {"tables": {kind: names}, "values": {key:
# [backend value, registry value]}, "unknown": {kind: the error of an unknown name}}.
SCRIPT = """
import dataclasses, importlib, json, sys
import numpy as np
from tuitrain import backends
from tuitrain.core.catalog import OPTIMIZERS
from tuitrain.core.errors import UserError
from tuitrain.core.measures import LOSSES, METRICS
from tuitrain.core.presets import load_spec

framework = sys.argv[1]
module = importlib.import_module(backends.MODULES[framework])
rng = np.random.default_rng(3)
n = 37
batches = {  # (outputs, targets) as the engines get them
    "classification": (rng.normal(0, 2, (n, 4)).astype(np.float32), rng.integers(0, 4, n)),
    "binary": (rng.normal(0, 2, (n, 1)).astype(np.float32), rng.integers(0, 2, n)),
    "regression": (rng.normal(0, 1.5, (n, 3)).astype(np.float32),
                   rng.normal(0, 1, (n, 3)).astype(np.float32)),
}
# A sequence task: the first 2 positions unasked (-1), and the third in every third sample
# (samples with 2 or 3 answers); about half the samples with a wrong last answer.
seq_out = rng.normal(0, 2, (n, 5, 4)).astype(np.float32)
seq_y = seq_out.argmax(-1)
seq_y[:, 4] = np.where(rng.random(n) < 0.5, (seq_y[:, 4] + 1) % 4, seq_y[:, 4])
seq_y[:, :2] = -1
seq_y[::3, 2] = -1
batches["sequence"] = (seq_out, seq_y)
cases = [("loss", name, "binary" if name == "binary_cross_entropy" else m.task)
         for name, m in LOSSES.items()]
cases += [("metric", name, m.task) for name, m in METRICS.items()] + [
    ("metric", "accuracy", "binary"), ("metric", "exact_match", "binary"),
    ("metric", "exact_match", "sequence"), ("loss", "cross_entropy", "sequence"),
    ("metric", "perplexity", "sequence")]


def reference(table, name, kind):
    out, y = batches[kind]
    total, count = table[name].sums(out.astype(np.float64), y)
    return float(table[name].finish(np.array(total), np.array(count)))


def spec_with(**train):
    spec = load_spec("mlp-moons")
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, **train))


values, unknown = {}, {}
unknown_optimizer = load_spec("mlp-moons")
unknown_optimizer = dataclasses.replace(
    unknown_optimizer, optimizer=dataclasses.replace(unknown_optimizer.optimizer, name="lion"))
if framework == "torch":
    import torch
    tables = {"losses": module.LOSSES, "metrics": module.METRIC_SUMS,
              "optimizers": module.OPTIMIZERS}
    for what, name, kind in cases:
        out, y = (torch.from_numpy(a) for a in batches[kind])
        if what == "loss":
            got = float(module.LOSSES[name](out, y))
        else:
            total = module.METRIC_SUMS[name](out, y).double().numpy()
            got = float(METRICS[name].finish(total, np.array(n)))
        values[f"{what}:{name}:{kind}"] = [got, reference(LOSSES if what == "loss" else METRICS,
                                                          name, kind)]
    params = [torch.nn.Parameter(torch.zeros(2))]
    for name in OPTIMIZERS:
        spec = load_spec("mlp-moons", {"optimizer.name": name})
        assert isinstance(module.build_optimizer(spec, params), torch.optim.Optimizer)
    from tuitrain.core.data import load_splits

    def engine(spec):
        return module.TorchEngine(spec, load_splits(spec.data, 0, task=spec.task), "cpu")

    builds = {"loss": lambda: engine(spec_with(loss="xent")),
              "metric": lambda: engine(spec_with(metrics=("f1",))),
              "optimizer": lambda: module.build_optimizer(unknown_optimizer, params)}
else:
    import keras
    kl = module.kl
    tables = {"losses": kl.LOSSES, "metrics": kl.METRICS, "optimizers": kl.OPTIMIZERS}
    for what, name, kind in cases:
        out, y = batches[kind]
        if what == "loss":
            got = kl.build_loss(spec_with(loss=name))(y, out)
        else:
            loss = "binary_cross_entropy" if kind == "binary" else "cross_entropy"
            metric, = kl.build_metrics(spec_with(loss=loss, metrics=(name,)))
            metric.update_state(y, out)
            got = metric.result()
        values[f"{what}:{name}:{kind}"] = [
            float(keras.ops.convert_to_numpy(got)),
            reference(LOSSES if what == "loss" else METRICS, name, kind)]
    for name in OPTIMIZERS:
        opt = kl.build_optimizer(load_spec("mlp-moons", {"optimizer.name": name}))
        assert isinstance(opt, keras.optimizers.Optimizer)
    builds = {"loss": lambda: kl.build_loss(spec_with(loss="xent")),
              "metric": lambda: kl.build_metrics(spec_with(metrics=("f1",))),
              "optimizer": lambda: kl.build_optimizer(unknown_optimizer)}
for kind, build in builds.items():
    try:
        build()
    except UserError as e:
        unknown[kind] = str(e)
print(json.dumps({"tables": {k: sorted(v) for k, v in tables.items()}, "values": values,
                  "unknown": unknown}))
"""


@functools.cache
def report(framework: str) -> dict[str, Any]:
    """One child per framework: its tables, values and errors."""
    if importlib.util.find_spec("torch" if framework != "tensorflow" else "tensorflow") is None:
        pytest.skip(f"{framework} is not installed")
    keras_backend = "torch" if framework == "keras" else "tensorflow"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, framework],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=cli_env(KERAS_BACKEND=keras_backend),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


FRAMEWORKS = ["torch", "tensorflow", "keras"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_registered_name_has_an_implementation(framework: str) -> None:
    assert report(framework)["tables"] == {
        "losses": sorted(LOSSES),
        "metrics": sorted(METRICS),
        "optimizers": sorted(OPTIMIZERS),
    }


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_loss_and_metric_gives_the_registry_value(framework: str) -> None:
    values = report(framework)["values"]
    assert len(values) == len(LOSSES) + len(METRICS) + 5
    for key, (got, expected) in values.items():
        assert got == pytest.approx(expected, rel=2e-6, abs=1e-7), key


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_an_unknown_name_raises_instead_of_a_default(framework: str) -> None:
    tables = "torch" if framework == "torch" else "keras"
    assert report(framework)["unknown"] == {
        "loss": f"unknown {tables} loss 'xent'; valid: {', '.join(sorted(LOSSES))}",
        "metric": f"unknown {tables} metric 'f1'; valid: {', '.join(sorted(METRICS))}",
        "optimizer": f"unknown {tables} optimizer 'lion'; valid: {', '.join(sorted(OPTIMIZERS))}",
    }
