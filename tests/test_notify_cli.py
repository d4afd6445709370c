"""`--notify-cmd` end to end with PyTorch: the command runs when a headless run completes,
with the run, its status and a message in its environment; a runner killed without a word is
notified as crashed by the `tuitrain train` that followed it; a command that fails does not
change how the run ends."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import cli_env, popen_cli, requires_torch, run_cli, run_folders

from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.torch, requires_torch]

TINY = ("-p", "mlp-moons", "-f", "torch", "--set", "data.samples=200")


def notes(path: Path, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while needle not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, path.read_text() if path.exists() else "nothing"
        time.sleep(0.05)
    return path.read_text()


def test_a_completed_run_runs_the_notify_command(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    cmd = f'echo "$TUITRAIN_STATUS|$TUITRAIN_RUN|$TUITRAIN_MESSAGE" >> {out}; exit 5'
    done = run_cli("train", *TINY, "--epochs", "2", "--notify-cmd", cmd,
                   runs_dir=tmp_path / "runs")
    assert done.returncode == 0, done.stderr  # the command's own failure changes nothing
    (run,) = (RunDir(p) for p in run_folders(tmp_path / "runs"))
    text = notes(out, "completed|")
    status, folder, message = text.strip().split("|")
    assert (status, folder) == ("completed", str(run.path))
    assert message.startswith(f"{run.id} completed after 2/2 epochs; best val_accuracy ")
    assert "notify command exited 5" in notes(run.path / "notify.log", "exited 5")


def test_a_killed_runner_is_notified_as_crashed_from_the_environment(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    env = cli_env(TUITRAIN_NOTIFY_CMD=f'echo "$TUITRAIN_STATUS: $TUITRAIN_MESSAGE" >> {out}')
    cli = popen_cli("train", *TINY, "--epochs", "3000", runs_dir=tmp_path / "runs", env=env)
    deadline = time.monotonic() + 60
    while not run_folders(tmp_path / "runs") or not RunDir(
            run_folders(tmp_path / "runs")[0]).runner_pid():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run = RunDir(run_folders(tmp_path / "runs")[0])
    time.sleep(1)
    os.killpg(run.runner_pid() or 0, signal.SIGKILL)
    assert cli.wait(timeout=60) == 1
    assert f"crashed: {run.id} crashed: its runner died" in notes(out, "crashed:")
