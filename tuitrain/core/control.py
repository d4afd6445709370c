"""The control channel from a dashboard or CLI to a runner: an append-only `control.jsonl`
in the run folder. Writers append one short line (atomic with O_APPEND); the runner polls
the file's size, which costs one stat per check. Commands: pause, resume, stop, checkpoint,
and `set` with a live setting (core/live.py)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

Command = Literal["pause", "resume", "stop", "checkpoint", "set"]
COMMANDS: tuple[str, ...] = get_args(Command)
Value = float | int | bool


@dataclass(frozen=True)
class Request:
    """One command; `set` carries a live setting (core/live.py) and its new value."""

    cmd: Command
    key: str = ""
    value: Value | None = None


def send(control_path: Path, command: Command, key: str = "", value: Value | None = None
         ) -> float:
    """Ask the runner to pause, resume, stop gracefully, checkpoint now, or `set` a live
    setting `key` to `value`; returns the time it was asked."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    asked = time.time()
    body: dict[str, object] = {"cmd": command, "time": asked}
    if command == "set":
        body.update(key=key, value=value)
    line = (json.dumps(body) + "\n").encode()
    fd = os.open(control_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return asked


class Inbox:
    """Runner side: new commands since the last poll. Commands sent before the runner
    started (a leftover file of a resumed run) are skipped."""

    def __init__(self, control_path: Path) -> None:
        self.path = control_path
        self.offset = control_path.stat().st_size if control_path.exists() else 0

    def poll(self) -> list[Request]:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        if size <= self.offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        out: list[Request] = []
        for line in complete.splitlines():
            try:
                raw = json.loads(line)
                cmd = raw["cmd"]
            except (ValueError, KeyError, TypeError):
                continue
            if cmd == "set":
                key, value = raw.get("key"), raw.get("value")
                if isinstance(key, str) and isinstance(value, (int, float)):
                    out.append(Request("set", key, value))
            elif cmd in COMMANDS:
                out.append(Request(cmd))
        return out
