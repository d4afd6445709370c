"""Checkpoint writes off the training path: the one background thread that serializes, writes,
fsyncs and renames a checkpoint whose state the training thread has already copied to host
memory (as torch.distributed.checkpoint's async save does).

At most one write is in flight: a new save first waits for the previous one to finish, so
every requested checkpoint is written, in order, and none is superseded. What a write returns,
or the error it raised, is handed back on the training thread (`wait`), where the run records
it: nothing about a write is lost, and nothing but the write runs on the writer thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BackgroundWriter(Generic[T]):
    """Runs one job at a time on its own thread; the caller collects each job's outcome."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._result: T | None = None
        self._error: BaseException | None = None

    def submit(self, job: Callable[[], T]) -> None:
        """Start `job` on the writer thread; the job before it must have been collected."""
        if self._thread is not None:
            raise RuntimeError("a checkpoint write is still in flight; wait() for it first")

        def run() -> None:
            try:
                self._result = job()
            except BaseException as exc:  # handed to the training thread by wait()
                self._error = exc

        # A daemon: the runner always waits for the write before it records how the run
        # ended; only a kill (or the stop watchdog's exit) cuts one short, and the atomic
        # write then leaves the previous checkpoint as the latest.
        self._thread = threading.Thread(target=run, name="checkpoint-writer", daemon=True)
        self._thread.start()

    @property
    def ended(self) -> bool:
        """A job was submitted and has ended (its outcome is waiting to be collected)."""
        return self._thread is not None and not self._thread.is_alive()

    def wait(self) -> T | None:
        """Block until the job in flight (if any) ends; its result (None when there was no
        job), or its exception raised here."""
        thread = self._thread
        if thread is None:
            return None
        thread.join()
        self._thread = None
        result, error = self._result, self._error
        self._result = self._error = None
        if error is not None:
            raise error
        return result
