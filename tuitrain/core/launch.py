"""Starting and stopping the runner process. The runner gets its own session so that
Ctrl+C in the terminal, a closed SSH connection or a crashed dashboard never reach it; it
is stopped only by asking (control file, then SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tuitrain.core import control
from tuitrain.core.rundir import RunDir


def start_runner(run: RunDir, resume: bool = False) -> subprocess.Popen[bytes]:
    """Launch `python -m tuitrain.runner` for `run`; its output goes to `runner.log`."""
    cmd = [sys.executable, "-m", "tuitrain.runner", str(run.path)]
    if resume:
        cmd.append("--resume")
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    with open(run.path / "runner.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    run.pidfile.write_text(str(proc.pid))
    return proc


def request_stop(run: RunDir) -> None:
    """Graceful stop: the runner finishes its step, checkpoints, and exits `stopped`."""
    control.send(run.control, "stop")
    pid = run.runner_pid()
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def kill_after(run: RunDir, proc: subprocess.Popen[bytes] | None, grace: float) -> bool:
    """Wait up to `grace` seconds for the runner to exit, then SIGKILL it. True if it had to."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if (proc.poll() is not None) if proc is not None else not run.is_alive():
            return False
        time.sleep(0.05)
    pid = proc.pid if proc is not None else run.runner_pid()
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc is not None:
        proc.wait()
    return True
