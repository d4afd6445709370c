"""Liveness of a long-lived process (a run's runner; later the scheduler) as an exclusive lock
on a file, which the kernel releases when the process dies, whatever kills it.

A pid alone cannot say whether a process lives: pids are reused after a reboot, an OOM kill
or a SIGKILL of a process tree. The holder keeps an exclusive `flock` on the file for its
whole life. An flock belongs to an open file description, so it passes to a child process
with the descriptor: a launcher takes the lock, starts the process with that descriptor and
closes its own, and the lock is held without a gap from the launcher's check to the child's
death (nobody ever sees a process being started as dead).

Readers ask with a shared lock that they drop at once (`is_held`); they never hold it for
longer than that call, so a claimer that meets a reader retries for a moment (`acquire`'s
`wait`) and a `tuitrain runs` loop can never make a start fail. An flock also works between
the processes of one user and across users, and on Linux NFS it is a byte-range lock, seen
by every host."""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

READER_WAIT = 2.0  # seconds a claimer retries while readers probe (they hold it for microseconds)


class LockBusy(Exception):
    """Another process holds the lock."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} is locked by another process")
        self.path = path


@dataclass
class Lock:
    """An exclusive lock on `path`, held from `acquire()` until `release()`, or for as long as
    any process has the descriptor `fd` (a child it was handed to)."""

    path: Path
    fd: int = -1

    @property
    def held(self) -> bool:
        return self.fd >= 0

    def acquire(self, wait: float = READER_WAIT) -> Lock:
        """Take the lock, retrying for up to `wait` seconds; LockBusy when another holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(self.path) from None
                time.sleep(0.005)
        self.fd = fd
        return self

    def adopt(self, fd: int) -> Lock:
        """Take over a descriptor that already holds the lock (handed over by a launcher)."""
        os.set_inheritable(fd, False)  # programs this process starts do not keep it alive
        self.fd = fd
        return self

    def release(self) -> None:
        """Let go (when this process holds the last descriptor of the lock)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Lock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_held(path: Path | str) -> bool:
    """Whether some process holds the lock on `path`: a shared lock, taken and dropped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file: nobody ever held it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the shared lock, if taken
    return False
