"""Figures 3, 4, 5 and 7: the dashboard attached to a live run in a real pseudo-terminal
(160x48, `tuitrain watch RUN`), against the same run with nothing attached and against a bare
Textual app doing comparable work (`benchmarks/bare_app.py RUN`: tail the run, repaint the
latest values at 10 Hz, the same two keys), all under the same training load in this one run.

One runner trains mlp-digits at full speed (the runner's default thread budget) for the whole
measurement; the dashboard and the bare app each run in their own pty. An app that is not
being measured is frozen with SIGSTOP (no CPU, no output: as if absent).
- Windows, in rounds: headless (both frozen), dashboard (only the dashboard runs), and in
  every other round both (the two apps run at once); the order rotates from round to round.
  3: steps/s in the dashboard window / steps/s in the headless window of the same round
  (each the median over the window's log intervals: `training_rate`).
  4.live: the dashboard's CPU (all threads, from /proc schedstat: nanoseconds, not 10 ms
  ticks) as % of one core, per dashboard window; 4.ratio: the dashboard's CPU / the bare
  app's in the same "both" window (the same moments, the same load). 7: bytes the dashboard
  wrote to the terminal per second, per dashboard window.
- Keys, in blocks of four presses (`?` `m` `?` `m`) alternating between the two apps, the
  other frozen: a key written to the pty -> its visible effect arriving from the pty (`?`: the
  help screen's heading; `m`: the smoothing notification), at random phases of the redraws.
  5.p95: the dashboard's 95th percentile; 5.ratio: dashboard / bare app latency of the n-th
  press of the same key in each app.
- Idle: after the run ends, both apps watch the finished run; CPU per 1 s window.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks import bare_app
from benchmarks.common import emit
from benchmarks.ptyterm import PtyProgram
from tuitrain.core import launch
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir

DECRQM_SYNC = b"\x1b[?2026$p"  # Textual asks whether the terminal has synchronized output
SYNC_YES = b"\x1b[?2026;2$y"
FRAME_END = b"\x1b[?2026l"
HELP_MARK = b"Dashboard keys"
BARE_HELP_MARK = bare_app.HELP_MARK.encode()


def batch_points(run: RunDir, t0: float, t1: float) -> list[tuple[float, int]]:
    """(wall time, global step) of the run's batch events between wall times t0 and t1."""
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
    return pts


def batch_rate(run: RunDir, t0: float, t1: float) -> float:
    """Steps per second between wall times t0 and t1, from the run's batch events."""
    pts = batch_points(run, t0, t1)
    if len(pts) < 2:
        return float("nan")
    (ta, sa), (tb, sb) = pts[0], pts[-1]
    return (sb - sa) / (tb - ta) if tb > ta else float("nan")


def training_rate(run: RunDir, t0: float, t1: float) -> float:
    """The median steps per second of the log intervals (one batch event to the next)
    between t0 and t1. An interval that holds an epoch's end also holds its validation and
    checkpoint: on mlp-digits, a few dozen milliseconds of epoch every window, which landing
    in one window and not in the next made whole-window rates differ by 10%. The median
    leaves those intervals out; the dashboard writes nothing to the disk they wait on."""
    pts = batch_points(run, t0, t1)
    rates = [
        (sb - sa) / (tb - ta)
        for (ta, sa), (tb, sb) in itertools.pairwise(pts)
        if tb > ta and sb > sa
    ]
    return statistics.median(rates) if rates else float("nan")


