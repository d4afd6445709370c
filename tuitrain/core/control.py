"""The control channel from a dashboard or CLI to a runner: an append-only `control.jsonl`
in the run folder. Writers append one short line (atomic with O_APPEND); the runner polls
the file's size, which costs one stat per check."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Literal, get_args

Command = Literal["pause", "resume", "stop", "checkpoint"]
COMMANDS: tuple[str, ...] = get_args(Command)


def send(control_path: Path, command: Command) -> None:
    """Ask the runner to pause, resume, stop gracefully, or checkpoint now."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    line = (json.dumps({"cmd": command, "time": time.time()}) + "\n").encode()
    fd = os.open(control_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class Inbox:
    """Runner side: new commands since the last poll. Commands sent before the runner
    started (a leftover file of a resumed run) are skipped."""

    def __init__(self, control_path: Path) -> None:
        self.path = control_path
        self.offset = control_path.stat().st_size if control_path.exists() else 0

    def poll(self) -> list[Command]:
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
        out: list[Command] = []
        for line in complete.splitlines():
            try:
                cmd = json.loads(line)["cmd"]
            except (ValueError, KeyError, TypeError):
                continue
            if cmd in COMMANDS:
                out.append(cmd)
        return out
