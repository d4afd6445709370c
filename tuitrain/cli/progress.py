"""The headless progress display: one live line on a terminal (epoch, step, loss, metrics,
throughput, ETA), one line per epoch otherwise, redrawn at most 10 times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tuitrain.core.events import (
    BatchMetrics,
    EpochEnd,
    Event,
    LogMessage,
    RunEnded,
    RunStarted,
)


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


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
            verb = "resuming" if event.resumed else "training"
            self._print(
                f"{verb} {event.preset} with {event.framework} on {event.device} "
                f"({event.device_name}), "
                f"{event.params:,} params, {event.epochs} epochs x {event.steps_per_epoch} steps"
            )
        elif isinstance(event, BatchMetrics) and self.live and self.started:
            now = time.monotonic()
            if now - self.last_draw >= 0.1:
                self.last_draw = now
                self._draw(event, now)
        elif isinstance(event, EpochEnd) and self.started:
            mark = " *" if event.is_best else ""
            self._print(
                f"epoch {event.epoch + 1}/{self.started.epochs}  {fmt_metrics(event.metrics)}  "
                f"({event.seconds:.1f}s){mark}"
            )
        elif isinstance(event, LogMessage) and event.level != "info":
            last = (event.text.strip().splitlines() or [""])[-1]  # a traceback's last line
            self._print(f"{event.level}: {last}")
        elif isinstance(event, RunEnded):
            text = (f"run {event.status} after {event.epochs_completed} epochs, "
                    f"{event.global_step} steps")
            self._print(text + (f": {event.error}" if event.error else ""))

    def _draw(self, event: BatchMetrics, now: float) -> None:
        s = self.started
        assert s is not None
        total = s.epochs * s.steps_per_epoch
        done = event.global_step - self.step0
        rate = done / max(now - self.t0, 1e-9)
        eta = (total - event.global_step) / rate if rate > 0 else 0
        line = (
            f"epoch {event.epoch + 1}/{s.epochs} {bar(event.step / s.steps_per_epoch)} "
            f"{event.step}/{s.steps_per_epoch}  {fmt_metrics(event.metrics)}  "
            f"{event.samples_per_sec:,.0f} samples/s  ETA {fmt_duration(eta)}"
        )
        self.out.write("\r\033[K" + line)
        self.out.flush()
        self.line_open = True
