"""The headless CLI end to end with PyTorch: every training runs in child processes (the CLI
and its runner), on small built-in presets, for one or two epochs."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    assert_one_line_error,
    build_once,
    cli_env,
    popen_cli,
    requires_torch,
    run_cli,
    run_folders,
)

from tuitrain.core.events import CheckpointSaved, EpochEnd, RunEnded, RunStarted
from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.torch, requires_torch]

SUMMARY_KEYS = {
    "status",
    "framework",
    "device",
    "params",
    "epochs_completed",
    "metrics",
    "best_checkpoint",
    "last_checkpoint",
}


def only_run(runs_dir: Path) -> RunDir:
    folders = run_folders(runs_dir)
    assert len(folders) == 1, folders
    return RunDir(folders[0])


def kinds(run: RunDir, kind: type) -> list:
    return [e for e in run.events() if isinstance(e, kind)]


def _train_digits(runs: Path) -> None:
    out = run_cli("train", "-p", "mlp-digits", "-f", "torch", "--epochs", "2", runs_dir=runs)
    (runs / "train.out").write_text(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """mlp-digits, 2 epochs, trained once per session and shared by the tests below."""
    runs = build_once(tmp_path_factory, "mlp-digits-2-epochs", _train_digits)
    run = only_run(runs)
    stdout = (runs / "train.out").read_text()
    assert f"run folder: {run.path}" in stdout
    assert "epoch 2/2" in stdout and "run completed after 2 epochs" in stdout
    return run


def test_train_writes_the_run_folder(trained: RunDir) -> None:
    spec = trained.read_spec()
    assert spec.name == "mlp-digits" and spec.train.epochs == 2 and spec.run.framework == "torch"

    summary = trained.summary()
    assert set(summary) >= SUMMARY_KEYS
    assert summary["status"] == "completed" and summary["framework"] == "torch"
    assert summary["device"] == "cpu" and summary["params"] == 17226
    assert summary["epochs_completed"] == 2
    assert {"loss", "val_loss", "val_accuracy", "accuracy"} <= set(summary["metrics"])
    assert 0.5 < summary["metrics"]["val_accuracy"] <= 1.0
    for key in ("best_checkpoint", "last_checkpoint"):
        assert (trained.path / summary[key]).is_file()

    events = trained.events()
    assert isinstance(events[0], RunStarted) and events[0].params == 17226
    assert isinstance(events[-1], RunEnded) and events[-1].status == "completed"
    assert [e.epoch for e in kinds(trained, EpochEnd)] == [0, 1]
    assert len(kinds(trained, CheckpointSaved)) >= 1
    ckpts = sorted(p.name for p in trained.checkpoints.iterdir())
    assert "best.json" in ckpts and any(n.endswith(".pt.json") for n in ckpts)
    assert not [n for n in ckpts if n.startswith(".")]  # no temp files left
    lines = trained.metrics.read_text().splitlines()
    assert all(json.loads(line)["event"] for line in lines)


def test_runs_lists_the_run(trained: RunDir) -> None:
    out = run_cli("runs", runs_dir=trained.path.parent)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith(trained.id))
    assert "mlp-digits" in row and "torch" in row and "completed" in row and "2/2" in row


def test_eval_prints_accuracy_and_confusion(trained: RunDir) -> None:
    out = run_cli("eval", trained.id, runs_dir=trained.path.parent)
    assert out.returncode == 0, out.stderr
    assert "on the test split (270 samples)" in out.stdout
    assert re.search(r"accuracy 0\.\d{4}", out.stdout)
    assert "confusion (rows: true, columns: predicted)" in out.stdout
    assert "precision  recall" in out.stdout
    report = json.loads((trained.path / "eval.json").read_text())
    assert report["split"] == "test" and report["checkpoint"].endswith(".pt")
    assert len(report["confusion"]) == 10 and sum(map(sum, report["confusion"])) == 270
    assert len(report["precision"]) == len(report["recall"]) == 10
    assert 0.5 < report["metrics"]["accuracy"] <= 1


OPTIMIZER_STEP = """
import sys, torch
state = torch.load(sys.argv[1], weights_only=True)
print(int(state["optimizer"]["state"][0]["step"]))
"""


def test_resume_continues_epochs_log_and_optimizer(trained: RunDir, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(trained.path, runs / trained.id)
    run = RunDir(runs / trained.id)
    with open(run.metrics, "a") as f:  # as if the last runner had been killed mid-line
        f.write('{"event": "batch", "ep')

    out = run_cli("resume", trained.id, "--epochs", "4", runs_dir=runs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resuming mlp-digits" in out.stdout and "epoch 3/4" in out.stdout

    assert [e.epoch for e in kinds(run, EpochEnd)] == [0, 1, 2, 3]
    started = kinds(run, RunStarted)
    assert [(s.resumed, s.start_epoch, s.start_step) for s in started] == [
        (False, 0, 0),
        (True, 2, 80),
    ]
    summary = run.summary()
    assert summary["status"] == "completed" and summary["epochs_completed"] == 4
    assert summary["global_step"] == 160 and run.read_spec().train.epochs == 4

    # Adam's step counter went on from 80: the optimizer state was restored, not rebuilt.
    last = run.path / summary["last_checkpoint"]
    step = subprocess.run(
        [sys.executable, "-c", OPTIMIZER_STEP, str(last)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
        check=True,
    )
    assert int(step.stdout) == 160

    again = run_cli("resume", trained.id, runs_dir=runs)
    assert_one_line_error(again, "already completed 4 epochs", "--epochs")
    fewer = run_cli("resume", trained.id, "--epochs", "3", runs_dir=runs)
    assert_one_line_error(fewer, "--epochs must be more than the 4 epochs already completed")


def test_runs_dir_from_the_environment_and_two_runs_at_once(tmp_path: Path) -> None:
    runs = tmp_path / "from-env"
    env = cli_env(runs_dir=runs)
    cmd = [
        sys.executable,
        "-m",
        "tuitrain",
        "train",
        "-p",
        "mlp-moons",
        "-f",
        "torch",
        "--epochs",
        "1",
        "--set",
        "data.samples=300",
    ]
    procs = [
        subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stdout + stderr
    folders = run_folders(runs)
    assert len(folders) == 2 and folders[0] != folders[1]
    assert not (tmp_path / "runs").exists()  # not the default ./runs
    for folder in folders:
        run = RunDir(folder)
        assert run.summary()["status"] == "completed"
        assert len(kinds(run, RunStarted)) == 1  # nobody else wrote into it


def _wait_for(path: Path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_ctrl_c_stops_gracefully(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = popen_cli("train", "-p", "mlp-digits", "-f", "torch", "--epochs", "1000", runs_dir=runs)
    try:
        deadline = time.monotonic() + 60
        while not run_folders(runs) and time.monotonic() < deadline:
            time.sleep(0.05)
        run = only_run(runs)
        _wait_for(run.metrics, '"event": "batch"')
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "stopping" in stderr
    summary = run.summary()
    assert summary["status"] == "stopped"
    assert summary["last_checkpoint"] and (run.path / summary["last_checkpoint"]).is_file()
    ended = kinds(run, RunEnded)
    assert [e.status for e in ended] == ["stopped"]
    saved = kinds(run, CheckpointSaved)
    assert saved and saved[-1].global_step == ended[0].global_step  # saved where it stopped
    assert "run stopped after" in stdout


def test_nan_loss_fails_naming_the_step(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = run_cli(
        "train",
        "-p",
        "mlp-regression",
        "-f",
        "torch",
        "--optimizer",
        "sgd",
        "--lr",
        "1e6",
        "--epochs",
        "3",
        runs_dir=runs,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    run = only_run(runs)
    summary = run.summary()
    assert summary["status"] == "failed"
    match = re.search(r"loss became (nan|inf|-inf) at step (\d+)", summary["error"])
    assert match, summary["error"]
    bad_step = int(match.group(2))
    assert f"at step {bad_step}" in out.stdout
    # no checkpoint from the NaN step or later
    assert all(c.global_step < bad_step for c in kinds(run, CheckpointSaved))
    for manifest in run.checkpoints.glob("ckpt-*.json"):
        assert json.loads(manifest.read_text())["global_step"] < bad_step
    if bad_step <= summary["steps_per_epoch"]:  # it failed in the first epoch: nothing saved
        assert not list(run.checkpoints.glob("ckpt-*"))
        assert_one_line_error(run_cli("eval", run.id, runs_dir=runs), "no complete checkpoint")
        resumed = run_cli("resume", run.id, runs_dir=runs)
        assert_one_line_error(resumed, "no complete checkpoint to resume from")
        assert run.summary()["error"] == summary["error"]  # the failure reason is kept


def test_compare_prints_the_table(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = run_cli(
        "compare",
        "-p",
        "mlp-moons",
        "--frameworks",
        "torch",
        "--epochs",
        "1",
        "--set",
        "data.samples=300",
        runs_dir=runs,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("framework"))
    for column in ("device", "params", "1st epoch s", "s/epoch", "samples/s", "val_loss",
                   "metric", "peak MB"):
        assert column in lines[header]
    row = lines[header + 2].split()
    assert row[0] == "torch" and row[1] == "cpu" and row[2] == "1,218" and row[-1] == "completed"
    assert len(run_folders(runs)) == 1  # each framework is a normal run folder


def test_unavailable_device_is_refused_before_a_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = run_cli("train", "-p", "mlp-moons", "-f", "torch", "--device", "cuda:99", runs_dir=runs)
    assert_one_line_error(out, "device 'cuda:99' is not available to torch", "cpu")
    assert run_folders(runs) == []


def test_no_validation_or_test_split(tmp_path: Path) -> None:
    """val_fraction 0: the best checkpoint follows the training metric; with no test split
    either, `eval` says there is nothing to evaluate on."""
    runs = tmp_path / "runs"
    out = run_cli(
        "train",
        "-p",
        "mlp-moons",
        "-f",
        "torch",
        "--epochs",
        "2",
        "--set",
        "data.samples=200",
        "--set",
        "data.val_fraction=0",
        "--set",
        "data.test_fraction=0",
        "--batch-size",
        "1000",
        runs_dir=runs,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    run = only_run(runs)
    summary = run.summary()
    assert summary["monitor"] == "accuracy" and summary["best_checkpoint"]
    assert not [k for k in summary["metrics"] if k.startswith("val_")]
    assert summary["global_step"] == 2  # one batch larger than the data per epoch
    assert_one_line_error(run_cli("eval", run.id, runs_dir=runs), "nothing to evaluate on")


def test_ctrl_c_while_the_runner_starts_up(tmp_path: Path) -> None:
    """Ctrl+C while the runner still imports torch: not lost, not a crash; a stop."""
    runs = tmp_path / "runs"
    proc = popen_cli("train", "-p", "mlp-moons", "-f", "torch", "--epochs", "500", runs_dir=runs)
    try:
        deadline = time.monotonic() + 60
        while not list(runs.glob("*/runner.pid")) and time.monotonic() < deadline:
            time.sleep(0.01)
        # no wait: the runner has barely started (its handlers may not be installed yet)
        run = only_run(runs)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert run.summary()["status"] == "stopped"
    assert run.summary()["epochs_completed"] < 500


def test_a_stop_sent_through_the_control_file_at_launch_is_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard may only write the control file; a command sent before the runner has
    opened it still counts (the launcher tells the runner where its commands start)."""
    from tuitrain.core import control, launch
    from tuitrain.core.presets import load_spec

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = load_spec("mlp-moons", {"train.epochs": 500, "data.samples": 300})
    run = RunDir.create(tmp_path, spec)
    control.send(run.control, "pause")  # an old command from before this launch: ignored
    proc = launch.start_runner(run)
    control.send(run.control, "stop")
    assert proc.wait(timeout=60) == 0
    summary = run.summary()
    assert summary["status"] == "stopped" and summary["epochs_completed"] < 500
    assert [e.status for e in kinds(run, RunEnded)] == ["stopped"]


