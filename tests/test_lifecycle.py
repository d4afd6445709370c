"""The run lifecycle from the command line, as users and job schedulers drive it (PyTorch):
liveness that a reused pid cannot fool, one runner per run folder, what each signal to
`tuitrain train` does, `--detach` and `tuitrain stop`, and resume at once after a SIGKILL of
the whole process tree."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    REPO,
    assert_one_line_error,
    cli_env,
    popen_cli,
    requires_torch,
    run_cli,
    run_folders,
    wait_for,
)

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.events import RunEnded
from tuitrain.core.rundir import RunDir

pytestmark = [requires_torch, pytest.mark.torch]

LONG = ("-p", "mlp-moons", "-f", "torch", "--epochs", "3000", "--set", "data.samples=300")


def has_checkpoint(run: RunDir) -> bool:
    return CheckpointStore(run.checkpoints, ".pt").latest() is not None


def start_training(runs: Path, sigint: str = "default") -> tuple[subprocess.Popen[str], RunDir]:
    """`tuitrain train` in the foreground of a child, once its run has a checkpoint."""
    proc = popen_cli("train", *LONG, runs_dir=runs, sigint=sigint)  # type: ignore[arg-type]
    wait_for(lambda: bool(run_folders(runs)), "the run folder")
    run = RunDir(run_folders(runs)[0])
    wait_for(lambda: has_checkpoint(run), "a checkpoint")
    return proc, run


def detached(runs: Path) -> RunDir:
    """A run started with `--detach`, once it has a checkpoint."""
    out = run_cli("train", *LONG, "--detach", runs_dir=runs)
    assert out.returncode == 0, out.stderr
    run = RunDir(run_folders(runs)[0])
    wait_for(lambda: has_checkpoint(run), "a checkpoint")
    return run


def stop(run: RunDir, runs: Path) -> None:
    out = run_cli("stop", run.id, runs_dir=runs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert run.status() == "stopped" and not run.is_alive()


def kill_tree(run: RunDir, cli: subprocess.Popen[str]) -> None:
    """SIGKILL the CLI and its runner's process group (the runner leads its own session),
    then wait until the kernel has reaped them (which is when it drops the lock)."""
    runner = run.runner_pid()
    for kill, pid in ((os.killpg, runner), (os.kill, cli.pid)):
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(pid, signal.SIGKILL)
    cli.wait()
    wait_for(lambda: not run.is_alive(), "the killed runner's lock to be dropped", timeout=10)


# ----- signals to `tuitrain train` ----------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_to_the_cli_stops_its_run(tmp_path: Path, signum: int, code: int) -> None:
    runs = tmp_path / "runs"
    proc, run = start_training(runs)
    runner = run.runner_pid()
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stdout + stderr
    assert f"{signal.Signals(signum).name}: stopping" in stderr and "Traceback" not in stderr
    summary = run.summary()
    assert summary["status"] == "stopped" and run.status() == "stopped"
    assert not run.is_alive()
    with pytest.raises(ProcessLookupError):
        os.kill(runner, 0)  # type: ignore[arg-type]
    assert (run.path / summary["last_checkpoint"]).is_file()
    assert [e.status for e in run.events() if isinstance(e, RunEnded)] == ["stopped"]


def test_sigint_ignored_at_start_stays_ignored(tmp_path: Path) -> None:
    """A background job of a non-interactive shell: the terminal's Ctrl+C is not for it."""
    runs = tmp_path / "runs"
    proc, run = start_training(runs, sigint="ignored")
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None and run.status() == "running"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert run.status() == "stopped"


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGKILL])
def test_hangup_or_sigkill_of_the_cli_leaves_the_run_training(
        tmp_path: Path, signum: int) -> None:
    """SIGHUP (the SSH connection dropped) on purpose; SIGKILL of the CLI alone cannot be
    caught, so its runner trains on as if detached, and `tuitrain stop` ends it."""
    runs = tmp_path / "runs"
    proc, run = start_training(runs)
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == -signum
    size = run.metrics.stat().st_size
    wait_for(lambda: run.metrics.stat().st_size > size, "more training")
    assert run.status() == "running"
    stop(run, runs)


# ----- one runner per folder; --detach and stop ---------------------------------------------


