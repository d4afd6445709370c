"""The headless progress display: one live line on a terminal (epoch, step, loss, metrics,
throughput, ETA), redrawn at most 10 times a second, and one line per epoch (its metrics,
time, throughput and the run's ETA), also when the output is a pipe or a file. The time and
rate formats and the run's ETA estimate are shared with the dashboard."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from tuitrain.core.events import (
    Alert,
    BatchMetrics,
    EpochEnd,
    Event,
    LogMessage,
    RunEnded,
    RunStarted,
    SettingChanged,
)
from tuitrain.core.live import format_value


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def fmt_seconds(seconds: float) -> str:
    """A span of time with the precision it deserves: `2.5 ms`, `85 ms`, `1.4 s`, `42 s`,
    `2:05`, `1:02:05`."""
    seconds = seconds if math.isfinite(seconds) and seconds > 0 else 0.0
    if seconds < 0.00995:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 0.9995:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    h, rem = divmod(round(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_rate(samples_per_sec: float) -> str:
    return f"{samples_per_sec:,.0f} samples/s"


ETA_EPOCHS = 3  # the ETA comes from the durations of the last few epochs


def run_eta(
    epoch_seconds: Sequence[float],
    remaining_steps: int,
    steps_per_epoch: int,
    steps_per_sec: float = 0.0,
) -> float | None:
    """Seconds to the run's last step: from the last three whole epochs (which include
    validation) when there are some, else from the measured step rate; None if neither."""
    if remaining_steps <= 0:
        return 0.0
    recent = list(epoch_seconds)[-ETA_EPOCHS:]
    if recent and steps_per_epoch:
        return sum(recent) / len(recent) * remaining_steps / steps_per_epoch
    return remaining_steps / steps_per_sec if steps_per_sec > 0 else None


def fmt_metrics(metrics: dict[str, float], keys: list[str] | None = None) -> str:
    keys = keys or [k for k in metrics if k != "lr"]
    return "  ".join(f"{k} {metrics[k]:.4g}" for k in keys if k in metrics)


def bar(fraction: float, width: int = 20) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


class Progress:
    """Turns run events into terminal output."""

    def __init__(self, out: TextIO = sys.stdout, live: bool | None = None) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self.started: RunStarted | None = None
        self.last_draw = 0.0
        self.t0 = time.monotonic()
        self.step0 = 0
        self.line_open = False
        self.epoch_seconds: list[float] = []
        # The epoch's training throughput, from its log intervals: samples and their seconds.
        self.last_step = 0
        self.epoch_samples = 0
        self.epoch_train_seconds = 0.0

    def _print(self, text: str) -> None:
        if self.line_open:
            self.out.write("\r\033[K")
            self.line_open = False
        self.out.write(text + "\n")
        self.out.flush()

    def feed(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
            self.t0, self.step0 = time.monotonic(), event.start_step
            self.last_step, self.epoch_samples, self.epoch_train_seconds = event.start_step, 0, 0.0
            verb = "resuming" if event.resumed else "training"
            self._print(
                f"{verb} {event.preset} with {event.framework} on {event.parallel or event.device} "
                f"({event.device_name}), "
                f"{event.params:,} params, {event.epochs} epochs x {event.steps_per_epoch} steps"
            )
        elif isinstance(event, BatchMetrics) and self.started:
            self._count(event, self.started.batch_size)
            now = time.monotonic()
            if self.live and now - self.last_draw >= 0.1:
                self.last_draw = now
                self._draw(event, now)
        elif isinstance(event, EpochEnd) and self.started:
            self._print(self._epoch_line(event, self.started))
        elif isinstance(event, Alert):
            self._print(f"alert ({event.alert}): {event.message}")
        elif isinstance(event, SettingChanged):
            self._print(f"set live: {event.key} {format_value(event.previous)} -> "
                        f"{format_value(event.value)} from step {event.global_step}")
        elif isinstance(event, LogMessage) and event.level != "info":
            last = (event.text.strip().splitlines() or [""])[-1]  # a traceback's last line
            self._print(f"{event.level}: {last}")
        elif isinstance(event, RunEnded):
            text = (
                f"run {event.status} after {event.epochs_completed} epochs, "
                f"{event.global_step} steps"
            )
            self._print(text + (f": {event.error}" if event.error else ""))

    def _count(self, event: BatchMetrics, batch_size: int) -> None:
        samples = (event.global_step - self.last_step) * batch_size
        self.last_step = event.global_step
        if samples > 0 and event.samples_per_sec > 0:
            self.epoch_samples += samples
            self.epoch_train_seconds += samples / event.samples_per_sec

    def _epoch_line(self, event: EpochEnd, started: RunStarted) -> str:
        """`epoch 3/30  loss 0.31  val_loss 0.28  (85 ms, 16,240 samples/s, ETA 2.3 s) *`:
        the epoch's time, its training throughput and the time the whole run still needs."""
        self.epoch_seconds.append(event.seconds)
        notes = [fmt_seconds(event.seconds)]
        if self.epoch_train_seconds > 0:
            notes.append(fmt_rate(self.epoch_samples / self.epoch_train_seconds))
        self.epoch_samples, self.epoch_train_seconds = 0, 0.0
        remaining = started.epochs * started.steps_per_epoch - event.global_step
        eta = run_eta(self.epoch_seconds, remaining, started.steps_per_epoch)
        if remaining > 0 and eta is not None:
            notes.append(f"ETA {fmt_seconds(eta)}")
        mark = " *" if event.is_best else ""
        return (
            f"epoch {event.epoch + 1}/{started.epochs}  {fmt_metrics(event.metrics)}  "
            f"({', '.join(notes)}){mark}"
        )

    def _draw(self, event: BatchMetrics, now: float) -> None:
        s = self.started
        assert s is not None
        rate = (event.global_step - self.step0) / max(now - self.t0, 1e-9)
        remaining = s.epochs * s.steps_per_epoch - event.global_step
        eta = run_eta(self.epoch_seconds, remaining, s.steps_per_epoch, rate)
        line = (
            f"epoch {event.epoch + 1}/{s.epochs} {bar(event.step / s.steps_per_epoch)} "
            f"{event.step}/{s.steps_per_epoch}  {fmt_metrics(event.metrics)}  "
            f"{fmt_rate(event.samples_per_sec)}  ETA {'--' if eta is None else fmt_seconds(eta)}"
        )
        self.out.write("\r\033[K" + line)
        self.out.flush()
        self.line_open = True
