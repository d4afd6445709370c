"""The run watcher: tails a run folder's `metrics.jsonl` and turns new lines into history
updates and small typed messages.

`RunWatcher.poll()` is plain code (no Textual widgets), so it is tested without an app; the
dashboard runs `follow()` in a Textual thread worker, which posts the messages with the
thread-safe `post_message`. The log is read in chunks of a few MB; the batch lines of a chunk
are read all at once by `core.batchlog` (numpy, no `json.loads` per line; any line it does not
take exactly is decoded as JSON, line by line, as before) and appended to the shared
`RunHistory` in one vectorised call under a lock. Every other event is decoded as JSON, in
order. A log of a million lines is read in about a second, and the UI thread only ever does
small amounts of work."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from textual.message import Message
from textual.message_pump import MessagePump

from tuitrain.core.batchlog import BATCH_PREFIX, BatchBlock, parse_batches
from tuitrain.core.errors import UserError
from tuitrain.core.events import (
    EVENT_TYPES,
    FINAL_STATUSES,
    Alert,
    CheckpointSaved,
    EpochEnd,
    LogMessage,
    RunEnded,
    RunStarted,
    SettingChanged,
    StatusChanged,
)
from tuitrain.core.history import EpochRow, RunHistory
from tuitrain.core.live import format_value
from tuitrain.core.rundir import RunDir
from tuitrain.ui.messages import (
    CheckpointDone,
    EpochDone,
    HistoryGrew,
    Loaded,
    Position,
    RunAlert,
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
        with open(run.runner_log, "rb") as f:
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
        self.status = "running"
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
    def _read(self) -> tuple[bytes, bool, float]:
        """New complete lines (newline-separated, no trailing newline), whether more is
        waiting, and the fraction read so far."""
        try:
            size = os.stat(self.run.metrics).st_size
        except FileNotFoundError:
            return b"", False, 1.0
        if size < self.offset:  # the log was replaced: start over
            self.offset, self._partial = 0, b""
        if size == self.offset:
            return b"", False, 1.0
        with open(self.run.metrics, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(min(size - self.offset, self.chunk_bytes))
        self.offset += len(chunk)
        more, fraction = self.offset < size, self.offset / max(size, 1)
        end = chunk.rfind(b"\n")
        if end < 0:  # no line ends in this chunk yet
            self._partial += chunk
            return b"", more, fraction
        complete = b"".join((self._partial, memoryview(chunk)[:end]))  # one copy, not three
        self._partial = chunk[end + 1:]
        return complete, more, fraction

    def poll(self) -> tuple[list[Message], bool]:
        """Process what is new; returns the messages to post and whether more is waiting."""
        data, more, fraction = self._read()
        out: list[Message] = []
        last: dict[str, Any] | None = None
        if data:
            lines = _Lines(data)
            block = parse_batches(lines.batch_bytes(), lines.batch_count)
            if block is not None:  # the usual case: one layout, read in bulk
                last = self._poll_bulk(lines, block, out)
            else:
                last = self._poll_runs(lines, out)
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

    def _poll_bulk(self, lines: _Lines, block: BatchBlock, out: list[Message]) -> dict[str, Any]:
        """Every batch line of the chunk was read at once: handle the other events in order,
        add the batch values, and take the last batch lines (rate, position) from JSON."""
        rates_from = 0  # batch lines before a run_started do not count towards the rate
        for seen, line in lines.others:
            kind, raw = _decode(line)
            event = None if raw is None else self._event(kind, raw)
            if event is not None:
                if isinstance(event, RunStarted):
                    rates_from = seen
                out.extend(self._handle(event))
        self._add_block(block)
        raw: dict[str, Any] = {}
        for line in lines.batch_lines(max(rates_from, lines.batch_count - RATE_WINDOW)):
            raw = _DECODER.decode(line.decode("utf-8"))
            self._rates.append((float(raw["time"]), int(raw["global_step"])))
        if not raw:  # a run_started after the last batch line: the position is still its own
            raw = _DECODER.decode(next(lines.batch_lines(lines.batch_count - 1)).decode("utf-8"))
        return raw

    def _poll_runs(self, lines: _Lines, out: list[Message]) -> dict[str, Any] | None:
        """Line by line, as JSON (several layouts, or a line the bulk reader does not take);
        a long run of batch lines between two other events is still read in bulk if it can."""
        rows = _Rows(self)
        for item in lines.items():
            if isinstance(item, tuple):  # a run of consecutive batch lines
                run_bytes, count = item
                block = parse_batches(run_bytes, count) if count > RATE_WINDOW else None
                if block is not None:
                    rows.flush()
                    self._add_block(block)
                    for line in run_bytes.rsplit(b"\n", RATE_WINDOW)[-RATE_WINDOW:]:
                        rows.last = _DECODER.decode(line.decode("utf-8"))
                        self._rates.append((float(rows.last["time"]),
                                            int(rows.last["global_step"])))
                    continue
                for line in run_bytes.split(b"\n"):
                    kind, raw = _decode(line)
                    if raw is not None and kind == "batch":
                        rows.add(raw)
                    elif raw is not None:  # not a batch event after all
                        rows.flush()
                        event = self._event(kind, raw)
                        if event is not None:
                            out.extend(self._handle(event))
                continue
            kind, raw = _decode(item)
            if raw is None:
                continue
            if kind == "batch":  # laid out otherwise than the recorder writes
                rows.add(raw)
                continue
            rows.flush()
            event = self._event(kind, raw)
            if event is not None:
                out.extend(self._handle(event))
        rows.flush()
        return rows.last

    def _add_block(self, block: BatchBlock) -> None:
        names = (*block.metrics, "lr", "samples_per_sec")
        with self.lock:
            self.history.add_batches(block.steps,
                                     {name: block.values[:, i] for i, name in enumerate(names)})

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
        if isinstance(event, Alert):
            return [RunAlert(event.alert, event.message, event.time)]
        if isinstance(event, SettingChanged):
            text = (f"{event.key} {format_value(event.previous)} -> {format_value(event.value)} "
                    f"from step {event.global_step}")
            with self.lock:
                self.history.add_marker(event.global_step, text)
            return [RunLog("info", f"set live: {text}", event.time)]
        if isinstance(event, RunEnded):
            self.ended = True
            self.status = event.status
            return [RunEnd(event)]
        return []

    def _check_alive(self) -> list[Message]:
        """Once a second: a runner that died without a final status `crashed`."""
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
        self.status = final if final in FINAL_STATUSES else "crashed"
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


def _decode(line: bytes) -> tuple[str, dict[str, Any] | None]:
    """A log line's event kind and object; (\"\", None) for a cut or foreign line (skipped,
    as EventTail does)."""
    try:
        raw = _DECODER.decode(line.decode("utf-8", errors="replace"))
        return raw["event"], raw
    except (ValueError, KeyError, TypeError):
        return "", None


class _Rows:
    """Batch events decoded one by one, gathered into runs of one metric layout and added to
    the history a run at a time (vectorised)."""

    def __init__(self, watcher: RunWatcher) -> None:
        self.watcher = watcher
        self.keys: tuple[str, ...] = ()
        self.steps: list[Any] = []
        self.rows: list[tuple[Any, ...]] = []
        self.last: dict[str, Any] | None = None

    def add(self, raw: dict[str, Any]) -> None:
        try:
            metrics = raw["metrics"]
            row = (*metrics.values(), raw["lr"], raw["samples_per_sec"])
            step = raw["global_step"]
            layout = tuple(metrics)
            self.watcher._rates.append((float(raw["time"]), int(step)))
        except (KeyError, TypeError, AttributeError, ValueError):
            return
        if layout != self.keys:
            self.flush()
            self.keys = layout
        self.steps.append(step)
        self.rows.append(row)
        self.last = raw

    def flush(self) -> None:
        self.watcher._flush(self.keys, self.steps, self.rows)
        self.steps, self.rows = [], []


class _Lines:
    """A chunk of complete log lines, split (with numpy, not line by line) into the batch
    lines the recorder writes (`BATCH_PREFIX`) and every other line."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        chars = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(chars == 10)
        self.starts = np.concatenate(([0], newlines + 1))
        self.ends = np.concatenate((newlines, [len(data)]))
        prefix = np.frombuffer(BATCH_PREFIX, dtype=np.uint8)
        heads = chars.take(self.starts[:, None] + np.arange(len(prefix)), mode="clip")
        self.is_batch = (heads == prefix).all(axis=1) & (self.ends - self.starts > len(prefix))
        self.batch_index = np.flatnonzero(self.is_batch)
        self.batch_count = len(self.batch_index)
        before = np.cumsum(self.is_batch) - self.is_batch  # batch lines before each line
        self.others = [(int(before[i]), self._line(i)) for i in np.flatnonzero(~self.is_batch)]

    def _line(self, i: int) -> bytes:
        return self.data[int(self.starts[i]):int(self.ends[i])]

    def _runs(self) -> list[tuple[int, int]]:
        """(first, last) line numbers of each run of consecutive batch lines."""
        if not self.batch_count:
            return []
        breaks = np.flatnonzero(np.diff(self.batch_index) > 1)
        firsts = np.concatenate(([self.batch_index[0]], self.batch_index[breaks + 1]))
        lasts = np.concatenate((self.batch_index[breaks], [self.batch_index[-1]]))
        return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True)]

    def _run_bytes(self, first: int, last: int) -> bytes:
        return self.data[int(self.starts[first]):int(self.ends[last])]

    def batch_bytes(self) -> bytes:
        """Every batch line, newline-separated."""
        return b"\n".join(self._run_bytes(a, b) for a, b in self._runs())

    def batch_lines(self, start: int) -> Iterator[bytes]:
        """The batch lines from the `start`-th on."""
        for i in self.batch_index[max(start, 0):]:
            yield self._line(int(i))

    def items(self) -> list[bytes | tuple[bytes, int]]:
        """The lines in order: other lines as bytes, runs of batch lines as (bytes, count)."""
        out: list[bytes | tuple[bytes, int]] = []
        runs = iter(self._runs())
        run = next(runs, None)
        for i in np.flatnonzero(~self.is_batch):
            while run is not None and run[0] < i:
                out.append((self._run_bytes(*run), run[1] - run[0] + 1))
                run = next(runs, None)
            out.append(self._line(int(i)))
        while run is not None:
            out.append((self._run_bytes(*run), run[1] - run[0] + 1))
            run = next(runs, None)
        return out


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
