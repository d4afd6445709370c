"""What the dashboard knows about its run, as one plain object: who started it, where it is,
its status, and the derived numbers a person reads (progress, ETA, elapsed).

Times come from the run's own records (event times), except the elapsed time of a live run,
which needs the wall clock; a finished run shows exactly the same thing every time it opens."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from tuitrain.cli.progress import ETA_EPOCHS, run_eta
from tuitrain.core.events import ENDED_STATUSES, RunEnded, RunStarted
from tuitrain.ui.messages import Position


@dataclass
class RunState:
    """The dashboard's model of one run (UI thread only)."""

    run_id: str
    preset: str = ""
    framework: str = ""
    metric: str = "loss"  # the main metric plotted beside the loss
    epochs: int = 0
    steps_per_epoch: int = 0
    started: RunStarted | None = None
    first_time: float | None = None  # first RunStarted: when the run began
    position: Position | None = None
    status: str = "running"  # the dashboard starts from the folder's `RunDir.status()`
    ended: RunEnded | None = None
    end_time: float | None = None
    epochs_done: int = 0
    epoch_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=ETA_EPOCHS))
    loaded: float = 0.0  # fraction of the existing log read
    error: str = ""

    @property
    def live(self) -> bool:
        return self.status not in ENDED_STATUSES

    def start(self, event: RunStarted) -> None:
        self.started = event
        self.first_time = self.first_time if self.first_time is not None else event.time
        self.epochs = event.epochs
        self.steps_per_epoch = event.steps_per_epoch
        self.preset = event.preset
        self.framework = event.framework
        self.ended, self.end_time, self.error = None, None, ""
        self.status = "running"
        if self.position is None or self.position.global_step < event.start_step:
            self.epochs_done = max(self.epochs_done, event.start_epoch)

    def end(self, event: RunEnded) -> None:
        self.ended = event
        self.status = event.status
        self.end_time = event.time
        self.error = event.error
        self.epochs_done = max(self.epochs_done, event.epochs_completed)

    @property
    def global_step(self) -> int:
        if self.position is not None:
            return self.position.global_step
        return self.started.start_step if self.started else 0

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def epoch_fraction(self) -> tuple[int, int]:
        """(epochs completed, total epochs)."""
        return min(self.epochs_done, self.epochs or self.epochs_done), self.epochs

    def step_fraction(self) -> tuple[int, int]:
        """(steps done in the current epoch, steps per epoch)."""
        spe = self.steps_per_epoch
        if not spe:
            return 0, 0
        if self.status == "completed":
            return spe, spe
        if self.position is None:
            return 0, spe
        if self.position.epoch < self.epochs_done:  # the epoch's last batch: it is done
            return (spe, spe) if self.position.step >= spe else (0, spe)
        return min(self.position.step, spe), spe

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the run began; for an ended run, until its end (deterministic)."""
        if self.first_time is None:
            return 0.0
        end = self.end_time
        if end is None:
            end = self.position.time if (not self.live and self.position) else None
        if end is None:
            end = time.time() if now is None else now
        return max(0.0, end - self.first_time)

    def eta(self) -> float | None:
        """Seconds to the last epoch's end: from recent whole epochs (which include
        validation) when there are some, else from the measured step rate."""
        if not self.live or not self.total_steps or self.status == "paused":
            return None
        rate = self.position.steps_per_sec if self.position else 0.0
        return run_eta(
            self.epoch_seconds, self.total_steps - self.global_step, self.steps_per_epoch, rate
        )
