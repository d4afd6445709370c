"""Notifications of a run's end and alerts through a person's own command (`--notify-cmd`,
or `$TUITRAIN_NOTIFY_CMD`), run by the shell with `TUITRAIN_RUN` (the run folder),
`TUITRAIN_STATUS` (its status, or `alert`) and `TUITRAIN_MESSAGE` in its environment: `ntfy
publish`, `mail`, a `curl` to a webhook.

The command runs detached, under a small watchdog process that kills it after TIMEOUT
seconds; its output goes to `notify.log` in the run folder. Training never waits for it, and
a command that fails, hangs or does not exist never harms the run."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

NOTIFY_ENV = "TUITRAIN_NOTIFY_CMD"
TIMEOUT = 30.0  # seconds a notify command may take before it is killed
LOG = "notify.log"
_WATCHDOG = """\
import os, signal, subprocess, sys
proc = subprocess.Popen(["/bin/sh", "-c", sys.argv[1]], start_new_session=True)
try:
    code = proc.wait(timeout=float(sys.argv[2]))
except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    print(f"notify command killed after {sys.argv[2]} s", flush=True)
else:
    if code:
        print(f"notify command exited {code}", flush=True)
"""
_running: list[subprocess.Popen[bytes]] = []  # watchdogs, reaped on the next call


def command(spec_cmd: str) -> str:
    """The run's notify command: its own (`run.notify_cmd`), else `$TUITRAIN_NOTIFY_CMD`."""
    return spec_cmd or os.environ.get(NOTIFY_ENV, "")


def notify_crashed(run_path: Path) -> None:
    """A runner died without a word (it cannot say so itself): whoever saw it notifies, with
    the run's own command (the queue's scheduler, `tuitrain train` in the foreground)."""
    from tuitrain.core.errors import UserError
    from tuitrain.core.rundir import RunDir

    try:
        cmd = command(RunDir(run_path).read_spec().run.notify_cmd)
    except (UserError, OSError, ValueError):
        return
    notify(cmd, run_path, "crashed", f"{run_path.name} crashed: its runner died without "
           "recording how the run ended; `tuitrain resume` continues it from its last "
           "checkpoint")


def notify(cmd: str, run_path: Path, status: str, message: str) -> None:
    """Run `cmd` for this event in the background; never raises, never waits."""
    _running[:] = [p for p in _running if p.poll() is None]
    if not cmd:
        return
    env = dict(os.environ, TUITRAIN_RUN=str(run_path), TUITRAIN_STATUS=status,
               TUITRAIN_MESSAGE=message)
    with contextlib.suppress(OSError), open(run_path / LOG, "ab") as log:
        log.write(f"{status}: {message}\n".encode())
        log.flush()
        _running.append(subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, cmd, str(TIMEOUT)], stdin=subprocess.DEVNULL,
            stdout=log, stderr=log, start_new_session=True, env=env))
