"""`tuitrain sweep --on slurm` against fake `sbatch`, `squeue` and `scontrol` (tests/fake_slurm:
they run the array's tasks on this machine and send SLURM's time-limit signal): every trial
is stopped by its time limit with a checkpoint, requeues itself and resumes to the end; a
job array lost with its machine is submitted again by `sweep resume`; without SLURM's
commands the sweep is refused before anything is made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import (
    REPO,
    assert_one_line_error,
    cli_env,
    requires_torch,
    run_cli,
    run_folders,
    wait_for,
)

from tuitrain.core.events import RunStarted
from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.torch, requires_torch]

FAKE = REPO / "tests" / "fake_slurm"
BASE = ("-p", "mlp-moons", "-f", "torch", "--set", "data.samples=300")


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    return cli_env(tmp / "runs", TUITRAIN_QUEUE_DIR=str(tmp / "queue"),
                   FAKE_SLURM_DIR=str(tmp / "slurm"),
                   PATH=f"{FAKE}{os.pathsep}{os.environ['PATH']}", **extra)


def job(tmp: Path, job_id: str) -> dict:
    return json.loads((tmp / "slurm" / f"job-{job_id}.json").read_text())


def finished(tmp: Path, job_id: str) -> bool:
    return all(state == "COMPLETED" for state in job(tmp, job_id)["tasks"].values())


def starts(run: RunDir) -> int:
    return sum(isinstance(e, RunStarted) for e in run.events())


def submitted(out: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    assert out.returncode == 0, out.stdout + out.stderr
    words = out.stdout.split()
    return words[1].rstrip(":"), words[words.index("array") + 1]


def test_each_trial_requeues_at_its_time_limit_and_resumes_to_the_end(tmp_path: Path) -> None:
    env = env_for(tmp_path, FAKE_SLURM_TIME_LIMIT="7")  # well after the task is up
    sid, job_id = submitted(run_cli(
        "sweep", *BASE, "--epochs", "400", "--grid", "optimizer.lr=1e-2,3e-2", "--on", "slurm",
        "--max-parallel", "2", "--sbatch=--partition=gpu --time=00:10:00", env=env))
    record = job(tmp_path, job_id)
    assert record["parallel"] == 2 and record["options"] == ["--partition=gpu", "--time=00:10:00"]
    wait_for(lambda: finished(tmp_path, job_id), "the job array to finish", timeout=150)
    assert job(tmp_path, job_id)["attempts"] == {"0": 2, "1": 2}  # each requeued once
    runs = [RunDir(p) for p in run_folders(tmp_path / "runs")]
    assert [r.status() for r in runs] == ["completed"] * 2
    assert [starts(r) for r in runs] == [2, 2]  # started, then resumed from its checkpoint
    logs = [(tmp_path / "slurm" / f"task-{job_id}_{n}.log").read_text() for n in (0, 1)]
    assert all("saved a checkpoint and task" in text and "resuming" in text for text in logs)
    shown = run_cli("sweep", "show", sid, env=env)
    assert "2 completed" in shown.stdout, shown.stdout + shown.stderr


def test_resume_submits_again_the_trials_a_lost_job_left(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    sid, job_id = submitted(run_cli(
        "sweep", *BASE, "--epochs", "400", "--grid", "optimizer.lr=1e-2,3e-2,5e-3",
        "--on", "slurm", "--max-parallel", "1", env=env))
    runs = sorted((RunDir(p) for p in run_folders(tmp_path / "runs")), key=lambda r: r.id)
    wait_for(lambda: any(r.is_alive() for r in runs), "a trial to start", timeout=150)
    # The node dies: the fake SLURM's driver, the task and its trial's runner, all at once.
    driver = subprocess.run(["pgrep", "-f", f"driver.py {job_id}"], capture_output=True,
                            text=True, check=False).stdout.split()
    for pid in driver:
        os.kill(int(pid), signal.SIGKILL)
    live = next(r for r in runs if r.is_alive())
    os.killpg(int(live.pidfile.read_text()), signal.SIGKILL)
    wait_for(lambda: not live.is_alive(), "the trial to die", timeout=150)
    record = job(tmp_path, job_id)
    for task, state in record["tasks"].items():  # what SLURM does with a lost job
        record["tasks"][task] = "COMPLETED" if state == "RUNNING" else "CANCELLED"
    (tmp_path / "slurm" / f"job-{job_id}.json").write_text(json.dumps(record))
    out = run_cli("sweep", "resume", sid, env=env)
    assert out.returncode == 0, out.stderr
    assert "3 trials submitted again to SLURM as job array" in out.stdout
    again = out.stdout.split()[-1]
    wait_for(lambda: finished(tmp_path, again), "the new job array to finish", timeout=240)
    assert [r.status() for r in runs] == ["completed"] * 3


def test_without_slurm_the_sweep_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "runs", TUITRAIN_QUEUE_DIR=str(tmp_path / "queue"),
                  PATH="/nonexistent")  # no sbatch anywhere on it
    out = run_cli("sweep", *BASE, "--grid", "optimizer.lr=1e-2", "--on", "slurm", env=env)
    assert_one_line_error(out, "--on slurm: `sbatch` is not on PATH")
    assert run_folders(tmp_path / "runs") == []
    refused = run_cli("sweep", *BASE, "--grid", "optimizer.lr=1e-2", "--sbatch=-p x",
                      env=env_for(tmp_path))
    assert_one_line_error(refused, "--sbatch is for --on slurm")
