"""Figures 3, 4, 5 and 7: the dashboard attached to a live run in a real pseudo-terminal
(160x48, `tuitrain watch RUN`), against the same run with nothing attached.

One runner trains mlp-digits at full speed (the runner's default thread budget) for the whole
measurement, and one `tuitrain watch RUN` runs in a pty. Short windows alternate: attached
(dashboard running) and headless (dashboard frozen with SIGSTOP: no CPU, no output, as if
absent); the order flips every pair.
- 3: steps/s while attached / steps/s headless (from the run's own batch events), median of
  pairs.
- 4: the dashboard process's CPU (user+system, all threads) in the attached windows, as % of
  one core; and on a finished run (idle).
- 5: key latency: a key written to the pty -> its visible effect arriving from the pty (`?`:
  the help screen's heading; `m`: the smoothing notification), at random phases of the redraw
  cycle, while training runs.
- 7: bytes the dashboard wrote to the terminal per second in the attached windows (the whole
  default dashboard: four plots, panels, table).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import emit, median
from benchmarks.ptyterm import PtyProgram
from tuitrain.core import launch
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir

DECRQM_SYNC = b"\x1b[?2026$p"  # Textual asks whether the terminal has synchronized output
SYNC_YES = b"\x1b[?2026;2$y"
FRAME_END = b"\x1b[?2026l"
HELP_MARK = b"Dashboard keys"


def batch_rate(run: RunDir, t0: float, t1: float) -> float:
    """Steps per second between wall times t0 and t1, from the run's batch events."""
    pts = []
    with open(run.metrics, "rb") as f:
        for line in f:
            if b'"event": "batch"' not in line and b'"event":"batch"' not in line:
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if t0 <= e["time"] <= t1:
                pts.append((e["time"], e["global_step"]))
    if len(pts) < 2:
        return float("nan")
    (ta, sa), (tb, sb) = pts[0], pts[-1]
    return (sb - sa) / (tb - ta) if tb > ta else float("nan")


def open_dashboard(run: RunDir, timeout: float = 30.0) -> PtyProgram:
    p = PtyProgram([sys.executable, "-m", "tuitrain", "watch", str(run.path),
                    "--runs-dir", str(run.path.parent)])
    if p.wait_for(DECRQM_SYNC, timeout) is not None:
        p.send(SYNC_YES)
    if p.wait_for(FRAME_END, timeout) is None:
        p.close()
        raise RuntimeError("the dashboard drew no frame:\n" + p.output()[-2000:].decode(
            "utf-8", "replace"))
    return p


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def alternate(run: RunDir, p: PtyProgram, pairs: int, window: float) -> list[tuple[dict, dict]]:
    """Windows with the dashboard running (attached) and stopped with SIGSTOP (as good as
    absent: no CPU, no output), alternating, order flipped every pair. Short windows and many
    pairs keep the load that neighbours put on a shared machine from favouring one side."""
    proc = psutil.Process(p.pid)
    out = []

    def attached() -> dict:
        proc.resume()
        time.sleep(0.5)  # catching up on the paused window is not steady state
        c0, b0, w0, m0 = cpu_seconds(p.pid), p.size(), time.time(), time.perf_counter()
        time.sleep(window)
        c1, b1, w1, m1 = cpu_seconds(p.pid), p.size(), time.time(), time.perf_counter()
        return {"rate": batch_rate(run, w0, w1), "cpu": (c1 - c0) / (m1 - m0),
                "bytes_per_s": (b1 - b0) / (m1 - m0), "rss_mb": proc.memory_info().rss / 2**20}

    def headless() -> dict:
        proc.suspend()
        time.sleep(0.2)
        w0 = time.time()
        time.sleep(window)
        return {"rate": batch_rate(run, w0, time.time())}

    try:
        for r in range(pairs):
            if r % 2 == 0:
                h = headless()
                at = attached()
            else:
                at = attached()
                h = headless()
            out.append((h, at))
    finally:
        proc.resume()
    return out