def _train_regression(runs: Path) -> None:
    out = run_cli("train", "-p", "mlp-regression", "-f", "torch", "--epochs", "3", runs_dir=runs)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """mlp-regression on diabetes, 3 epochs, trained once and copied by the tests below."""
    return only_run(build_once(tmp_path_factory, "mlp-regression-3-epochs", _train_regression))


def _copy(run: RunDir, tmp_path: Path) -> RunDir:
    shutil.copytree(run.path, tmp_path / "runs" / run.id)
    return RunDir(tmp_path / "runs" / run.id)


def _eval(run: RunDir) -> tuple[str, dict, np.lib.npyio.NpzFile]:
    out = run_cli("eval", run.id, runs_dir=run.path.parent)
    assert out.returncode == 0, out.stderr
    report = json.loads((run.path / "eval.json").read_text())
    return out.stdout, report, np.load(run.path / "eval-predictions.npz")


def test_regression_eval_reports_the_data_units(regression: RunDir, tmp_path: Path) -> None:
    """The runner saved the train split's statistics; eval de-standardizes with them: its
    MAE and RMSE (and the MSE loss) are those of the saved predictions against diabetes'
    own targets (disease progression, 25 to 346), and it says so."""
    from sklearn.datasets import load_diabetes

    from tuitrain.core import preprocessing
    from tuitrain.core.data import load_splits

    run = _copy(regression, tmp_path)
    saved = preprocessing.read(run.preprocessing)
    assert saved == load_splits(run.read_spec().data, 0, task="regression").preprocessing
    stdout, report, predictions = _eval(run)
    assert "metrics in the data's units" in stdout and report["units"] in stdout
    outputs, targets = predictions["outputs"], predictions["targets"]
    assert outputs.shape == targets.shape == (66, 1)
    raw = load_diabetes(return_X_y=True)[1]
    assert np.abs(targets - raw[None, :]).min(axis=1).max() < 1e-3  # every one a real target
    err = outputs.astype(np.float64) - targets
    metrics = report["metrics"]
    assert metrics["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-6)
    assert metrics["rmse"] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-6)
    assert metrics["loss"] == pytest.approx((err**2).mean(), rel=1e-6)
    assert 20 < metrics["mae"] < 150  # real units; standardized ones would be about 0.5-1


