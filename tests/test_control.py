"""The control channel: commands appended by any number of writers arrive once, in order;
old commands (from before the runner started) and junk lines are skipped."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from tuitrain.core import control
from tuitrain.core.control import COMMANDS, Inbox, send

SIMPLE = ("pause", "resume", "stop", "checkpoint")


def cmds(inbox: Inbox) -> list[str]:
    return [r.cmd for r in inbox.poll()]



def test_commands_arrive_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    inbox = Inbox(path)
    assert inbox.poll() == []  # no file yet
    for cmd in ("pause", "resume", "checkpoint", "stop"):
        send(path, cmd)  # type: ignore[arg-type]
    assert cmds(inbox) == ["pause", "resume", "checkpoint", "stop"]
    assert inbox.poll() == []
    send(path, "stop")
    assert cmds(inbox) == ["stop"]


def test_commands_from_before_the_runner_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    send(path, "stop")
    inbox = Inbox(path)
    assert inbox.poll() == []
    send(path, "pause")
    assert cmds(inbox) == ["pause"]


def test_cut_and_junk_lines(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    inbox = Inbox(path)
    with open(path, "ab") as f:
        f.write(b'{"cmd": "pau')
    assert inbox.poll() == []  # an unfinished line waits
    with open(path, "ab") as f:
        f.write(b'se"}\nnot json\n{"cmd": "explode"}\n[1]\n{"nocmd": 1}\n')
    send(path, "resume")
    assert cmds(inbox) == ["pause", "resume"]


def test_unknown_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown command"):
        send(tmp_path / "c", "explode")  # type: ignore[arg-type]
    assert set(COMMANDS) == {"pause", "resume", "stop", "checkpoint", "set"}


def _writer(path: str, n: int) -> None:
    for i in range(n):
        control.send(Path(path), SIMPLE[i % len(SIMPLE)])  # type: ignore[arg-type]


def test_many_writers_at_once(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    inbox = Inbox(path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), 200)) for _ in range(4)]
    received: list[str] = []
    for p in procs:
        p.start()
    while any(p.is_alive() for p in procs):
        received += cmds(inbox)
    for p in procs:
        p.join()
    received += cmds(inbox)
    assert len(received) == 800
    assert {c: received.count(c) for c in SIMPLE} == {c: 200 for c in SIMPLE}


def test_a_set_carries_its_key_and_value_and_a_bad_one_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    inbox = Inbox(path)
    send(path, "set", "optimizer.lr", 1e-4)
    send(path, "set", "lr_scale", 0.5)
    with path.open("a") as f:
        f.write('{"cmd": "set", "key": "optimizer.lr", "value": "high"}\n')
        f.write('{"cmd": "set", "value": 1}\n')
    assert inbox.poll() == [control.Request("set", "optimizer.lr", 1e-4),
                            control.Request("set", "lr_scale", 0.5)]
