"""Keeping a framework's start-up noise out of the person's terminal.

TensorFlow (and the CUDA libraries under any framework) write log lines from C++ straight to
file descriptor 2 while they load and initialise (`E0000 ... failed call to cuInit` on a
machine without a GPU), past Python's `sys.stderr`. The commands that import a framework in
the CLI process (`eval`, `export`) run that part with fd 2 pointed at the run's `runner.log`,
where the runner's own framework output goes too, and point it back before tuitrain prints
anything to stderr: an error raised inside the block is printed by the entry point after it.
Commands without a run need nothing: `devices` asks each framework in a child process whose
stderr it captures and drops (the child reports errors in its answer), `train`, `resume` and
`compare` leave the framework to the runner (output in `runner.log`), and the rest import
none."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def fd2_into(log: Path) -> Iterator[None]:
    """Send what is written to fd 2 during the block to the end of `log` (to /dev/null if it
    cannot be opened), at the file-descriptor level; fd 2 is what it was again afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        try:
            target = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:  # a read-only run folder: the noise is dropped rather than shown
            target = os.open(os.devnull, os.O_WRONLY)
        os.dup2(target, 2)
        os.close(target)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
