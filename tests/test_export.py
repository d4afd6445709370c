"""`tuitrain export`: every format loads in its own runtime (`torch.export.load`, ONNX
Runtime, `keras.saving.load_model`, `tf.saved_model.load`) in a fresh process and predicts
what the checkpoint predicts; every framework's export takes images channels-last, as
tuitrain states their shape, and, with the run's saved statistics, raw inputs, returning
regression outputs in the data's units; the command prints that signature; bad formats and
existing targets are one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, cli_env, requires_tensorflow, run_cli, run_folders

SIGNATURE = (
    "  inputs:  float32 (N, 8, 8, 1), as loaded at training, not standardized\n"
    "  outputs: float32 (N, 10), logits, one per class (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)\n"
)
REGRESSION_SIGNATURE = (
    "  inputs:  float32 (N, 10), raw, as in the data (the export standardizes them with the "
    "run's statistics)\n"
    "  outputs: float32 (N, 1), targets in the data's units (the export de-standardizes them)\n"
)

# Run as `python -c SCRIPT RUN_DIR`: for each file in RUN/export, the shape of its outputs on
# the validation split, fed raw (the standardization undone with the run's saved statistics),
# and how far they are from the backend's own pipeline: the checkpoint's outputs on the
# standardized split, in the data's units; relative to 1 + |expected|.
PREDICT_SCRIPT = """
import json, sys
import numpy as np
from tuitrain.cli.evaluate import load_best
from tuitrain.core.rundir import RunDir

run = RunDir.open(sys.argv[1])
spec, ckpt, backend, splits, saved = load_best(run, "export")
expected = backend.evaluate(spec, splits, ckpt.path, "val").outputs
x = splits.x_val
if saved is not None and saved.inputs is not None:
    x = saved.inputs.restore(x)
if saved is not None and saved.targets is not None:
    expected = saved.targets.restore(expected)


def predict(path):
    if path.suffix == ".pt2":
        import torch
        return torch.export.load(path).module()(torch.from_numpy(x)).detach().numpy()
    if path.suffix == ".onnx":
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    if path.suffix == ".keras":
        import keras
        return keras.saving.load_model(path, safe_mode=True).predict(x, verbose=0)
    import tensorflow as tf
    served = tf.saved_model.load(str(path))  # held: its functions need its variables alive
    return served.serve(x).numpy()


out = {"expected": list(expected.shape)}
for path in sorted((run.path / "export").iterdir()):
    got = np.asarray(predict(path))
    gap = None
    if got.shape == expected.shape:
        gap = float((np.abs(got - expected) / (1 + np.abs(expected))).max())
    out[path.name] = [list(got.shape), gap]
print(json.dumps(out))
"""


def trained(tmp_path: Path, framework: str, preset: str = "cnn-digits") -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    res = run_cli("train", "-p", preset, "-f", framework, "--epochs", "1", runs_dir=runs)
    assert res.returncode == 0, res.stderr
    return runs, run_folders(runs)[0]


def exported_predictions(run: Path) -> dict[str, list[object]]:
    """{file: [output shape, largest gap to the checkpoint's outputs]} for RUN/export."""
    res = subprocess.run(
        [sys.executable, "-c", PREDICT_SCRIPT, str(run)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=cli_env(),
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def export_all(runs: Path, run: Path, formats: dict[str, str], signature: str = SIGNATURE) -> None:
    """Export in every format; each prints the signature and writes exactly its file."""
    for fmt, name in formats.items():
        res = run_cli("export", run.name, "--format", fmt, runs_dir=runs)
        assert res.returncode == 0, res.stderr
        assert res.stdout.endswith(signature), res.stdout
        assert (run / "export" / name).exists()
    assert sorted(p.name for p in (run / "export").iterdir()) == sorted(formats.values())


def assert_predicts_as_checkpoint(run: Path, files: list[str], outputs: int = 10) -> None:
    found = exported_predictions(run)
    n = found.pop("expected")[0]
    assert found == {name: [[n, outputs], pytest.approx(0, abs=1e-5)] for name in files}


@pytest.mark.torch
def test_torch_exports_run_in_their_runtimes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    runs, run = trained(tmp_path, "torch")
    formats = {"torch-export": f"{run.name}.pt2", "onnx": f"{run.name}.onnx"}
    export_all(runs, run, formats)  # ONNX: the weights inside the file, nothing beside it
    assert_predicts_as_checkpoint(run, list(formats.values()))
    # The target exists now: never overwritten.
    assert_one_line_error(run_cli("export", run.name, runs_dir=runs), "already exists")
    bad_format = run_cli("export", run.name, "--format", "tflite", runs_dir=runs)
    assert_one_line_error(bad_format, "valid: onnx, torch-export")


@pytest.mark.tensorflow
@requires_tensorflow
@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
def test_keras_family_exports_run_in_their_runtimes(tmp_path: Path, framework: str) -> None:
    runs, run = trained(tmp_path, framework)
    formats = {"keras": f"{run.name}.keras", "savedmodel": f"{run.name}-savedmodel"}
    export_all(runs, run, formats)
    assert_predicts_as_checkpoint(run, list(formats.values()))


@pytest.mark.torch
def test_torch_regression_exports_take_raw_inputs_and_return_data_units(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    runs, run = trained(tmp_path, "torch", "mlp-regression")
    formats = {"torch-export": f"{run.name}.pt2", "onnx": f"{run.name}.onnx"}
    export_all(runs, run, formats, REGRESSION_SIGNATURE)
    assert_predicts_as_checkpoint(run, list(formats.values()), outputs=1)


@pytest.mark.tensorflow
@requires_tensorflow
@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
def test_keras_family_regression_exports_take_raw_inputs_and_return_data_units(
    tmp_path: Path, framework: str
) -> None:
    runs, run = trained(tmp_path, framework, "mlp-regression")
    formats = {"keras": f"{run.name}.keras", "savedmodel": f"{run.name}-savedmodel"}
    export_all(runs, run, formats, REGRESSION_SIGNATURE)
    assert_predicts_as_checkpoint(run, list(formats.values()), outputs=1)
