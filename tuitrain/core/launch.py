"""Starting and stopping the runner process. The runner gets its own session so that
Ctrl+C in the terminal, a closed SSH connection or a crashed dashboard never reach it; it
is stopped only by asking (control file, then SIGTERM, then SIGKILL).

One runner per run folder: the launcher claims the run's lock (`claim`), makes its checks,
and starts the runner with the lock's descriptor, so the lock passes to the runner with no
gap: a second `train`/`resume` of the same folder fails at once, and a run being started
never looks dead."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from tuitrain.core import control
from tuitrain.core.cores import CORES_ENV, thread_budget
from tuitrain.core.errors import UserError
from tuitrain.core.liveness import Lock, LockBusy

if TYPE_CHECKING:
    from tuitrain.core.nodes import Nodes
    from tuitrain.core.rundir import RunDir

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def claim(run: RunDir) -> Lock:
    """Take the run's lock for a runner about to start, or fail naming the live runner."""
    try:
        return run.lock().acquire()
    except LockBusy:
        pid = run.runner_pid()
        how = f"`tuitrain stop {run.id}`" + (f" or `kill -TERM {pid}`" if pid else "")
        raise UserError(f"{run.id} is already running (runner pid {pid or '?'}); watch it "
                        f"with `tuitrain watch {run.id}`, stop it with {how}") from None


def start_runner(run: RunDir, resume: bool = False, claimed: Lock | None = None,
                 nodes: Nodes | None = None, cores: int | None = None
                 ) -> subprocess.Popen[bytes]:
    """Launch `python -m tuitrain.runner` for `run` (node 0 of `nodes`, on several machines);
    its output goes to `runner.log`. `cores`: the run's share of the CPU (core/cores.py),
    when it trains beside others.

    The run's lock, `claimed` by the caller (after its own checks) or claimed here, passes to
    the runner as an inherited descriptor; this process's copy is closed before returning."""
    lock = claimed if claimed is not None else claim(run)
    with lock:
        return _spawn(run, resume, lock.fd, nodes.argv() if nodes is not None else [], cores)


def _spawn(run: RunDir, resume: bool, lock_fd: int, extra: list[str],
           cores: int | None) -> subprocess.Popen[bytes]:
    # Commands written from now on are for this runner, even those sent while it starts up.
    offset = run.control.stat().st_size if run.control.exists() else 0
    cmd = [sys.executable, "-m", "tuitrain.runner", str(run.path), "--control-offset", str(offset),
           "--lock-fd", str(lock_fd), *extra]
    if resume:
        cmd.append("--resume")
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    if cores is not None:
        env[CORES_ENV] = str(cores)
    env.update({k: v for k, v in thread_budget(cores).items() if k not in os.environ})
    # The runner is born with the stop signals blocked (a child inherits the mask) and unblocks
    # them once its handlers are in place: a stop sent in its first milliseconds waits for
    # them instead of killing it with no status written.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    # The lock is held from here on, so the recorded pid must be the new runner's: until it
    # exists there is none (a stop meanwhile goes through the control file alone).
    run.pidfile.write_text("")
    try:
        with open(run.runner_log, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                    pass_fds=(lock_fd,))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    run.pidfile.write_text(str(proc.pid))
    return proc


def request_stop(run: RunDir) -> None:
    """Graceful stop: the runner finishes its step, checkpoints, and exits `stopped`. The
    signal goes to the process holding the run's lock, never to a recorded pid that may
    belong to another process by now."""
    control.send(run.control, "stop")
    pid = run.runner_pid()
    if pid:
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
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait()
    return True
