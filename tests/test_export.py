"""`tuitrain export`: each framework's serving formats load back in a fresh process and give
the same outputs as the checkpoint; bad formats and existing targets are one-line errors."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import assert_one_line_error, cli_env, run_cli, run_folders

HAS_TF = importlib.util.find_spec("tensorflow") is not None


def trained(tmp_path: Path, framework: str) -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    res = run_cli("train", "-p", "mlp-moons", "-f", framework, "--epochs", "1", runs_dir=runs)
    assert res.returncode == 0, res.stderr
    return runs, run_folders(runs)[0]


def run_python(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=180, env=cli_env(KERAS_BACKEND="tensorflow"))
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.mark.torch
def test_torch_export_loads_and_matches_the_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    runs, run = trained(tmp_path, "torch")
    res = run_cli("export", run.name, runs_dir=runs)
    assert res.returncode == 0, res.stderr
    pt2 = run / "export" / f"{run.name}.pt2"
    assert pt2.is_file()
    out = run_python(f"""
        import torch
        from tuitrain.backends.torch_backend import TorchEngine
        from tuitrain.core.checkpoints import CheckpointStore
        from tuitrain.core.data import load_splits
        from tuitrain.core.rundir import RunDir
        run = RunDir.open({str(run)!r}); spec = run.read_spec()
        splits = load_splits(spec.data, spec.run.seed, task=spec.task)
        engine = TorchEngine(spec, splits, "cpu")
        engine.load(CheckpointStore(run.checkpoints, ".pt").best().path, with_optimizer=False)
        x = engine.data["val"][0][:5]
        exported = torch.export.load({str(pt2)!r}).module()
        print(torch.allclose(exported(x), engine.model.eval()(x), atol=1e-6))
    """)
    assert out.splitlines()[-1] == "True"
    # The target exists now: never overwritten.
    assert_one_line_error(run_cli("export", run.name, runs_dir=runs), "already exists")
    assert_one_line_error(run_cli("export", run.name, "--format", "tflite", runs_dir=runs),
                          "valid: onnx, torch-export")


@pytest.mark.tensorflow
@pytest.mark.skipif(not HAS_TF, reason="TensorFlow is not installed")
def test_keras_exports_load_back(tmp_path: Path) -> None:
    runs, run = trained(tmp_path, "keras")
    for fmt in ("keras", "savedmodel"):
        res = run_cli("export", run.name, "--format", fmt, runs_dir=runs)
        assert res.returncode == 0, res.stderr
    archive = run / "export" / f"{run.name}.keras"
    saved = run / "export" / f"{run.name}-savedmodel"
    out = run_python(f"""
        import numpy as np, keras, tensorflow as tf
        x = np.zeros((3, 2), dtype="float32")
        model = keras.saving.load_model({str(archive)!r}, safe_mode=True)
        served = tf.saved_model.load({str(saved)!r})
        a, b = model.predict(x, verbose=0), served.serve(x).numpy()
        print(a.shape, np.allclose(a, b, atol=1e-5))
    """)
    assert out.splitlines()[-1] == "(3, 2) True"
