"""Streamed training end to end, in every framework: a run whose data streams (torch's
DataLoader, tf.data) trains, validates and evaluates the same model as the same run held in
memory, with data workers or without (Keras on torch too); an augmented run stopped
mid-epoch (its pipeline loading ahead) and resumed ends as one that never stopped; a
streamed run exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FRAMEWORK_PARAMS, cli_env, requires_torch, run_cli, run_folders

from tuitrain.core.events import RunEnded
from tuitrain.core.rundir import RunDir

REPO = Path(__file__).resolve().parents[1]


def trained(runs: Path, framework: str, *extra: str, fault: str | None = None) -> dict:
    """Train mlp-moons (400 samples, 2 epochs) and return the run's summary."""
    env = cli_env(TUITRAIN_FAULT=fault) if fault else None
    out = run_cli("train", "-p", "mlp-moons", "-f", framework, "--epochs", "2", "--seed", "3",
                  "--set", "data.samples=400", *extra, runs_dir=runs, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads((run_folders(runs)[-1] / "summary.json").read_text())


def evaluated(runs: Path) -> str:
    """`tuitrain eval`'s report on the test split, the run's id left out."""
    run = run_folders(runs)[-1].name
    out = run_cli("eval", run, runs_dir=runs, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.replace(run, "RUN")


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_streamed_trains_as_in_memory(tmp_path: Path, framework: str) -> None:
    """The same samples in the same order: equal metrics to the last digit, in training,
    validation and `tuitrain eval`, with 0 and 2 data workers."""
    memory = trained(tmp_path / "memory", framework, "--set", "data.stream=never")
    for workers in (0, 2):
        runs = tmp_path / f"streamed-{workers}"
        streamed = trained(runs, framework, "--set", "data.stream=always",
                           "--set", f"data.workers={workers}")
        assert streamed["metrics"] == memory["metrics"], workers
        assert evaluated(runs) == evaluated(tmp_path / "memory")


@requires_torch
def test_keras_on_torch_streams_through_the_dataloader(tmp_path: Path) -> None:
    """Keras on its torch backend loads streamed batches with torch's DataLoader (2
    workers): the same metrics as in memory."""
    on_torch = ("--set", "run.keras_backend=torch")
    memory = trained(tmp_path / "memory", "keras", *on_torch, "--set", "data.stream=never")
    streamed = trained(tmp_path / "streamed", "keras", *on_torch, "--set",
                       "data.stream=always", "--set", "data.workers=2")
    assert streamed["metrics"] == memory["metrics"]


def augmented_preset(tmp_path: Path) -> Path:
    """cnn-digits with random crops (one pixel of padding; flips do not suit digits), which
    stream the training split."""
    text = (REPO / "presets" / "cnn-digits.toml").read_text()
    preset = tmp_path / "cnn-digits-augmented.toml"
    preset.write_text(text.replace('dataset = "digits"',
                                   'dataset = "digits"\naugment = ["crop"]\n'
                                   "crop_padding = 1"))
    return preset


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_augmented_resume_matches_uninterrupted(tmp_path: Path, framework: str) -> None:
    """Stopped at step 7 of epoch 1 (with 2 workers loading ahead) and resumed, an augmented
    run ends with the metrics of one that never stopped: the resumed pipeline loads the
    same samples, augmented the same way."""
    args = ("-p", str(augmented_preset(tmp_path)), "-f", framework, "--epochs", "2",
            "--batch-size", "64", "--set", "data.workers=2")
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    out = run_cli("train", *args, runs_dir=straight, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    out = run_cli("train", *args, runs_dir=stopped, timeout=300,
                  env=cli_env(TUITRAIN_FAULT="stop_at_step:7"))
    assert out.returncode == 130, out.stdout + out.stderr
    run = RunDir(run_folders(stopped)[0])
    out = run_cli("resume", run.id, runs_dir=stopped, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert next(e.global_step for e in run.events() if isinstance(e, RunEnded)) == 7
    assert run.summary()["metrics"] == RunDir(run_folders(straight)[0]).summary()["metrics"]


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_streamed_run_exports(tmp_path: Path, framework: str) -> None:
    """An export traces the model with the first training samples, read from the stream."""
    runs = tmp_path / "runs"
    trained(runs, framework, "--set", "data.stream=always")
    folder = run_folders(runs)[-1]
    out = run_cli("export", folder.name, runs_dir=runs, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert any((folder / "export").iterdir())
