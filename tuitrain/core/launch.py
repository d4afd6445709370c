"""Starting and stopping the runner process. The runner gets its own session so that
Ctrl+C in the terminal, a closed SSH connection or a crashed dashboard never reach it; it
is stopped only by asking (control file, then SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from tuitrain.core import control

if TYPE_CHECKING:
    from tuitrain.core.rundir import RunDir

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def thread_budget() -> dict[str, str]:
    """Math-library threads for the runner: every core but one, which stays free for the
    dashboard and the OS. On a small machine, framework thread pools that spin against a
    busy core made a tiny model's step over 100x slower; set OMP_NUM_THREADS to override."""
    threads = str(max(1, (os.cpu_count() or 2) - 1))
    return {"OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
            "TF_NUM_INTEROP_THREADS": "1"}


def start_runner(run: RunDir, resume: bool = False) -> subprocess.Popen[bytes]:
    """Launch `python -m tuitrain.runner` for `run`; its output goes to `runner.log`."""
    # Commands written from now on are for this runner, even those sent while it starts up.
    offset = run.control.stat().st_size if run.control.exists() else 0
    cmd = [sys.executable, "-m", "tuitrain.runner", str(run.path), "--control-offset", str(offset)]
    if resume:
        cmd.append("--resume")
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    env.update({k: v for k, v in thread_budget().items() if k not in os.environ})
    # The runner is born with the stop signals blocked (a child inherits the mask) and unblocks
    # them once its handlers are in place: a stop sent in its first milliseconds waits for
    # them instead of killing it with no status written.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        with open(run.path / "runner.log", "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    run.pidfile.write_text(str(proc.pid))
    return proc


def request_stop(run: RunDir) -> None:
    """Graceful stop: the runner finishes its step, checkpoints, and exits `stopped`."""
    control.send(run.control, "stop")
    pid = run.runner_pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def kill_after(run: RunDir, proc: subprocess.Popen[bytes] | None, grace: float) -> bool:
    """Wait up to `grace` seconds for the runner to exit, then SIGKILL it. True if it had to."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if (proc.poll() is not None) if proc is not None else not run.is_alive():
            return False
        time.sleep(0.05)
    pid = proc.pid if proc is not None else run.runner_pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait()
    return True
