"""The run watcher: tails a run folder's `metrics.jsonl` and turns new lines into history
updates and small typed messages.

`RunWatcher.poll()` is plain code (no Textual widgets), so it is tested without an app; the
dashboard runs `follow()` in a Textual thread worker, which posts the messages with the
thread-safe `post_message`. Batch lines take a fast path (one `json.loads`, no event objects)
and are appended to the shared `RunHistory` in vectorised chunks under a lock, so a log of a
million lines is read in seconds and the UI thread only ever does small amounts of work."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from textual.message import Message
from textual.message_pump import MessagePump

from tuitrain.core.errors import UserError
from tuitrain.core.events import (
    EVENT_TYPES,
    FINAL_STATUSES,
    CheckpointSaved,
    EpochEnd,
    LogMessage,
    RunEnded,
    RunStarted,
    StatusChanged,
)
from tuitrain.core.history import EpochRow, RunHistory
from tuitrain.core.rundir import RunDir
from tuitrain.ui.messages import (
    CheckpointDone,
    EpochDone,
    HistoryGrew,
    Loaded,
    Position,
    RunEnd,
    RunInfo,
    RunLog,
    StatusChange,
)

CHUNK_BYTES = 4 << 20  # read at most this much per poll, so a huge log loads progressively
RATE_WINDOW = 20  # batch points used to measure steps per second
NAN = float("nan")
_DECODER = json.JSONDecoder()  # .decode skips json.loads' per-call encoding sniffing


def runner_log_tail(run: RunDir, lines: int = 8) -> str:
    """The last lines of the runner's own stdout/stderr (a crash it could not record)."""
    try:
        with open(run.path / "runner.log", "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


class RunWatcher:
    """Reads what is new in a run folder; keeps the history and the run's state current."""

    def __init__(self, run: RunDir, history: RunHistory, lock: threading.Lock | None = None,
                 is_alive: Callable[[], bool] | None = None,
                 chunk_bytes: int = CHUNK_BYTES) -> None:
        self.run = run
        self.history = history
        self.lock = lock or threading.Lock()
        self.is_alive = is_alive or run.is_alive
        self.chunk_bytes = chunk_bytes
        self.offset = 0
        self._partial = b""
        self.status = "starting"
        self.ended = False
        self.lost = False  # the runner died without writing its end
        self.caught_up = False
        self._t0 = time.perf_counter()
        self._rates: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)
        self._next_alive_check = 0.0

    @property
    def live(self) -> bool:
        return not self.ended and not self.lost

    # ----- reading -----------------------------------------------------------------------
    def _read(self) -> tuple[list[str], bool, float]:
        """New complete lines, whether more is waiting, and the fraction read so far."""
        try:
            size = os.stat(self.run.metrics).st_size
        except FileNotFoundError:
            return [], False, 1.0
        if size < self.offset:  # the log was replaced: start over
            self.offset, self._partial = 0, b""
        if size == self.offset:
            return [], False, 1.0
        with open(self.run.metrics, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(min(size - self.offset, self.chunk_bytes))
        self.offset += len(chunk)
        complete, newline, self._partial = (self._partial + chunk).rpartition(b"\n")
        if not newline:
            return [], self.offset < size, self.offset / max(size, 1)
        lines = complete.decode("utf-8", errors="replace").split("\n")
        return lines, self.offset < size, self.offset / max(size, 1)

    def poll(self) -> tuple[list[Message], bool]:
        """Process what is new; returns the messages to post and whether more is waiting."""
        lines, more, fraction = self._read()
        out: list[Message] = []
        decode = _DECODER.decode
        keys: tuple[str, ...] = ()
        steps: list[Any] = []
        rows: list[tuple[Any, ...]] = []
        last: dict[str, Any] | None = None
        for line in lines:
            try:
                raw = decode(line)
                kind = raw["event"]
            except (ValueError, KeyError, TypeError):
                continue  # a cut or foreign line: skip it, as EventTail does
            if kind == "batch":
                try:
                    metrics = raw["metrics"]
                    row = (*metrics.values(), raw["lr"], raw["samples_per_sec"])
                    step = raw["global_step"]
                    layout = tuple(metrics)
                    self._rates.append((float(raw["time"]), int(step)))
                except (KeyError, TypeError, AttributeError, ValueError):
                    continue
                if layout != keys:
                    self._flush(keys, steps, rows)
                    keys, steps, rows = layout, [], []
                steps.append(step)
                rows.append(row)
                last = raw
                continue
            self._flush(keys, steps, rows)
            steps, rows = [], []
            event = self._event(kind, raw)
            if event is not None:
                out.extend(self._handle(event))
        self._flush(keys, steps, rows)
        if last is not None:
            out.append(HistoryGrew(self._position(last), self.history.version))
        if not self.caught_up:
            if more:
                out.append(Loaded(fraction, time.perf_counter() - self._t0))
            else:
                self.caught_up = True
                out.append(Loaded(1.0, time.perf_counter() - self._t0))
        if not more and self.live:
            out.extend(self._check_alive())
        return out, more

    @staticmethod
    def _event(kind: str, raw: dict[str, Any]) -> Any:
        cls = EVENT_TYPES.get(kind)
        if cls is None:
            return None
        fields = {k: v for k, v in raw.items() if k != "event"}
        try:
            return cls(**fields)
        except TypeError:
            return None

    def _flush(self, keys: tuple[str, ...], steps: list[Any], rows: list[tuple[Any, ...]]) -> None:
        """Append a run of batch points (one key layout) to the history, vectorised."""
        if not steps:
            return
        try:
            x = np.array(steps, dtype=np.float64)
            values = np.array(rows, dtype=np.float64)
        except (ValueError, TypeError):  # a null or a string somewhere: convert one by one
            x = np.array([_num(v) for v in steps])
            values = np.array([[_num(v) for v in row] for row in rows])
        names = (*keys, "lr", "samples_per_sec")
        with self.lock:
            self.history.add_batches(x, {name: values[:, i] for i, name in enumerate(names)})

    def _position(self, raw: dict[str, Any]) -> Position:
        rate = 0.0
        if len(self._rates) >= 2:
            (t0, s0), (t1, s1) = self._rates[0], self._rates[-1]
            if t1 > t0 and s1 > s0:
                rate = (s1 - s0) / (t1 - t0)
        return Position(epoch=raw["epoch"], step=raw["step"], global_step=raw["global_step"],
                        metrics=dict(raw["metrics"]), lr=raw["lr"],
                        samples_per_sec=raw["samples_per_sec"], time=raw["time"],
                        steps_per_sec=rate)

    # ----- events --------------------------------------------------------------------------
    def _handle(self, event: Any) -> list[Message]:
        if isinstance(event, RunStarted):
            self.ended = self.lost = False
            self.status = "running"
            self._rates.clear()
            return [RunInfo(event), StatusChange("running", event.time)]
        if isinstance(event, EpochEnd):
            row = EpochRow(event.epoch + 1, event.global_step, dict(event.metrics), event.seconds,
                           event.is_best)
            with self.lock:
                self.history.add_epoch(row)
            return [EpochDone(event)]
        if isinstance(event, CheckpointSaved):
            return [CheckpointDone(event)]
        if isinstance(event, StatusChanged):
            self.status = event.status
            return [StatusChange(event.status, event.time)]
        if isinstance(event, LogMessage):
            return [RunLog(event.level, event.text, event.time)]
        if isinstance(event, RunEnded):
            self.ended = True
            self.status = event.status
            return [RunEnd(event)]
        return []

    def _check_alive(self) -> list[Message]:
        """Once a second: a runner that died without a final status is `interrupted`."""
        now = time.monotonic()
        if now < self._next_alive_check:
            return []
        self._next_alive_check = now + 1.0
        if self.is_alive():
            return []
        out, _ = self.poll_rest()
        if self.ended:
            return out
        try:
            final = self.run.summary().get("status", "")
        except UserError:
            final = ""
        self.lost = True
        self.status = final if final in FINAL_STATUSES else "interrupted"
        text = "the runner process is gone without recording how the run ended"
        tail = runner_log_tail(self.run)
        if tail:
            text += f"; its last output:\n{tail}"
        now_t = time.time()
        return [*out, RunLog("error", text, now_t), StatusChange(self.status, now_t)]

    def poll_rest(self) -> tuple[list[Message], bool]:
        """Read anything written just before the runner exited."""
        out: list[Message] = []
        more = True
        self._next_alive_check = math.inf  # no recursion into _check_alive
        try:
            while more:
                msgs, more = self.poll()
                out.extend(msgs)
        finally:
            self._next_alive_check = time.monotonic() + 1.0
        return out, False


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN


def follow(target: MessagePump, watcher: RunWatcher, cancelled: Callable[[], bool],
           interval: float = 0.1) -> None:
    """The watcher loop for a thread worker: poll ~10 times a second while the run is live,
    twice a second after it ended (a resume may append), without sleeping while catching up."""
    while not cancelled():
        messages, more = watcher.poll()
        for message in messages:
            target.post_message(message)
        if not more:
            deadline = time.monotonic() + (interval if watcher.live else 0.5)
            while not cancelled() and time.monotonic() < deadline:
                time.sleep(min(interval, 0.1))