def idle_window(p: PtyProgram, settle: float, window: float) -> dict:
    time.sleep(settle)
    c0, b0, m0 = cpu_seconds(p.pid), p.size(), time.perf_counter()
    time.sleep(window)
    c1, b1, m1 = cpu_seconds(p.pid), p.size(), time.perf_counter()
    return {"cpu": (c1 - c0) / (m1 - m0), "bytes_per_s": (b1 - b0) / (m1 - m0)}


SMOOTHING_CYCLE = ("0.9", "off", "0.6")  # the dashboard starts at 0.6; `m` cycles


def key_latency(p: PtyProgram, presses: int) -> dict[str, list[float]]:
    """Two kinds of key, alternating: `?` (push the help screen; `escape` closes it between
    presses) and `m` (cycle smoothing: a notification, and the plots redraw)."""
    out: dict[str, list[float]] = {"?": [], "m": []}
    smoothing = 0
    for i in range(presses):
        key = "?" if i % 2 == 0 else "m"
        if key == "?":
            mark = HELP_MARK
        else:
            mark = f"smoothing {SMOOTHING_CYCLE[smoothing % 3]}".encode()
            smoothing += 1
        start = p.size()
        t = time.perf_counter()
        p.send(key.encode())
        seen = p.wait_for(mark, 5.0, start=start)
        if seen is None:
            raise RuntimeError(f"no reaction to {key!r} within 5 s")
        out[key].append(seen + p.t0 - t)
        if key == "?":
            time.sleep(0.15)
            p.send(b"\x1b")
        time.sleep(0.8 + random.random() * 0.4)  # land on every phase of the redraws
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=8, help="pairs of windows")
    ap.add_argument("--window", type=float, default=1.5)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--idle-window", type=float, default=6.0,
                    help="seconds of the idle measurement (CPU time counts in 10 ms ticks)")
    ap.add_argument("--presses", type=int, default=15)
    ap.add_argument("--preset", default="mlp-digits")
    a = ap.parse_args()
    random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        spec = load_spec(a.preset, {"train.epochs": 100000})
        run = RunDir.create(Path(tmp), spec)
        proc = launch.start_runner(run)
        try:
            deadline = time.time() + 120
            while not run.metrics.exists() or math.isnan(batch_rate(run, 0, time.time())):
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the runner did not start training")
                time.sleep(0.2)
            time.sleep(1.0)
            p = open_dashboard(run)
            try:
                time.sleep(a.settle)
                pairs = alternate(run, p, a.reps, a.window)
                # Every other pair ends with the dashboard stopped: the first key would land on
                # it catching up with that window (as the attached windows skip their first
                # 0.5 s, this is not steady state, which figure 5 is about).
                time.sleep(1.0)
                latencies = key_latency(p, a.presses)
                launch.request_stop(run)
                launch.kill_after(run, proc, 15)
                idle = idle_window(p, a.settle, a.idle_window)
            finally:
                p.close()
        finally:
            launch.request_stop(run)
            launch.kill_after(run, proc, 15)
    ratios = [at["rate"] / h["rate"] for h, at in pairs]
    lat = sorted(latencies["?"] + latencies["m"])
    emit({
        "ratio": median(ratios), "pairs": pairs,
        "headless_rate": median([h["rate"] for h, _ in pairs]),
        "attached_rate": median([at["rate"] for _, at in pairs]),
        "cpu_live": median([at["cpu"] for _, at in pairs]),
        "bytes_per_s": median([at["bytes_per_s"] for _, at in pairs]),
        "rss_mb": max(at["rss_mb"] for _, at in pairs),
        "cpu_idle": idle["cpu"], "bytes_idle": idle["bytes_per_s"], "window_s": a.window,
        "latency_p95": lat[min(len(lat) - 1, math.ceil(0.95 * len(lat)) - 1)],
        "latency_max": lat[-1], "latency_median": median(lat), "presses": len(lat),
        "latency_by_key": {k: {"median": median(v), "max": max(v)} for k, v in latencies.items()},
        "latencies": latencies,  # in press order: the first `?` also builds the help screen
    })


if __name__ == "__main__":
    main()
