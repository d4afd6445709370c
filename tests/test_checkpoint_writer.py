"""Checkpoints written off the training path (core/checkpoint_writer.py), in process with the
fake engine: training goes on while a write is in flight, at most one is in flight, the final
one is on disk before the run records how it ended, and a write that fails in the background
fails the run with the same one line as before. The kill during a background write is in
test_reliability.py (a real runner)."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_trainer import FakeEngine, make_spec, make_trainer, of, send_now, train

from tuitrain.core.checkpoint_writer import BackgroundWriter
from tuitrain.core.events import CheckpointSaved, LogMessage, RunEnded
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import RunSpec
from tuitrain.core.trainer import CheckpointWriteError, NonFiniteLoss


class SlowDiskEngine(FakeEngine):
    """Its checkpoint writes first call `before_write(step)`: a slow or failing disk."""

    def __init__(self, spec: RunSpec, before_write: Callable[[int], None], **kw: object) -> None:
        super().__init__(spec, **kw)  # type: ignore[arg-type]
        self.before_write = before_write

    def snapshot(self) -> Callable[[Path], None]:
        write, step = super().snapshot(), self.step

        def slow(path: Path) -> None:
            self.before_write(step)
            write(path)

        return slow


def _disk_full_from(first: int) -> Callable[[int], None]:
    def check(step: int) -> None:
        if step >= first:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return check


def test_training_goes_on_while_a_checkpoint_is_written(tmp_path: Path) -> None:
    spec = make_spec(epochs=3)  # 10 samples in batches of 4: 3 steps an epoch
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    disk = threading.Event()
    written_at_step_5: list[list[int]] = []

    def at_step_5() -> None:  # two steps after the epoch-1 save began
        written_at_step_5.append([c.global_step for c in trainer.store.complete()])
        disk.set()

    engine = SlowDiskEngine(spec, lambda step: disk.wait(10), hooks={5: at_step_5})
    assert train(trainer, engine) == "completed"
    assert written_at_step_5 == [[]]  # step 3's checkpoint was still being written
    assert engine.saved_at == [3, 6, 9]
    assert [c.global_step for c in trainer.store.complete()] == [3, 6, 9]
    assert [e.global_step for e in of(run, CheckpointSaved)] == [3, 6, 9]


@pytest.mark.parametrize("how", ["completed", "stopped"])
def test_the_final_checkpoint_is_on_disk_before_the_run_ends(tmp_path: Path, how: str) -> None:
    spec = make_spec(epochs=2)
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    hooks = {4: send_now(run, "stop")} if how == "stopped" else {}
    engine = SlowDiskEngine(spec, lambda step: time.sleep(0.5), hooks=hooks)
    assert train(trainer, engine) == how
    final = 4 if how == "stopped" else 6
    events = [e for e in run.events() if isinstance(e, (CheckpointSaved, RunEnded))]
    assert isinstance(events[-1], RunEnded) and events[-1].status == how
    assert isinstance(events[-2], CheckpointSaved) and events[-2].global_step == final
    latest = trainer.store.latest()
    assert latest is not None and latest.global_step == final
    assert run.summary()["last_checkpoint"].endswith(latest.name)


def test_a_write_that_fails_in_the_background_fails_the_run(tmp_path: Path) -> None:
    spec = make_spec(epochs=4)
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    engine = SlowDiskEngine(spec, _disk_full_from(6))
    trainer.begin(engine, "cpu", "fake", 3, {})
    with pytest.raises(CheckpointWriteError) as info:
        trainer.fit()
    message = str(info.value)
    assert message == (
        f"cannot write a checkpoint in {run.checkpoints}: No space left on "
        "device; the previous checkpoint ckpt-e0001-s000000003.fake is intact"
    )
    trainer.finish("failed", message)  # as the runner does
    assert run.summary()["status"] == "failed" and run.summary()["error"] == message
    assert [c.global_step for c in trainer.store.complete()] == [3]
    assert not [p for p in run.checkpoints.iterdir() if p.name.startswith(".")]  # no temp left


def test_a_write_failing_after_the_run_failed_keeps_the_first_reason(tmp_path: Path) -> None:
    spec = make_spec(epochs=3, log_every=4)  # NaN at step 5, seen at step 6
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    disk = threading.Event()  # step 3's write waits for it, then finds the disk full
    engine = SlowDiskEngine(spec, lambda step: disk.wait(10) and _disk_full_from(3)(step), nan_at=5)
    trainer.begin(engine, "cpu", "fake", 3, {})
    with pytest.raises(NonFiniteLoss) as info:
        trainer.fit()
    disk.set()
    trainer.finish("failed", str(info.value))
    summary = run.summary()
    assert summary["status"] == "failed" and summary["error"] == str(info.value)
    warnings = [e.text for e in of(run, LogMessage) if e.level == "warning"]
    assert any("cannot write a checkpoint" in w for w in warnings), warnings


def test_one_write_in_flight_at_a_time() -> None:
    writer: BackgroundWriter[int] = BackgroundWriter()
    assert writer.wait() is None and not writer.ended
    go = threading.Event()
    writer.submit(lambda: go.wait() and 1)
    with pytest.raises(RuntimeError, match="still in flight"):
        writer.submit(lambda: 2)
    go.set()
    assert writer.wait() == 1
    writer.submit(lambda: 1 // 0)
    with pytest.raises(ZeroDivisionError):
        writer.wait()
    assert writer.wait() is None  # the failure was handed over once
