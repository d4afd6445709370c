"""TUITRAIN_BENCH_SLOWDOWN: a slowdown the benchmark suite plants to test itself
(`python benchmarks/run.py --self-test`). Benchmark-only: never set it in real use.

`TUITRAIN_BENCH_SLOWDOWN=0.2` makes tuitrain's own work 20% slower at exactly two places:
- the engine: after each block of training steps, the trainer busy-waits 20% of the block's
  time (`Trainer.train_epoch`);
- the UI: before each frame is written to the terminal, the app busy-waits 20% of the CPU
  time its process used since the previous frame, the work that produced this frame
  (`TuitrainApp._display`).
Busy-waiting, not sleeping: a slower program uses more CPU, which the CPU figures must see.
Unset (the normal case), the trainer pays one float test per block and the app nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import ParamSpec

from tuitrain.core.errors import UserError

VARIABLE = "TUITRAIN_BENCH_SLOWDOWN"
P = ParamSpec("P")


def factor() -> float:
    """The planted slowdown (0.2 = 20%); 0.0 when unset."""
    text = os.environ.get(VARIABLE, "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 10.0:
        raise UserError(
            f"{VARIABLE} must be a number from 0 to 10 (a benchmark-only "
            f"slowdown, e.g. 0.2 for 20%), got {text!r}"
        )
    return value


def spin(seconds: float) -> None:
    """Keep this thread busy until it has used `seconds` more CPU time (on a busy machine
    that takes longer, as slower code would)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def padded(display: Callable[P, None], factor: float) -> Callable[P, None]:
    """`display` (the app's frame writer), each frame padded by `factor` times the CPU time
    the process used since the previous frame."""
    pad = FramePad(factor)

    def display_padded(*args: P.args, **kwargs: P.kwargs) -> None:
        pad()
        display(*args, **kwargs)

    return display_padded


class FramePad:
    """Each call busy-waits `factor` times the process's CPU time since the previous call."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.cpu = time.process_time()

    def __call__(self) -> None:
        spin(self.factor * (time.process_time() - self.cpu))
        self.cpu = time.process_time()
