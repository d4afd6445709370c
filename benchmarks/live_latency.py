"""Live control's latency (`--only live`): the real dashboard (`tuitrain watch`, in a pseudo-
terminal) on a PyTorch run of mlp-digits; `]` and `[` pressed in turn (the learning rate
doubled, then halved back) at random moments; each press timed from the key written to the
terminal to the runner's `SettingChanged` event, written when the first block with the new
rate starts. Run as `python -m benchmarks.live_latency`; prints one JSON line."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import emit
from benchmarks.ui_live import FRAME_END, open_app
from tuitrain.core import launch
from tuitrain.core.events import BatchMetrics, SettingChanged
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import EventTail, RunDir


def applied_after(tail: EventTail, asked: float, timeout: float = 10.0) -> SettingChanged:
    """The runner's next SettingChanged (its time is when the change took effect)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in tail.read():
            if isinstance(event, SettingChanged) and event.time >= asked:
                return event
        time.sleep(0.002)
    raise RuntimeError(f"no SettingChanged within {timeout:g} s of a key press")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presses", type=int, default=80, help="p95's upper side needs 59")
    ap.add_argument("--preset", default="mlp-digits")
    a = ap.parse_args()
    random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir.create(Path(tmp), load_spec(a.preset, {"train.epochs": 100000}))
        proc = launch.start_runner(run)
        try:
            deadline = time.time() + 120
            while not any(isinstance(e, BatchMetrics) for e in run.events()):
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the runner did not start training")
                time.sleep(0.2)
            with contextlib.ExitStack() as stack:
                dash = open_app([sys.executable, "-m", "tuitrain", "watch", str(run.path),
                                 "--runs-dir", str(run.path.parent)], FRAME_END)
                stack.callback(dash.close)
                time.sleep(2.0)
                tail = EventTail(run.metrics)
                tail.offset = run.metrics.stat().st_size
                latencies = []
                for i in range(a.presses):
                    asked = time.time()
                    dash.send(b"]" if i % 2 == 0 else b"[")
                    latencies.append(applied_after(tail, asked).time - asked)
                    time.sleep(0.1 + random.random() * 0.2)  # every phase of blocks, redraws
            batches = [e.time for e in run.events() if isinstance(e, BatchMetrics)]
            interval = statistics.median(b - a for a, b in itertools.pairwise(batches))
        finally:
            launch.request_stop(run)
            launch.kill_after(run, proc, 15)
    emit({"latency": latencies, "log_interval": interval})


if __name__ == "__main__":
    main()
