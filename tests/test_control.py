"""The control channel: commands appended by any number of writers arrive once, in order;
old commands (from before the runner started) and junk lines are skipped."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from tuitrain.core import control
from tuitrain.core.control import COMMANDS, Inbox, send


def test_commands_arrive_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    inbox = Inbox(path)
    assert inbox.poll() == []  # no file yet
    for cmd in ("pause", "resume", "checkpoint", "stop"):
        send(path, cmd)  # type: ignore[arg-type]
    assert inbox.poll() == ["pause", "resume", "checkpoint", "stop"]
    assert inbox.poll() == []
    send(path, "stop")
    assert inbox.poll() == ["stop"]


def test_commands_from_before_the_runner_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    send(path, "stop")
    inbox = Inbox(path)
    assert inbox.poll() == []
    send(path, "pause")
    assert inbox.poll() == ["pause"]


def test_cut_and_junk_lines(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    inbox = Inbox(path)
    with open(path, "ab") as f:
        f.write(b'{"cmd": "pau')
    assert inbox.poll() == []  # an unfinished line waits
    with open(path, "ab") as f:
        f.write(b'se"}\nnot json\n{"cmd": "explode"}\n[1]\n{"nocmd": 1}\n')
    send(path, "resume")
    assert inbox.poll() == ["pause", "resume"]


def test_unknown_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown command"):
        send(tmp_path / "c", "explode")  # type: ignore[arg-type]
    assert set(COMMANDS) == {"pause", "resume", "stop", "checkpoint"}


def _writer(path: str, n: int) -> None:
    for i in range(n):
        control.send(Path(path), COMMANDS[i % len(COMMANDS)])  # type: ignore[arg-type]


def test_many_writers_at_once(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    inbox = Inbox(path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), 200)) for _ in range(4)]
    received: list[str] = []
    for p in procs:
        p.start()
    while any(p.is_alive() for p in procs):
        received += inbox.poll()
    for p in procs:
        p.join()
    received += inbox.poll()
    assert len(received) == 800
    assert {c: received.count(c) for c in COMMANDS} == {c: 200 for c in COMMANDS}
