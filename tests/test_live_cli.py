"""`tuitrain set` on a real PyTorch run: the new learning rate reaches the runner within a
block and shows in the logged rate, checkpoint=now saves one, stop_after_epoch ends it
`stopped`; bad settings and a run that is not training are one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, cli_env, requires_torch, run_cli, run_folders

from tuitrain.core.events import BatchMetrics, SettingChanged
from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.torch, requires_torch]

LONG = ("-p", "mlp-moons", "-f", "torch", "--epochs", "3000", "--set", "data.samples=300")


def test_set_changes_a_running_run_and_says_from_which_step(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = cli_env(runs)
    assert run_cli("train", *LONG, "--detach", env=env).returncode == 0
    run = RunDir(run_folders(runs)[0])
    deadline = time.monotonic() + 60
    while not any(isinstance(e, BatchMetrics) for e in run.events()):
        assert time.monotonic() < deadline, "the run never logged a step"
        time.sleep(0.1)
    out = run_cli("set", run.id, "optimizer.lr=0.0005", "lr_scale=0.5", "checkpoint=now",
                  env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{run.id}: optimizer.lr 0.01 -> 0.0005 from step" in out.stdout
    assert "lr_scale 1 -> 0.5 from step" in out.stdout and "checkpoint saved at step" in out.stdout
    changed = [e for e in run.events() if isinstance(e, SettingChanged)]
    step = max(c.global_step for c in changed)
    time.sleep(0.5)
    later = [e for e in run.events() if isinstance(e, BatchMetrics) and e.global_step > step]
    assert later and all(e.lr == pytest.approx(0.00025) for e in later)
    stopped = run_cli("set", run.id, "stop_after_epoch=true", env=env)
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 60
    while run.is_alive():
        assert time.monotonic() < deadline, "the run did not stop after its epoch"
        time.sleep(0.1)
    assert run.status() == "stopped"
    assert_one_line_error(run_cli("set", run.id, "lr_scale=2", env=env),
                          f"{run.id} is not running (it is stopped)")
    assert_one_line_error(run_cli("set", run.id, "train.epochs=5", env=env),
                          "train.epochs cannot change while a run trains; what can: optimizer.lr")
