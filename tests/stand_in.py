"""A process standing in for a runner in tests that must not train: it holds run folders'
locks exactly as a runner does (so `RunDir.is_alive()` is true), records its pid in them,
and dies like one (a signal's default action, or SIGKILL), which releases every lock."""

from __future__ import annotations

import subprocess
import sys

from tuitrain.core.rundir import RunDir

SCRIPT = """
import os, sys
from pathlib import Path
from tuitrain.core.rundir import RunDir
held = []
for line in sys.stdin:
    run = RunDir(Path(line.strip()))
    held.append(run.lock().acquire())
    run.pidfile.write_text(str(os.getpid()))
    print("ok", flush=True)
"""


class StandInRunner:
    """Alive until killed or until the test closes it; `hold(run)` makes `run` live."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def hold(self, run: RunDir) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{run.path}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
