"""`tuitrain sweep` end to end with PyTorch: a grid's trials train as queued runs tagged with
the sweep, `sweep show` ranks them, the median pruner stops a bad trial, `sweep resume`
finishes a sweep whose scheduler and running trial were killed without redoing finished
trials, and every bad input is one line with nothing queued."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import assert_one_line_error, cli_env, requires_torch, run_cli, run_folders, wait_for

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.events import RunStarted
from tuitrain.core.liveness import is_held
from tuitrain.core.run_meta import read_meta
from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.torch, requires_torch]

BASE = ("-p", "mlp-moons", "-f", "torch", "--set", "data.samples=300")


def cli(tmp: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = cli_env(tmp / "runs", TUITRAIN_QUEUE_DIR=str(tmp / "queue"))
    return run_cli(*args, env=env, timeout=timeout)


def show(tmp: Path, sweep_id: str) -> dict:
    out = cli(tmp, "sweep", "show", sweep_id, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def sweep_id(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.split()[1].rstrip(":")


def starts(run: RunDir) -> int:
    return sum(isinstance(e, RunStarted) for e in run.events())


def test_a_grid_trains_each_trial_once_and_show_ranks_them(tmp_path: Path) -> None:
    sid = sweep_id(cli(tmp_path, "sweep", *BASE, "--epochs", "3", "--max-parallel", "2",
                       "--grid", "optimizer.lr=1e-3,3e-2 train.batch_size=16,64"))
    waited = cli(tmp_path, "queue", "wait", "--timeout", "200")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    shown = show(tmp_path, sid)
    rows = shown["rows"]
    assert [r["status"] for r in rows] == ["completed"] * 4
    bests = [r["best"] for r in rows]
    assert bests == sorted(bests, reverse=True)  # val_accuracy: the highest first
    for row in rows:
        run = RunDir(tmp_path / "runs" / row["run"])
        spec = run.read_spec()
        assert (spec.optimizer.lr, spec.train.batch_size) == (
            row["params"]["optimizer.lr"], row["params"]["train.batch_size"])
        assert spec.train.keep_checkpoints == 1  # the sweep's default: the last and the best
        meta = read_meta(run.path)
        assert (meta.sweep, meta.trial) == (sid, row["trial"]) and starts(run) == 1
    text = cli(tmp_path, "sweep", "show", sid[-12:]).stdout
    assert "4 completed" in text and "optimizer.lr=0.03 train.batch_size=16" in text
    listed = cli(tmp_path, "runs", "--filter", f"sweep={sid} settings~batch_size=64").stdout
    assert listed.count("train.batch_size=64") == 2 and "batch_size=16" not in listed


def test_the_median_pruner_stops_a_bad_trial(tmp_path: Path) -> None:
    sid = sweep_id(cli(tmp_path, "sweep", *BASE, "--epochs", "200", "--prune", "median",
                       "--grid", "optimizer.lr=1e-2,2e-2,5e-3,1e-6", "--max-parallel", "1"))
    waited = cli(tmp_path, "queue", "wait", "--timeout", "220", timeout=240)
    assert waited.returncode == 1  # the pruned trial ended stopped
    rows = {r["params"]["optimizer.lr"]: r for r in show(tmp_path, sid)["rows"]}
    assert rows[1e-6]["status"] == "pruned"
    assert int(rows[1e-6]["epochs"].split("/")[0]) < 200
    assert [rows[lr]["status"] for lr in (1e-2, 2e-2, 5e-3)] == ["completed"] * 3
    log = (tmp_path / "queue" / "scheduler.log").read_text()
    assert f"{sid}: pruned {rows[1e-6]['run']}" in log


def test_resume_finishes_a_sweep_whose_scheduler_and_trial_were_killed(tmp_path: Path) -> None:
    sid = sweep_id(cli(tmp_path, "sweep", *BASE, "--epochs", "150", "--max-parallel", "1",
                       "--grid", "optimizer.lr=1e-2,2e-2,3e-2"))
    runs = [RunDir(p) for p in run_folders(tmp_path / "runs")]
    first, second, third = sorted(runs, key=lambda r: read_meta(r.path).trial or 0)
    wait_for(lambda: first.status() == "completed" and second.is_alive()
             and CheckpointStore(second.checkpoints, "").latest() is not None,
             "the first trial to end and the second to checkpoint", timeout=90)
    queue = tmp_path / "queue"
    os.kill(int((queue / "scheduler.pid").read_text()), signal.SIGKILL)  # the machine dies:
    os.killpg(int(second.pidfile.read_text()), signal.SIGKILL)  # scheduler and trial at once
    wait_for(lambda: not second.is_alive() and not is_held(queue / "scheduler.lock"),
             "deaths", timeout=90)
    assert second.status() == "crashed" and third.status() == "queued"
    resumed = cli(tmp_path, "sweep", "resume", sid)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 resumed from a checkpoint, 0 started anew" in resumed.stdout
    waited = cli(tmp_path, "queue", "wait", "--timeout", "200")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert [r.status() for r in (first, second, third)] == ["completed"] * 3
    assert [starts(r) for r in (first, second, third)] == [1, 2, 1]  # the first not redone
    again = cli(tmp_path, "sweep", "resume", sid)  # nothing left to do
    assert "0 resumed from a checkpoint, 0 started anew, 0 queued again" in again.stdout


def test_bad_sweeps_are_one_line_and_queue_nothing(tmp_path: Path) -> None:
    cases = [
        ((*BASE,), "sweep needs --grid"),
        ((*BASE, "--grid", "optimizer.lr=1,2", "--random", "3"), "two kinds of sweep"),
        ((*BASE, "--grid", "optimizer.lrr=1,2"), "optimizer.lrr"),
        ((*BASE, "--grid", "optimizer.lr=-1,2"), "--grid optimizer.lr=-1"),
        ((*BASE, "--random", "2", "--param", "optimizer.lr=gauss(1,2)"), "expected KEY=DIST"),
        ((*BASE, "--grid", "optimizer.lr=1", "--keep-checkpoints", "0"), "--keep-checkpoints 0"),
        ((*BASE, "--grid", "optimizer.lr=1", "--disk-budget", "lots"), "--disk-budget 'lots'"),
        (("--grid", "optimizer.lr=1"), "sweep needs --preset"),
    ]
    for args, needle in cases:
        assert_one_line_error(cli(tmp_path, "sweep", *args), needle)
    assert_one_line_error(cli(tmp_path, "sweep", "show", "nope"), "no sweep 'nope'")
    assert_one_line_error(cli(tmp_path, "sweep", "resume", "nope"), "no sweep 'nope'")
    assert run_folders(tmp_path / "runs") == []
    assert not (tmp_path / "runs" / "sweeps").exists()
