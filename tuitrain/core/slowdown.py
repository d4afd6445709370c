"""TUITRAIN_BENCH_SLOWDOWN: a slowdown the benchmark suite plants to test itself
(`python benchmarks/run.py --self-test`). Benchmark-only: never set it in real use.

`TUITRAIN_BENCH_SLOWDOWN=0.2` makes the engine 20% slower at exactly one place: after each
block of training steps, the trainer busy-waits 20% of the block's time
(`Trainer.train_epoch`). Busy-waiting, not sleeping: a slower engine uses more CPU.
Unset (the normal case), the trainer pays one float test per block.

There is no UI hook. One was tried (20% more CPU before each frame): it moved the dashboard's
CPU by 27% and its key latency against the bare app by 27%, but the UI figures' intervals on
2 cores within --quick's minutes (+-8-15%) left no target between the runs with and without
it that held in every run, so no UI figure could be planted and the hook was removed."""

from __future__ import annotations

import os
import time

from tuitrain.core.errors import UserError

VARIABLE = "TUITRAIN_BENCH_SLOWDOWN"


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
