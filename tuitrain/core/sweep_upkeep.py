"""What the scheduler does for the sweeps whose trials it runs, every few seconds: stop the
trials the sweep's pruner says to stop (core/sweep.py `median_says_stop`; a graceful stop
with a checkpoint, the trial marked `pruned` in its meta.json), and keep the sweep's
checkpoints within its disk budget by deleting the oldest checkpoints of trials that have
ended, never a trial's best nor the latest of an interrupted trial (where `sweep resume`
continues it)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tuitrain.core import launch, sweep
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.errors import UserError
from tuitrain.core.queue_db import Entry
from tuitrain.core.run_meta import read_meta, write_meta
from tuitrain.core.rundir import RunDir
from tuitrain.core.runs_index import epoch_curves

EVERY = 2.0  # seconds between looks (a look re-reads only logs that grew)


def _tree_size(folder: Path) -> int:
    """Bytes under `folder`; files a live runner renames or prunes meanwhile count as 0."""
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            total += path.stat().st_size if path.is_file() else 0
    return total


def resumable(run: Path) -> bool:
    """An interrupted trial (stopped by a person or a signal, crashed): `sweep resume`
    continues it from its latest checkpoint."""
    status = RunDir(run).status_or("crashed")
    return status == "crashed" or (status == "stopped" and not read_meta(run).pruned)


@dataclass
class SweepUpkeep:
    """Pruning and disk budgets for the sweeps of the entries the scheduler runs."""

    say: Callable[[str], None]
    stop: Callable[[RunDir], None] = launch.request_stop
    every: float = EVERY
    _next: float = 0.0
    _curves: dict[Path, tuple[int, list[tuple[int, float]]]] = field(default_factory=dict)

    def __call__(self, started: Sequence[Entry]) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        for sweep_id in sorted({e.sweep for e in started if e.sweep}):
            live = [e for e in started if e.sweep == sweep_id]
            try:
                record = sweep.read_sweep(live[0].run.parent, sweep_id)
            except (UserError, OSError, ValueError, TypeError, KeyError):
                continue  # its record is gone or damaged: its trials train on unpruned
            runs = live[0].run.parent
            if record.prune == "median":
                self.prune(record, runs, [e.run for e in live])
            if record.disk_budget is not None:
                self.keep_budget(record, runs, {e.run for e in live})

    def curve(self, run: Path, monitor: str) -> list[tuple[int, float]]:
        """The run's per-epoch `monitor`, re-read only when its log has grown."""
        try:
            size = (run / "metrics.jsonl").stat().st_size
        except OSError:
            return []
        cached = self._curves.get(run)
        if cached is None or cached[0] != size:
            cached = (size, epoch_curves(RunDir(run)).get(monitor, []))
            self._curves[run] = cached
        return cached[1]

    def prune(self, record: sweep.Sweep, runs: Path, live: Sequence[Path]) -> None:
        trials = [runs / t.run for t in record.trials if t.run]
        for run in live:
            mine = self.curve(run, record.monitor)
            others = [self.curve(r, record.monitor) for r in trials if r != run]
            if not sweep.median_says_stop(mine, others, record.mode):
                continue
            meta = read_meta(run)
            if meta.pruned:
                continue  # asked already; it is stopping
            write_meta(run, meta.with_changes(pruned=True))
            self.stop(RunDir(run))
            epoch, value = mine[-1]
            self.say(f"{record.id}: pruned {run.name} at epoch {epoch} ({record.monitor} "
                     f"{value:.4g}, worse than the median of the other trials)")

    def keep_budget(self, record: sweep.Sweep, runs: Path, live: set[Path]) -> None:
        """Delete the oldest checkpoints that are not a trial's best, of ended trials, until
        the sweep's checkpoints fit its budget; say so when they cannot."""
        assert record.disk_budget is not None
        trials = [runs / t.run for t in record.trials if t.run and (runs / t.run).is_dir()]
        used = sum(_tree_size(r / "checkpoints") for r in trials)
        if used <= record.disk_budget:
            return
        spare = []
        for run in trials:
            if run in live:
                continue
            store = CheckpointStore(run / "checkpoints", "")
            kept = {store.best_name()}
            if resumable(run):  # its latest checkpoint is where `sweep resume` continues
                latest = store.complete()[-1:]
                kept |= {c.name for c in latest}
            spare += [(c.created, c) for c in store.complete() if c.name not in kept]
        freed = 0
        for _, ckpt in sorted(spare, key=lambda pair: pair[0]):
            if used - freed <= record.disk_budget:
                break
            size = ckpt.size()
            CheckpointStore(ckpt.path.parent, "").remove(ckpt)
            freed += size
        if freed:
            self.say(f"{record.id}: checkpoints over the disk budget; deleted "
                     f"{freed / 2**20:.0f} MiB of ended trials' non-best checkpoints")
        if used - freed > record.disk_budget:
            self.say(f"{record.id}: checkpoints take {(used - freed) / 2**30:.2f} GiB, over the "
                     f"budget of {record.disk_budget / 2**30:.2f} GiB, and only best and live "
                     "trials' checkpoints are left")
