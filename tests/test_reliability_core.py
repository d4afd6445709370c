"""Disk full and read-only checkpoint folders, in process with the fake engine (no framework):
the error is one line naming the folder and the cause, the previous checkpoint is intact, and
no temp file is left. The end-to-end version (real runner, status `failed`) is in
test_reliability.py."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest
from test_trainer import FakeEngine, make_spec, make_trainer

from tuitrain.core.checkpoints import CheckpointStore, digest
from tuitrain.core.rundir import RunDir
from tuitrain.core.trainer import CheckpointWriteError


def _fail(code: int):
    def raiser(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))
    return raiser


@pytest.mark.parametrize(("target", "code", "words"), [
    ("os.fsync", errno.ENOSPC, "No space left on device"),
    ("os.replace", errno.EROFS, "Read-only file system"),
    ("tempfile.mkdtemp", errno.EROFS, "Read-only file system"),
    ("tempfile.mkdtemp", errno.EACCES, "Permission denied"),
])
def test_a_failed_checkpoint_write_keeps_the_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, code: int, words: str
) -> None:
    spec = make_spec(epochs=3)
    run = RunDir.create(tmp_path / "runs", spec)
    trainer = make_trainer(run, spec, 16)
    engine = FakeEngine(spec)
    trainer.begin(engine, "cpu", "fake", 3, {})
    trainer.train_epoch()
    trainer.save_checkpoint(best=False)
    first = trainer.flush_checkpoints()
    assert first is not None
    trainer.pos.epoch, trainer.pos.step = 1, 0
    block = trainer.next_block()
    assert block is not None
    engine.train_steps(*block, trainer.slot)
    trainer.steps_done(*block)
    module, name = target.split(".")
    monkeypatch.setattr({"os": os, "tempfile": tempfile}[module], name, _fail(code))
    trainer.save_checkpoint(best=False)  # written in the background: the error comes later
    with pytest.raises(CheckpointWriteError) as info:
        trainer.flush_checkpoints()
    monkeypatch.undo()
    message = str(info.value)
    assert "\n" not in message
    assert message == (f"cannot write a checkpoint in {run.checkpoints}: {words}; "
                       f"the previous checkpoint {first.name} is intact")
    store = CheckpointStore(run.checkpoints, ".fake")
    latest = store.latest()
    assert latest is not None and latest.name == first.name
    assert digest(latest.path) == first.sha256
    assert sorted(p.name for p in run.checkpoints.iterdir()) == [first.name, f"{first.name}.json"]