def test_resume_and_eval_read_the_saved_statistics(regression: RunDir, tmp_path: Path) -> None:
    """Statistics are read back, never recomputed: a target mean shifted in the file shifts
    eval's predictions (the targets, standardized and restored with it, stay the same) and
    what a resumed run trains on."""
    from tuitrain.core import preprocessing

    run = _copy(regression, tmp_path)
    before = _eval(run)[2]
    saved = preprocessing.read(run.preprocessing)
    assert saved is not None and saved.targets is not None
    targets = preprocessing.Scaling((saved.targets.mean[0] + 1000.0,), saved.targets.std)
    preprocessing.write(run.preprocessing, preprocessing.Preprocessing(saved.inputs, targets))
    after = _eval(run)[2]
    np.testing.assert_allclose(after["targets"], before["targets"], rtol=1e-5)
    np.testing.assert_allclose(after["outputs"], before["outputs"] + 1000.0, rtol=1e-5)
    # The resumed run standardizes its targets with the shifted mean: ~13 std away.
    out = run_cli("resume", run.id, "--epochs", "4", runs_dir=run.path.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    losses = [e.metrics["loss"] for e in kinds(run, EpochEnd)]
    assert len(losses) == 4 and max(losses[:3]) < 2 < 50 < losses[3], losses
    assert preprocessing.read(run.preprocessing).targets == targets  # not rewritten


def test_a_run_from_before_saved_statistics_works_as_before(
    regression: RunDir, tmp_path: Path
) -> None:
    """No preprocessing.json: eval reports standardized units and says so; export takes and
    returns standardized values and its signature says the statistics are not in it."""
    run = _copy(regression, tmp_path)
    run.preprocessing.unlink()
    stdout, report, predictions = _eval(run)
    assert "metrics in standardized units" in stdout
    err = predictions["outputs"].astype(np.float64) - predictions["targets"]
    assert report["metrics"]["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-6)
    assert report["metrics"]["mae"] < 2
    out = run_cli("export", run.id, runs_dir=run.path.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith(
        "  inputs:  float32 (N, 10), standardized per feature as at training (the run "
        "predates saved statistics: they are not in the export)\n"
        "  outputs: float32 (N, 1), standardized targets as at training (the run predates "
        "saved statistics: they are not in the export)\n"
    ), out.stdout
    assert not run.preprocessing.exists()