def open_app(argv: list[str], mark: bytes, timeout: float = 30.0) -> PtyProgram:
    """Start `argv` in a pty and wait for its first frame showing `mark`."""
    p = PtyProgram(argv)
    if p.wait_for(DECRQM_SYNC, timeout) is not None:
        p.send(SYNC_YES)
    if p.wait_for(mark, timeout) is None or p.wait_for(FRAME_END, timeout) is None:
        p.close()
        raise RuntimeError(
            f"{argv[2]} drew no frame showing {mark!r}:\n"
            + p.output()[-2000:].decode("utf-8", "replace")
        )
    return p


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid` (schedstat: nanosecond resolution)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


class Apps:
    """The two apps under test; `only(...)` lets those run and freezes the other."""

    def __init__(self, dash: PtyProgram, bare: PtyProgram) -> None:
        self.programs = {"dashboard": dash, "bare": bare}
        self.procs = {name: psutil.Process(p.pid) for name, p in self.programs.items()}

    def only(self, *names: str) -> None:
        for name, proc in self.procs.items():
            if name in names:
                proc.resume()
            else:
                proc.suspend()

    def all(self) -> None:
        self.only(*self.procs)


WINDOWS = {"headless": (), "dashboard": ("dashboard",), "both": ("dashboard", "bare")}


def windows(run: RunDir, apps: Apps, rounds: int, window: float) -> list[dict[str, dict]]:
    """Rounds of three windows, the order rotated each round: headless, the dashboard alone,
    and both apps at once (their CPU compared at the same moments, under the same load).
    Short windows and many rounds keep the load that neighbours put on a shared machine from
    favouring one side."""

    def measure(names: tuple[str, ...]) -> dict:
        apps.only(*names)
        time.sleep(0.5 if names else 0.2)  # catching up on a frozen window: not steady
        progs = {name: apps.programs[name] for name in names}
        w0, m0 = time.time(), time.perf_counter()
        start = {name: (cpu_seconds(p.pid), p.size()) for name, p in progs.items()}
        time.sleep(window)
        w1, m1 = time.time(), time.perf_counter()
        out: dict = {"rate": training_rate(run, w0, w1), "window_rate": batch_rate(run, w0, w1)}
        for name, p in progs.items():
            c0, b0 = start[name]
            out[name] = {
                "cpu": (cpu_seconds(p.pid) - c0) / (m1 - m0),
                "bytes_per_s": (p.size() - b0) / (m1 - m0),
                "rss_mb": psutil.Process(p.pid).memory_info().rss / 2**20,
            }
        return out

    kinds = list(WINDOWS)
    out = []
    try:
        for r in range(rounds):
            if r % 2 == 0:  # all three, the order rotating
                k = (r // 2) % 3
                order = kinds[k:] + kinds[:k]
            else:  # headless and the dashboard alone, the order alternating
                order = kinds[:2] if (r // 2) % 2 else kinds[1::-1]
            out.append({kind: measure(WINDOWS[kind]) for kind in order})
    finally:
        apps.all()
    return out


SMOOTHING_CYCLE = ("0.9", "off", "0.6")  # both apps start at 0.6; `m` cycles
BLOCK = ("?", "m", "?", "m")


def press(name: str, p: PtyProgram, key: str, mark: bytes) -> float:
    """Seconds from writing `key` to the pty until `mark` arrives from it. After `?`, `?`
    again closes the help screen (in both apps), and the next key waits for the frame that
    shows it closed. Not escape: an app that reads the escape and the next key in one read
    (a busy moment under training load) takes them for alt+key, and the key is lost."""
    start = p.size()
    t = time.perf_counter()
    p.send(key.encode())
    seen = p.wait_for(mark, 5.0, start=start)
    if seen is None:
        raise RuntimeError(f"{name}: no reaction to {key!r} within 5 s")
    if key == "?":
        time.sleep(0.1)
        start = p.size()
        p.send(b"?")
        if p.wait_for(FRAME_END, 5.0, start=start) is None:
            raise RuntimeError(f"{name}: the help screen did not close within 5 s")
    time.sleep(0.1 + random.random() * 0.1)  # land on every phase of the 10 Hz redraws
    return seen + p.t0 - t


def key_latency(apps: Apps, presses: int) -> dict[str, list[float]]:
    """`presses` presses per app, in blocks of `?` `m` `?` `m` alternating between the apps
    (the other frozen), which app goes first flipping every two blocks."""
    help_marks = {"dashboard": HELP_MARK, "bare": BARE_HELP_MARK}
    out: dict[str, list[float]] = {"dashboard": [], "bare": [], "keys": []}
    m_count = {"dashboard": 0, "bare": 0}
    for b in range(math.ceil(presses / len(BLOCK))):
        for name in ("dashboard", "bare") if b % 2 == 0 else ("bare", "dashboard"):
            apps.only(name)
            time.sleep(0.5)
            for key in BLOCK:
                if key == "?":
                    mark = help_marks[name]
                else:
                    mark = f"smoothing {SMOOTHING_CYCLE[m_count[name] % 3]}".encode()
                    m_count[name] += 1
                out[name].append(press(name, apps.programs[name], key, mark))
        out["keys"] += BLOCK
    apps.all()
    return out


def idle_windows(apps: Apps, settle: float, n: int) -> dict[str, list[float]]:
    """Both apps on the finished run: CPU of each per 1 s window."""
    time.sleep(settle)
    out: dict[str, list[float]] = {name: [] for name in apps.programs}
    for _ in range(n):
        c0 = {name: cpu_seconds(p.pid) for name, p in apps.programs.items()}
        m0 = time.perf_counter()
        time.sleep(1.0)
        dt = time.perf_counter() - m0
        for name, p in apps.programs.items():
            out[name].append((cpu_seconds(p.pid) - c0[name]) / dt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=40, help="rounds (both apps: every other)")
    ap.add_argument("--window", type=float, default=1.0)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--idle-windows", type=int, default=12, help="1 s windows on the ended run")
    ap.add_argument(
        "--idle-settle",
        type=float,
        default=5.0,
        help="seconds after the run ends before the idle windows",
    )
    ap.add_argument("--presses", type=int, default=160, help="per app (p95 needs 59)")
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
            with contextlib.ExitStack() as stack:
                dash = open_app(
                    [
                        sys.executable,
                        "-m",
                        "tuitrain",
                        "watch",
                        str(run.path),
                        "--runs-dir",
                        str(run.path.parent),
                    ],
                    FRAME_END,
                )
                stack.callback(dash.close)
                bare = open_app(
                    [sys.executable, "-m", "benchmarks.bare_app", str(run.path)], b"step"
                )
                stack.callback(bare.close)
                apps = Apps(dash, bare)
                time.sleep(a.settle)
                rounds = windows(run, apps, a.rounds, a.window)
                latencies = key_latency(apps, a.presses)
                launch.request_stop(run)
                launch.kill_after(run, proc, 15)
                idle = idle_windows(apps, a.idle_settle, a.idle_windows)
        finally:
            launch.request_stop(run)
            launch.kill_after(run, proc, 15)
    emit({"rounds": rounds, "latency": latencies, "idle": idle, "window_s": a.window})


if __name__ == "__main__":
    main()
