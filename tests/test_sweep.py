"""Sweeps without training (core/sweep.py, core/sweep_upkeep.py): the search space as typed,
the trials drawn from it, the median stopping rule, the record, pruning, and the disk budget
over run folders the tests write."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tuitrain.core import sweep
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.errors import UserError
from tuitrain.core.events import EpochEnd
from tuitrain.core.queue_db import Queue
from tuitrain.core.run_meta import RunMeta, read_meta, write_meta
from tuitrain.core.rundir import RunDir
from tuitrain.core.sweep_upkeep import SweepUpkeep


def test_grid_is_every_combination_last_key_fastest() -> None:
    grid = sweep.parse_grid("optimizer.lr=1e-3,3e-3 train.batch_size=32,64 optimizer.name=sgd")
    assert grid == {"optimizer.lr": [1e-3, 3e-3], "train.batch_size": [32, 64],
                    "optimizer.name": ["sgd"]}
    trials = sweep.grid_trials(grid)
    assert [(t["optimizer.lr"], t["train.batch_size"]) for t in trials] == [
        (1e-3, 32), (1e-3, 64), (3e-3, 32), (3e-3, 64)]


@pytest.mark.parametrize(("text", "needle"), [
    ("optimizer.lr", "expected KEY=V1,V2"),
    ("optimizer.lr=", "expected KEY=V1,V2"),
    ("a=1 a=2", "names a twice"),
    ("", "--grid is empty"),
])
def test_bad_grids_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        sweep.parse_grid(text)


def test_random_draws_stay_in_range_and_repeat_for_a_seed() -> None:
    params = [sweep.parse_param("optimizer.lr=loguniform(1e-4,1e-2)"),
              sweep.parse_param("train.batch_size=choice(32,64)"),
              sweep.parse_param("data.samples=int(100,200)"),
              sweep.parse_param("optimizer.momentum=uniform(0.8,0.99)")]
    trials = sweep.random_trials(params, 200, seed=7)
    assert trials == sweep.random_trials(params, 200, seed=7)
    assert trials != sweep.random_trials(params, 200, seed=8)
    lrs = [t["optimizer.lr"] for t in trials]
    assert all(1e-4 <= lr <= 1e-2 for lr in lrs)
    logs = sorted(math.log10(lr) for lr in lrs)  # log-uniform: as many per decade
    assert 0.35 < sum(x < -3 for x in logs) / len(logs) < 0.65
    assert {t["train.batch_size"] for t in trials} == {32, 64}
    assert all(isinstance(t["data.samples"], int) and 100 <= t["data.samples"] <= 200
               for t in trials)
    assert all(0.8 <= t["optimizer.momentum"] <= 0.99 for t in trials)


@pytest.mark.parametrize(("text", "needle"), [
    ("optimizer.lr", "expected KEY=DIST"),
    ("optimizer.lr=normal(0,1)", "expected KEY=DIST"),
    ("optimizer.lr=loguniform(1e-2)", "needs two numbers"),
    ("optimizer.lr=loguniform(0,1)", "needs LOW > 0"),
    ("optimizer.lr=uniform(2,1)", "LOW must be below HIGH"),
    ("optimizer.name=choice()", "one or more values"),
])
def test_bad_params_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        sweep.parse_param(text)


def test_random_needs_params_and_trials() -> None:
    with pytest.raises(UserError, match="--random 0: must be 1 or more"):
        sweep.random_trials([sweep.parse_param("a.b=choice(1)")], 0, 0)
    with pytest.raises(UserError, match="--random needs one or more --param"):
        sweep.random_trials([], 3, 0)


def test_sizes() -> None:
    assert sweep.parse_size("50G") == 50 * 2**30
    assert sweep.parse_size("1.5g") == int(1.5 * 2**30)
    assert sweep.parse_size("500MiB") == 500 * 2**20
    assert sweep.parse_size("2048") == 2048
    with pytest.raises(UserError, match="expected a size like 50G"):
        sweep.parse_size("lots")


def test_median_rule() -> None:
    good = [[(1, 0.8), (2, 0.9)], [(1, 0.7), (2, 0.85)], [(1, 0.75), (2, 0.8)]]
    assert sweep.median_says_stop([(1, 0.5), (2, 0.6)], good, "max")
    assert not sweep.median_says_stop([(1, 0.5)], good, "max")  # epoch 1: warming up
    assert not sweep.median_says_stop([(1, 0.5), (2, 0.9)], good, "max")  # above the median
    assert not sweep.median_says_stop([(1, 0.5), (2, 0.6)], good[:2], "max")  # 2 peers: too few
    # best so far: a trial that was good at epoch 1 and slipped is judged by its best
    assert not sweep.median_says_stop([(1, 0.95), (2, 0.1)], good, "max")
    losses = [[(1, 0.5), (2, 0.3)], [(1, 0.6), (2, 0.4)], [(1, 0.4), (2, 0.35)]]
    assert sweep.median_says_stop([(1, 0.9), (2, 0.8)], losses, "min")
    assert not sweep.median_says_stop([(1, 0.9), (2, 0.2)], losses, "min")


def make_sweep(runs: Path, trials: int, **options: object) -> sweep.Sweep:
    record = sweep.Sweep("sweep-20260101-000000-mlp-moons", "mlp-moons", ("sweep",), "grid",
                         ("optimizer.lr=1,2",), "val_accuracy", "max",
                         tuple(sweep.Trial(n, {"optimizer.lr": n}, f"trial-{n}")
                               for n in range(trials)), **options)  # type: ignore[arg-type]
    for trial in record.trials:
        run = RunDir(runs / trial.run)
        (run.path / "checkpoints").mkdir(parents=True)
        run.config.write_text("")
        write_meta(run.path, RunMeta(sweep=record.id, trial=trial.n, params=trial.params))
    sweep.write_sweep(runs, record)
    return record


def epochs(run: RunDir, values: list[float]) -> None:
    for epoch, value in enumerate(values):
        run.append(EpochEnd(epoch=epoch, global_step=epoch, metrics={"val_accuracy": value},
                            seconds=1.0, is_best=True))


def test_read_sweep_by_part_of_its_id(tmp_path: Path) -> None:
    record = make_sweep(tmp_path, 2)
    assert sweep.read_sweep(tmp_path, "mlp-moons") == record
    with pytest.raises(UserError, match=r"no sweep 'nope'.*sweeps there: sweep-2026"):
        sweep.read_sweep(tmp_path, "nope")


def test_the_pruner_stops_a_trial_below_the_median_once(tmp_path: Path) -> None:
    record = make_sweep(tmp_path, 5, prune="median")
    runs = [RunDir(tmp_path / t.run) for t in record.trials]
    for run, values in zip(runs[:3], ([0.8, 0.9], [0.7, 0.85], [0.75, 0.8]), strict=True):
        epochs(run, values)
    epochs(runs[3], [0.5, 0.6])  # below the median at epoch 2
    epochs(runs[4], [0.9, 0.95])
    queue = Queue(tmp_path / "q")
    live = [queue.get(queue.add(r.path, "cpu", "1", sweep=record.id).id) for r in runs[3:]]
    stopped: list[str] = []
    said: list[str] = []
    upkeep = SweepUpkeep(said.append, stop=lambda run: stopped.append(run.id), every=0)
    upkeep([e for e in live if e is not None])
    assert stopped == [runs[3].id]
    assert read_meta(runs[3].path).pruned and not read_meta(runs[4].path).pruned
    assert "pruned trial-3 at epoch 2 (val_accuracy 0.6" in said[0]
    upkeep([e for e in live if e is not None])
    assert stopped == [runs[3].id]  # asked once


def fake_checkpoint(run: RunDir, epoch: int, size: int, best: bool = False) -> None:
    store = CheckpointStore(run.checkpoints, ".pt", keep=100)
    store.save(lambda path: path.write_bytes(b"x" * size), epoch, epoch, {}, best)


def test_the_disk_budget_deletes_the_oldest_non_best_of_ended_trials(tmp_path: Path) -> None:
    record = make_sweep(tmp_path, 3, disk_budget=52_000)
    done, stopped, live = (RunDir(tmp_path / t.run) for t in record.trials)
    done.write_summary({"status": "completed"})
    stopped.write_summary({"status": "stopped"})
    for epoch in (1, 2, 3):
        fake_checkpoint(done, epoch, 10_000, best=epoch == 2)
        fake_checkpoint(stopped, epoch, 10_000)
    fake_checkpoint(live, 1, 10_000)
    queue = Queue(tmp_path / "q")
    entry = queue.get(queue.add(live.path, "cpu", "1", sweep=record.id).id)
    assert entry is not None
    said: list[str] = []
    SweepUpkeep(said.append, every=0)([entry])

    def left(run: RunDir) -> list[int]:
        return [c.epoch for c in CheckpointStore(run.checkpoints, ".pt").complete()]

    # About 72 kB over 52 kB: the oldest spare ones go first (done's 1, stopped's 1, then
    # stopped's 2, written before done's 3); done's best (2) and stopped's latest (3: where a
    # resume continues) are never spare, nor is anything of the live trial.
    assert left(done) == [2, 3] and left(stopped) == [3] and left(live) == [1]
    assert "deleted" in said[0]
