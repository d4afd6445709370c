"""Events a run writes to `metrics.jsonl`: typed, frozen, and one JSON object per line."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

# The run lifecycle. `running` and `paused` while a runner holds the run's lock; `completed`,
# `stopped` (by the user or a signal) and `failed` (an error in training, with its text) are
# written by the runner as it ends; `crashed` is never written: readers derive it when no
# runner holds the lock and the folder does not say how the run ended. `queued`: written when
# the run joins the queue (core/queue_db.py), until the scheduler starts its runner.
RunStatus = Literal["queued", "running", "paused", "completed", "stopped", "failed", "crashed"]
Status = Literal["running", "paused", "completed", "stopped", "failed"]  # what a runner writes
FinalStatus = Literal["completed", "stopped", "failed"]
FINAL_STATUSES: tuple[str, ...] = ("completed", "stopped", "failed")
ENDED_STATUSES: tuple[str, ...] = (*FINAL_STATUSES, "crashed")
LIVE_STATUSES: tuple[str, ...] = ("running", "paused")


@dataclass(frozen=True)
class Event:
    """Base: every event has a wall-clock time."""

    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time, kw_only=True)

    def to_json(self) -> str:
        # Fields hold plain values and dicts of them; `asdict`'s deep copy cost 0.1 ms a line.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps({"event": self.kind, **values}, default=_clean, allow_nan=True)


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_id: str
    preset: str
    framework: str
    device: str
    device_name: str
    precision: str
    params: int
    epochs: int
    steps_per_epoch: int
    batch_size: int
    start_epoch: int = 0
    start_step: int = 0
    resumed: bool = False
    pid: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    non_trainable: int = 0  # parameters not trained: frozen (train.freeze), batch-norm stats
    world_size: int = 1  # processes training together; batch_size is their global batch
    parallel: str = ""  # the data-parallel strategy, 'DDP x2 gloo'; empty on one process


@dataclass(frozen=True)
class BatchMetrics(Event):
    """Mean training values over the last log interval, ending at `global_step`."""

    kind: ClassVar[str] = "batch"
    epoch: int
    step: int
    global_step: int
    metrics: dict[str, float]
    lr: float
    samples_per_sec: float


@dataclass(frozen=True)
class EpochEnd(Event):
    kind: ClassVar[str] = "epoch"
    epoch: int
    global_step: int
    metrics: dict[str, float]
    seconds: float
    is_best: bool


@dataclass(frozen=True)
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    epoch: int
    global_step: int
    path: str
    best: bool


@dataclass(frozen=True)
class StatusChanged(Event):
    kind: ClassVar[str] = "status"
    status: Status


@dataclass(frozen=True)
class LogMessage(Event):
    kind: ClassVar[str] = "log"
    level: Literal["info", "warning", "error"]
    text: str


@dataclass(frozen=True)
class SettingChanged(Event):
    """A live setting (core/live.py) changed while the run trained: from `global_step` on
    (the first step trained with it), in epoch `epoch` (0-based)."""

    kind: ClassVar[str] = "setting"
    key: str
    value: float
    previous: float
    epoch: int
    global_step: int


@dataclass(frozen=True)
class Alert(Event):
    """A health alert (core/alerts.py): `alert` is its kind (loss_spike, stalled,
    throughput, disk)."""

    kind: ClassVar[str] = "alert"
    alert: str
    message: str
    epoch: int
    global_step: int


@dataclass(frozen=True)
class RunEnded(Event):
    kind: ClassVar[str] = "run_ended"
    status: Status
    epochs_completed: int
    global_step: int
    error: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (RunStarted, BatchMetrics, EpochEnd, CheckpointSaved, StatusChanged, LogMessage,
                SettingChanged, Alert, RunEnded)
}


def _clean(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def parse_event(line: str) -> Event | None:
    """One log line to an event; None for a cut or unknown line (a killed writer's last line)."""
    try:
        raw = json.loads(line)
        cls = EVENT_TYPES[raw.pop("event")]
        return cls(**raw)
    except (ValueError, KeyError, TypeError, AttributeError):  # AttributeError: not an object
        return None


def finite(values: dict[str, float]) -> bool:
    """True when every value is a finite number."""
    return all(math.isfinite(v) for v in values.values())
