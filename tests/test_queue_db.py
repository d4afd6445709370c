"""The run queue's database (core/queue_db.py): entries move queued → started → ended once
each, whatever other processes do at the same moment, and it stays off network file systems."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tuitrain.core import queue_db
from tuitrain.core.errors import UserError
from tuitrain.core.queue_db import Queue


def add(queue: Queue, name: str, tmp: Path) -> int:
    return queue.add(tmp / name, "auto", "1").id


def test_an_entry_starts_once_and_ends_with_its_status(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q")
    first, second = add(queue, "a", tmp_path), add(queue, "b", tmp_path)
    assert [e.id for e in queue.entries(("queued",))] == [first, second]
    assert queue.start(first) is True
    assert queue.start(first) is False  # a second start of the same entry loses
    assert queue.pending() == 2
    queue.end(first, "completed")
    ended = queue.get(first)
    assert ended is not None and (ended.state, ended.status) == ("ended", "completed")
    assert ended.run == (tmp_path / "a").resolve()
    assert queue.pending() == 1


def test_only_a_queued_entry_can_be_removed_with_a_one_line_reason(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q")
    waiting, running, done = (add(queue, n, tmp_path) for n in "abc")
    queue.start(running)
    queue.start(done)
    queue.end(done, "failed")
    assert queue.remove(waiting).run.name == "a"
    assert queue.get(waiting) is None
    with pytest.raises(UserError, match=r"is running \(b\); stop it with `tuitrain stop b`"):
        queue.remove(running)
    with pytest.raises(UserError, match=r"has ended \(failed\)"):
        queue.remove(done)
    with pytest.raises(UserError, match="no queue entry 99"):
        queue.remove(99)
    assert not queue.start(waiting)  # removed: nobody can start it any more


def test_requeue_and_max_parallel(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q")
    entry = add(queue, "a", tmp_path)
    queue.start(entry)
    queue.requeue(entry, resume=True)
    again = queue.get(entry)
    assert again is not None and again.state == "queued" and again.resume
    assert queue.max_parallel == 1
    queue.max_parallel = 3
    assert Queue(tmp_path / "q").max_parallel == 3  # kept in the database, seen by others
    with pytest.raises(UserError, match="--max-parallel 0: must be 1 or more"):
        queue.max_parallel = 0


def test_idle_release_only_when_nothing_is_queued_or_running(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q")
    released: list[bool] = []
    entry = add(queue, "a", tmp_path)
    assert not queue.idle_release(lambda: released.append(True))
    queue.start(entry)
    assert not queue.idle_release(lambda: released.append(True))
    queue.end(entry, "completed")
    assert queue.idle_release(lambda: released.append(True))
    assert released == [True]


ADDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tuitrain.core.queue_db import Queue
    queue, tag = Queue(Path(sys.argv[1])), sys.argv[2]
    for n in range(50):
        queue.add(Path(sys.argv[1]) / f"{tag}-{n}", "auto", "1")
""")
STARTER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tuitrain.core.queue_db import Queue
    queue = Queue(Path(sys.argv[1]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for entry in queue.entries(("queued",)):
            if queue.start(entry.id):
                print(entry.id, flush=True)
        if len(queue.entries(("started",))) == 200:
            break
""")


def test_four_adders_and_two_starters_lose_nothing_and_start_nothing_twice(
        tmp_path: Path) -> None:
    folder = tmp_path / "q"
    Queue(folder).close()
    adders = [subprocess.Popen([sys.executable, "-c", ADDER, str(folder), f"p{i}"])
              for i in range(4)]
    starters = [subprocess.Popen([sys.executable, "-c", STARTER, str(folder)],
                                 stdout=subprocess.PIPE, text=True) for _ in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in adders)
    started = [int(line) for p in starters for line in p.communicate(timeout=120)[0].split()]
    queue = Queue(folder)
    entries = queue.entries()
    assert len(entries) == 200
    assert {e.run.name for e in entries} == {f"p{i}-{n}" for i in range(4) for n in range(50)}
    assert sorted(started) == sorted(e.id for e in entries)  # each started once, by one


def test_the_queue_stays_off_network_file_systems(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(queue_db.QUEUE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(queue_db, "filesystem_type", lambda path: "ext4")
    assert queue_db.queue_dir() == (tmp_path / "state" / "tuitrain", "")
    monkeypatch.setattr(queue_db, "filesystem_type", lambda path: "nfs4")
    folder, why = queue_db.queue_dir()
    assert folder.parent == Path("/var/tmp") and "nfs4" in why and "WAL" in why
    monkeypatch.setenv(queue_db.QUEUE_DIR_ENV, str(tmp_path / "mine"))
    assert queue_db.queue_dir() == (tmp_path / "mine", "")


def test_filesystem_type_reads_the_mount_table() -> None:
    assert queue_db.filesystem_type(Path("/proc/self")) == "proc"


def test_an_unusable_queue_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"cannot open the run queue there.*TUITRAIN_QUEUE_DIR"):
        Queue(tmp_path / "file" / "q")
