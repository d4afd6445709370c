"""Typed messages that the run watcher (a thread) and the device sampler post to the dashboard.

They are small and immutable: the watcher updates the shared `RunHistory` under a lock and
then says what changed; widgets are only ever touched on the UI thread, in the handlers."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from tuitrain.core.events import CheckpointSaved, EpochEnd, RunEnded, RunStarted
from tuitrain.core.gpus import Gpu


class RunInfo(Message):
    """The runner said hello: framework, device, params, epochs (again on each resume)."""

    def __init__(self, started: RunStarted) -> None:
        super().__init__()
        self.started = started


@dataclass(frozen=True)
class Position:
    """The latest batch point: where training is and how fast it goes."""

    epoch: int  # 0-based epoch being trained
    step: int  # step within the epoch (after the step)
    global_step: int
    metrics: dict[str, float]
    lr: float
    samples_per_sec: float
    time: float  # when the runner logged it (the run's own clock)
    steps_per_sec: float = 0.0  # measured over recent log points, from the run's own clock


class HistoryGrew(Message):
    """New batch points are in the history (already appended under the lock)."""

    def __init__(self, position: Position, version: int) -> None:
        super().__init__()
        self.position = position
        self.version = version


class EpochDone(Message):
    def __init__(self, event: EpochEnd) -> None:
        super().__init__()
        self.event = event


class CheckpointDone(Message):
    def __init__(self, event: CheckpointSaved) -> None:
        super().__init__()
        self.event = event


class StatusChange(Message):
    """`running`, `paused`, or `crashed` when the runner vanished without a word."""

    def __init__(self, status: str, time: float) -> None:
        super().__init__()
        self.status = status
        self.time = time


class RunLog(Message):
    """A log line for the log pane (from the runner, or from the watcher itself)."""

    def __init__(self, level: str, text: str, time: float) -> None:
        super().__init__()
        self.level = level
        self.text = text
        self.time = time


class RunAlert(Message):
    """A health alert the runner raised (core/alerts.py)."""

    def __init__(self, alert: str, text: str, time: float) -> None:
        super().__init__()
        self.alert = alert
        self.text = text
        self.time = time


class RunEnd(Message):
    """The run finished, stopped or failed (error text in `event.error`)."""

    def __init__(self, event: RunEnded) -> None:
        super().__init__()
        self.event = event


class Loaded(Message):
    """Reading the existing log: `fraction` done; 1.0 once the watcher has caught up."""

    def __init__(self, fraction: float, seconds: float) -> None:
        super().__init__()
        self.fraction = fraction
        self.seconds = seconds


@dataclass(frozen=True)
class Sample:
    """One reading of the runner's process and the GPUs it uses."""

    alive: bool
    cpu: float = 0.0  # percent of one core
    rss: float = 0.0  # bytes
    threads: int = 0
    gpus: tuple[Gpu, ...] = field(default_factory=tuple)
    gpu_note: str = ""  # why there is no GPU line ("no GPU", "GPU stats unavailable")


class DeviceSampled(Message):
    def __init__(self, sample: Sample) -> None:
        super().__init__()
        self.sample = sample