def test_detach_then_a_second_runner_is_refused_naming_the_pid(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    t0 = time.monotonic()
    out = run_cli("train", *LONG, "--detach", runs_dir=runs)
    took = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    run = RunDir(run_folders(runs)[0])
    assert f"tuitrain watch {run.id}" in out.stdout and f"tuitrain stop {run.id}" in out.stdout
    assert run.status() == "running", "a detached run is running the moment the command returns"
    print(f"train --detach returned in {took:.2f} s")
    wait_for(lambda: has_checkpoint(run), "a checkpoint")
    pid = run.runner_pid()
    assert pid is not None
    assert_one_line_error(run_cli("resume", run.id, runs_dir=runs),
                          "already running", f"runner pid {pid}", f"tuitrain stop {run.id}")
    stop(run, runs)
    assert_one_line_error(run_cli("stop", run.id, runs_dir=runs), "is not running")


def test_two_resumes_started_together_exactly_one_wins(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run = detached(runs)
    stop(run, runs)
    procs = [popen_cli("resume", run.id, "--detach", runs_dir=runs) for _ in range(2)]
    results = [(p.wait(timeout=60), p.communicate()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, (_, err) in results if code == 2)
    assert "already running" in loser and len(loser.strip().splitlines()) == 1, loser
    assert run.is_alive()
    stop(run, runs)


PROBE_LOOP = """
import sys, time
from pathlib import Path
from tuitrain.core.rundir import RunDir
run, n = RunDir(Path(sys.argv[1])), 0
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    run.status(); run.is_alive(); n += 1
print(n)
"""


def test_a_tight_runs_loop_never_makes_a_resume_fail(tmp_path: Path) -> None:
    """Readers probe the lock without holding it for more than microseconds; a claimer that
    meets a probe retries, so a `tuitrain runs` loop cannot fail a start."""
    runs = tmp_path / "runs"
    run = detached(runs)
    stop(run, runs)
    for _ in range(3):
        probes = [subprocess.Popen([sys.executable, "-c", PROBE_LOOP, str(run.path), "8"],
                                   stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO)
                  for _ in range(2)]
        time.sleep(0.5)
        out = run_cli("resume", run.id, "--detach", runs_dir=runs)
        assert out.returncode == 0, out.stderr
        assert run.is_alive()
        stop(run, runs)
        counts = [int(p.communicate(timeout=60)[0]) for p in probes]
        assert min(counts) > 1000, counts  # the loop really ran while the resume started
    listing = run_cli("runs", runs_dir=runs)
    assert listing.returncode == 0 and "stopped" in listing.stdout


# ----- resume at once after SIGKILL of the whole tree ---------------------------------------


def resume_after_kill(run: RunDir, runs: Path) -> float:
    """`tuitrain resume --detach`; returns the seconds until the run says `running`."""
    t0 = time.monotonic()
    proc = popen_cli("resume", run.id, "--detach", runs_dir=runs)
    took = wait_for(lambda: run.status() == "running", "status running", timeout=60)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout + stderr
    assert time.monotonic() - t0 >= took
    return took


def test_resume_at_once_after_sigkill_with_a_foreign_live_pid(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc, run = start_training(runs)
    kill_tree(run, proc)
    foreign = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run.pidfile.write_text(str(foreign.pid))  # the dead runner's pid, reused by another
        assert run.status() == "crashed" and run.runner_pid() is None
        listing = run_cli("runs", runs_dir=runs)
        assert "crashed" in listing.stdout, listing.stdout
        took = resume_after_kill(run, runs)
        print(f"resume after SIGKILL: status running {took:.2f} s after the command")
        assert run.runner_pid() not in (None, foreign.pid)
        stop(run, runs)
        assert foreign.poll() is None, "the foreign process was never signalled"
    finally:
        foreign.kill()
        foreign.wait()


@pytest.mark.slow
def test_sigkill_of_the_tree_at_random_points_then_resume(tmp_path: Path) -> None:
    """20 times: SIGKILL the CLI and its runner at a random moment (during start-up, imports,
    training or a save); every following resume is accepted at once and trains."""
    rng = random.Random(11)
    runs = tmp_path / "runs"
    proc, run = start_training(runs)
    times = []
    for i in range(20):
        time.sleep(rng.uniform(0.0, 3.0))
        kill_tree(run, proc)
        assert run.status() in ("crashed", "stopped"), (i, run.status())
        t0 = time.monotonic()
        proc = popen_cli("resume", run.id, runs_dir=runs)
        times.append(wait_for(lambda: run.status() == "running", f"kill {i}: running"))
        assert proc.poll() in (None, 0), (i, proc.communicate())
        assert time.monotonic() - t0 < 60
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert run.status() == "stopped" and has_checkpoint(run)
    times.sort()
    print(f"20 kills: running after median {times[10]:.2f} s, max {times[-1]:.2f} s")
