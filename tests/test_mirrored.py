"""Data-parallel training in one process on a CPU-only machine, as `tuitrain train --devices
2` runs it: TensorFlow, and Keras on it, with `tf.distribute.MirroredStrategy` over two
logical CPUs; Keras on jax with its DataParallel distribution over two forced host devices.
Each replica trains its share of every global batch (that of the DDP rank of its number);
together they train the model one device trains on the same global batches; the run folder
records the strategy, and the checkpoint resumes on one device."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import framework_param, run_cli
from test_ddp import trained

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.rundir import RunDir

# The largest difference between two TensorFlow checkpoints' variables (a tf.train checkpoint
# folder: model and optimizer; or a .keras archive's weights), by variable path.
WEIGHTS_DIFF = """
import sys, zipfile, io
import numpy as np

def weights(path):
    if path.endswith(".keras"):
        import h5py
        with zipfile.ZipFile(path) as z:
            f = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
            out = {}
            f.visititems(lambda k, v: out.__setitem__(k, v[()]) if hasattr(v, "shape") else None)
            return out
    import tensorflow as tf
    prefix = path + "/ckpt"
    return {n: tf.train.load_variable(prefix, n) for n, _ in tf.train.list_variables(prefix)
            if n.endswith("VARIABLE_VALUE")}

a, b = weights(sys.argv[1]), weights(sys.argv[2])
assert a.keys() == b.keys() and a, (sorted(a), sorted(b))
print(max(float(np.abs(np.asarray(a[k], np.float64) - b[k]).max()) for k in a))
"""

JAX = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


def case(framework: str, options: tuple[str, ...], strategy: str, *marks: pytest.MarkDecorator,
         name: str = "") -> pytest.param:  # type: ignore[valid-type]
    """A framework with its options and the strategy its run records, as a test parameter."""
    return pytest.param(framework, options, strategy, id=name or framework,
                        marks=[*framework_param(framework).marks, *marks])


IN_PROCESS = [
    case("tensorflow", (), "Mirrored x2"),
    case("keras", (), "Mirrored x2"),
    case("keras", ("--keras-backend", "jax"), "DataParallel x2", JAX, name="keras-jax"),
]


def latest(run: RunDir) -> str:
    suffix = ".tfckpt" if run.read_spec().run.framework == "tensorflow" else ".keras"
    found = CheckpointStore(run.checkpoints, suffix).latest()
    assert found is not None
    return str(found.path)


@pytest.mark.parametrize(("framework", "options", "strategy"), IN_PROCESS)
def test_two_replicas_train_the_model_one_device_trains(
    tmp_path, framework: str, options: tuple[str, ...], strategy: str
) -> None:
    two = trained(tmp_path / "two", "-f", framework, *options, "--devices", "2")
    one = trained(tmp_path / "one", "-f", framework, *options)
    summary = two.summary()
    assert summary["status"] == "completed", summary["error"]
    assert (summary["world_size"], summary["parallel"], summary["global_batch"]) == (
        2, strategy, 32)
    assert summary["global_step"] == one.summary()["global_step"]
    diff = subprocess.run([sys.executable, "-c", WEIGHTS_DIFF, latest(two), latest(one)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert diff.returncode == 0, diff.stderr[-2000:]
    assert float(diff.stdout.strip().splitlines()[-1]) < 1e-4
    for key in ("accuracy", "val_accuracy", "loss"):
        assert summary["metrics"][key] == pytest.approx(one.summary()["metrics"][key],
                                                        abs=2e-3), key
    (row,) = json.loads(run_cli("runs", "--json", runs_dir=two.path.parent).stdout)
    assert (row["device"], row["world_size"]) == (strategy, 2)
    out = run_cli("resume", two.id, "--devices", "1", "--epochs", "4",
                  runs_dir=two.path.parent, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    resumed = two.summary()
    assert (resumed["status"], resumed["world_size"], resumed["epochs_completed"]) == (
        "completed", 1, 4)
