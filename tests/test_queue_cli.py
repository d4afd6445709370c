"""`tuitrain queue` end to end with PyTorch: runs queued from the CLI train once each under
the detached scheduler, entries come off the queue, a killed scheduler is started again and
the queue finishes, and every bad input is one line with nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, cli_env, requires_torch, run_cli, run_folders, wait_for

from tuitrain.core.events import RunStarted
from tuitrain.core.liveness import is_held
from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.torch, requires_torch]

TINY = ("-p", "mlp-moons", "-f", "torch", "--epochs", "2", "--set", "data.samples=200")
LONG = ("-p", "mlp-moons", "-f", "torch", "--epochs", "3000", "--set", "data.samples=300")


def queue_cli(tmp: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = cli_env(tmp / "runs", TUITRAIN_QUEUE_DIR=str(tmp / "queue"))
    return run_cli("queue", *args, env=env, timeout=timeout)


def test_queued_runs_each_train_once_and_wait_reports_them(tmp_path: Path) -> None:
    for n in range(3):
        extra = ("--max-parallel", "2") if n == 0 else ()
        out = queue_cli(tmp_path, "add", *TINY, *extra)
        assert out.returncode == 0, out.stderr
        assert f"queued #{n + 1}:" in out.stdout
    waited = queue_cli(tmp_path, "wait", "--timeout", "170")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert waited.stdout.count(": completed") == 3
    runs = [RunDir(p) for p in run_folders(tmp_path / "runs")]
    assert [r.status() for r in runs] == ["completed"] * 3
    assert all(sum(isinstance(e, RunStarted) for e in r.events()) == 1 for r in runs)
    listed = queue_cli(tmp_path, "--all")
    assert listed.stdout.count("completed") == 3 and "scheduler not running" in listed.stdout
    log = (tmp_path / "queue" / "scheduler.log").read_text()
    assert log.count("started on 1 core(s)") == 3 and "queue empty: scheduler ends" in log


def test_rm_takes_a_waiting_run_off_and_refuses_a_running_one(tmp_path: Path) -> None:
    assert queue_cli(tmp_path, "add", *LONG, "--max-parallel", "1").returncode == 0
    assert queue_cli(tmp_path, "add", *TINY).returncode == 0
    first, second = (RunDir(p) for p in run_folders(tmp_path / "runs"))
    assert second.status() == "queued"
    wait_for(first.is_alive, "the first run to start")
    listed = queue_cli(tmp_path).stdout
    assert "#1  running" in listed and "#2  queued" in listed
    assert_one_line_error(queue_cli(tmp_path, "rm", "1"), "entry 1 is running",
                          f"tuitrain stop {first.id}")
    for command in ("watch", "stop"):
        assert_one_line_error(run_cli(command, second.id, env=cli_env(tmp_path / "runs")),
                              f"{second.id} is queued and has not started")
    out = queue_cli(tmp_path, "rm", "#2")
    assert out.returncode == 0 and f"removed #2: {second.id}" in out.stdout
    assert not second.path.exists()
    waiting = subprocess.Popen(
        [sys.executable, "-m", "tuitrain", "queue", "wait", "--timeout", "60"],
        stdout=subprocess.PIPE, text=True,
        env=cli_env(tmp_path / "runs", TUITRAIN_QUEUE_DIR=str(tmp_path / "queue")))
    assert waiting.stdout is not None
    assert waiting.stdout.readline() == "waiting for 1 queued or running\n"
    stop = run_cli("stop", first.id, env=cli_env(tmp_path / "runs"))
    assert stop.returncode == 0, stop.stderr
    out_text = waiting.communicate(timeout=90)[0]
    assert waiting.returncode == 1, out_text  # the run that ended during the wait stopped
    assert f"#1 {first.id}: stopped" in out_text
    assert queue_cli(tmp_path, "--json").stdout.strip() == "[]"


def test_a_killed_scheduler_is_started_again_and_the_queue_finishes(tmp_path: Path) -> None:
    assert queue_cli(tmp_path, "add", *TINY).returncode == 0
    assert queue_cli(tmp_path, "add", *TINY).returncode == 0
    pid = int((tmp_path / "queue" / "scheduler.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not is_held(tmp_path / "queue" / "scheduler.lock"), "the lock to go")
    listed = queue_cli(tmp_path).stdout
    assert "scheduler not running" in listed and "`tuitrain queue wait` starts it" in listed
    waited = queue_cli(tmp_path, "wait", "--timeout", "170")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "scheduler was not running: started it" in waited.stderr
    runs = [RunDir(p) for p in run_folders(tmp_path / "runs")]
    assert [r.status() for r in runs] == ["completed"] * 2
    assert all(sum(isinstance(e, RunStarted) for e in r.events()) == 1 for r in runs)


def test_bad_queue_inputs_are_one_line_and_leave_nothing(tmp_path: Path) -> None:
    assert_one_line_error(queue_cli(tmp_path, "add"), "queue add needs --preset")
    assert_one_line_error(queue_cli(tmp_path, "add", "-p", "no-such-preset"), "no-such-preset")
    assert_one_line_error(queue_cli(tmp_path, "add", *TINY, "--max-parallel", "0"),
                          "--max-parallel 0: must be 1 or more")
    assert_one_line_error(queue_cli(tmp_path, "rm", "abc"), "expected an entry number")
    assert_one_line_error(queue_cli(tmp_path, "rm", "7"), "no queue entry 7")
    assert_one_line_error(queue_cli(tmp_path, "wait", "--timeout", "x"), "--timeout")
    assert run_folders(tmp_path / "runs") == []
    assert queue_cli(tmp_path, "--json").stdout.strip() == "[]"
