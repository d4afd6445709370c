"""The Keras backend (`model.compile` + `model.fit`): the scenarios every Keras-family backend
passes (from test_backend_tensorflow, including a refused `.keras` file holding a lambda), and
the same model and hooks on Keras' torch backend.

As there, nothing here imports TensorFlow or Keras into the pytest process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env, requires_tensorflow, requires_torch
from test_backend_tensorflow import (
    BackendScenarios,
    assert_parity,
    assert_refusals,
    checks_in_child,
    neutral_params,
    train,
)

pytestmark = [
    pytest.mark.tensorflow,
    requires_tensorflow,
]


class TestKeras(BackendScenarios):
    framework = "keras"


@requires_torch
class TestKerasOnTorch:
    """`--keras-backend torch`: the same model and hooks on Keras' torch backend."""

    def test_trains_mlp_digits(self, tmp_path: Path) -> None:
        run = train(tmp_path, "keras", "mlp-digits", "--epochs", "1", "--keras-backend", "torch")
        s = run.summary()
        assert s["status"] == "completed"
        assert s["versions"]["keras_backend"] == "torch"
        assert s["params"] == neutral_params("mlp-digits")
        assert s["metrics"]["val_accuracy"] > 0.5

    def test_never_imports_tensorflow(self, tmp_path: Path) -> None:
        """Keras imports TensorFlow whenever it is installed, unless told not to: the runner
        entry, `eval` and `export`, run in one child process, must never load it."""
        code = f"""
import json, sys
from pathlib import Path
from tuitrain import runner
from tuitrain.cli.main import main
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir
spec = load_spec("mlp-moons", {{"run.framework": "keras", "run.keras_backend": "torch",
                                "train.epochs": 1}})
run = RunDir.create(Path({str(tmp_path)!r}), spec)
codes = [runner.main([str(run.path)]), main(["eval", str(run.path)]),
         main(["export", str(run.path)])]
loaded = [name for name, module in sys.modules.items()
          if name.partition(".")[0] == "tensorflow" and module is not None]
print(json.dumps({{"codes": codes, "status": run.status(), "tensorflow": loaded}}))
"""
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=240, check=False, env=cli_env())
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result == {"codes": [0, 0, 0], "status": "completed", "tensorflow": []}

    @pytest.mark.slow  # another ~8 s child (torch, TensorFlow and Keras imports)
    def test_param_parity_and_refusals(self) -> None:
        checks = checks_in_child(("keras",), keras_backend="torch")["keras"]
        assert_parity(checks)
        assert_refusals(checks)


def test_streamed_data_without_torch_names_what_to_install() -> None:
    """Keras on torch or JAX streams through torch's DataLoader: where torch is missing, the
    run stops with one line naming the package and the backend that needs none."""
    code = """
import importlib.abc, sys

class NoTorch(importlib.abc.MetaPathFinder):  # as if torch were not installed
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "torch":
            raise ImportError(f"No module named {name!r}")

sys.meta_path.insert(0, NoTorch())
from tuitrain.backends import keras_backend
from tuitrain.core.errors import UserError
try:
    keras_backend._torch_pipeline(None)
except UserError as e:
    print(e)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env=cli_env(KERAS_BACKEND="tensorflow"))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    assert "torch's DataLoader" in line and "pip install torch==2.13.0" in line
    assert "--keras-backend tensorflow" in line
