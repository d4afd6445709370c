"""The queue figures (`--only queue`): 200 entries added by 4 processes at once while the
scheduler starts them through a launcher that trains nothing (in --quick: seconds), and 40
tiny real runs queued by 4 processes at once with `tuitrain queue add`, trained by the
detached scheduler 2 at a time, against `tuitrain train` run one after another (not in
--quick: a few minutes on 2 cores)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import ROOT, Figure, child_env, exact
from tuitrain.core.events import RunStarted
from tuitrain.core.queue_db import Entry, Queue
from tuitrain.core.rundir import list_runs
from tuitrain.core.scheduler import Scheduler

ADDERS = 4
ENTRIES = 50  # per adder
REAL_RUNS = 10  # per adder
LOOP_RUNS = 10  # `tuitrain train` one after another, the baseline
TINY = ("-p", "mlp-moons", "-f", "torch", "--epochs", "2", "--set", "data.samples=200")
ABOUT = (
    "Queue figures (`queue`): the run queue's database and scheduler (core/queue_db.py, "
    "core/scheduler.py). `queue 200`: 4 processes add 50 entries each at the same moment "
    "while the scheduler, 8 at a time, starts them through a launcher that records each "
    "start and trains nothing: every entry must be there and started exactly once (in "
    "--quick). `queue 40`: 4 processes run `tuitrain queue add` 10 times each at once (a tiny "
    "mlp-moons, 2 epochs, PyTorch), the detached scheduler trains them 2 at a time with 1 "
    "core each; every run must complete, each started once; its time per run is printed "
    "beside that of `tuitrain train` run 10 times one after another. Not in --quick."
)
ADDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tuitrain.core.queue_db import Queue
    queue, tag = Queue(Path(sys.argv[1])), sys.argv[2]
    for n in range(int(sys.argv[3])):
        queue.add(Path(sys.argv[1]) / f"{tag}-{n}", "cpu", "1")
""")


@dataclass
class RecordingLauncher:
    """Starts nothing: records each start; the run has ended by the next look."""

    started: list[int]

    def start(self, entry: Entry, cpu_share: int | None) -> None:
        self.started.append(entry.id)

    def alive(self, entry: Entry) -> bool:
        return False

    def outcome(self, entry: Entry) -> str:
        return "completed"


def queue_figures(quick: bool) -> list[Figure]:
    figures = [_many_adders()]
    if not quick:
        figures.append(_real_runs())
    return figures


def _many_adders() -> Figure:
    with tempfile.TemporaryDirectory() as tmp:
        queue = Queue(Path(tmp))
        queue.max_parallel = 8
        started: list[int] = []
        scheduler = Scheduler(queue, RecordingLauncher(started), lambda: [], lambda text: None)
        t0 = time.perf_counter()
        adders = [subprocess.Popen([sys.executable, "-c", ADDER, tmp, f"p{i}", str(ENTRIES)],
                                   cwd=ROOT, env=child_env()) for i in range(ADDERS)]
        while any(p.poll() is None for p in adders) or queue.pending():
            if not scheduler.tick():
                time.sleep(0.005)
        seconds = time.perf_counter() - t0
        entries = queue.entries()
        ok = (len(entries) == ADDERS * ENTRIES and len(started) == len(set(started))
              and sorted(started) == sorted(e.id for e in entries)
              and all(p.returncode == 0 for p in adders))
        return exact("queue 200", "entries added by 4 processes at once: each there and "
                     "started once", len(set(started)), f"== {ADDERS * ENTRIES}", ok,
                     detail=f"{len(entries)} entries, {len(started)} starts "
                     f"({len(set(started))} distinct) in {seconds:.2f} s with a launcher that "
                     "trains nothing, 8 at a time")


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tuitrain", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _real_runs() -> Figure:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(child_env(), TUITRAIN_QUEUE_DIR=f"{tmp}/queue", TUITRAIN_RUNS_DIR=f"{tmp}/q",
                   TUITRAIN_PRESETS_DIR=f"{tmp}/no-presets")
        env.pop("OMP_NUM_THREADS", None)  # the scheduler gives each run its share
        Queue(Path(tmp) / "queue").max_parallel = 2
        t0 = time.perf_counter()
        script = "; ".join([f"{sys.executable} -m tuitrain queue add {' '.join(TINY)} "
                            "> /dev/null"] * REAL_RUNS)
        adders = [subprocess.Popen(["sh", "-c", script], cwd=ROOT, env=env)
                  for _ in range(ADDERS)]
        adds_ok = all(p.wait() == 0 for p in adders)
        waited = _cli(env, "queue", "wait")
        waited.communicate(timeout=3600)
        queued = (time.perf_counter() - t0) / (ADDERS * REAL_RUNS)
        runs = list_runs(Path(tmp) / "q")
        once = [sum(isinstance(e, RunStarted) for e in r.events()) == 1 for r in runs]
        completed = sum(r.status() == "completed" for r in runs)
        loop_env = dict(env, TUITRAIN_RUNS_DIR=f"{tmp}/loop")
        t1 = time.perf_counter()
        for _ in range(LOOP_RUNS):
            _cli(loop_env, "train", *TINY).communicate(timeout=600)
        loop = (time.perf_counter() - t1) / LOOP_RUNS
        n = ADDERS * REAL_RUNS
        ok = adds_ok and waited.returncode == 0 and completed == n and all(once) and len(runs) == n
        return exact("queue 40", "tiny runs queued by 4 processes at once: each completed "
                     "once", completed, f"== {n}", ok,
                     detail=f"{queued:.2f} s a run through the queue (2 at a time, "
                     f"{os.cpu_count()} cores), {loop:.2f} s a run for `tuitrain train` one "
                     f"after another ({LOOP_RUNS} runs): {queued / loop:.2f}x")
