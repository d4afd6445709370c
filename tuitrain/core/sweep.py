"""Sweeps: the search space a person types (`--grid`, `--random N --param`), the trials drawn
from it, the sweep's record, and the median stopping rule its pruner applies. Pure: no
processes, no framework; the trials run as ordinary queued runs (core/queue_db.py).

Search is written here rather than on Optuna: a trial is a run of any of three frameworks
in a process of its own, started by the queue (or SLURM), and reports its epochs in its
own event log; Optuna's ask/tell and its pruners expect the objective in the process that
holds the study, and its RDB storage on SQLite has the same network-file-system trouble as
the queue. Grid and random search and the median rule are each a few lines here, and
every decision they make stays readable in the run folders."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from tuitrain.core.atomic import write_atomic
from tuitrain.core.errors import UserError
from tuitrain.core.presets import parse_value

Search = Literal["grid", "random"]
Prune = Literal["", "median"]
PRUNES: tuple[str, ...] = ("median",)
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
WARMUP_EPOCHS = 2  # the pruner may stop a trial from its second epoch on
MIN_PEERS = 3  # other trials that must have reached an epoch before it is compared there
_PARAM = re.compile(r"^\s*([\w.]+)\s*=\s*(\w+)\((.*)\)\s*$")


@dataclass(frozen=True)
class Param:
    """One random-search dimension: `key=loguniform(1e-4,1e-2)`."""

    key: str
    kind: str  # one of DISTRIBUTIONS
    values: tuple[Any, ...]

    def draw(self, rng: random.Random) -> Any:
        if self.kind == "choice":
            return rng.choice(self.values)
        low, high = self.values
        if self.kind == "int":
            return rng.randint(int(low), int(high))
        if self.kind == "loguniform":
            return math.exp(rng.uniform(math.log(low), math.log(high)))
        return rng.uniform(low, high)


def parse_grid(text: str) -> dict[str, list[Any]]:
    """'optimizer.lr=1e-3,3e-3 train.batch_size=32,64' -> {key: [values]}."""
    grid: dict[str, list[Any]] = {}
    for part in text.split():
        key, sep, values = part.partition("=")
        items = [v for v in values.split(",") if v.strip()]
        if not sep or not key or not items:
            raise UserError(f"--grid {part!r}: expected KEY=V1,V2,... e.g. "
                            "--grid 'optimizer.lr=1e-3,3e-3 train.batch_size=32,64'")
        if key in grid:
            raise UserError(f"--grid names {key} twice")
        grid[key] = [parse_value(v.strip()) for v in items]
    if not grid:
        raise UserError("--grid is empty; e.g. --grid 'optimizer.lr=1e-3,3e-3'")
    return grid


def parse_param(text: str) -> Param:
    """'optimizer.lr=loguniform(1e-4,1e-2)', 'train.batch_size=choice(32,64)',
    'model.units=int(16,128)', 'optimizer.momentum=uniform(0.8,0.99)'."""
    match = _PARAM.match(text)
    usage = (f"--param {text!r}: expected KEY=DIST(ARGS) with DIST one of "
             f"{', '.join(DISTRIBUTIONS)}, e.g. --param 'optimizer.lr=loguniform(1e-4,1e-2)'")
    if match is None:
        raise UserError(usage)
    key, kind, args = match.groups()
    if kind not in DISTRIBUTIONS:
        raise UserError(usage)
    values = tuple(parse_value(a.strip()) for a in args.split(",") if a.strip())
    if kind == "choice":
        if not values:
            raise UserError(f"--param {text!r}: choice() needs one or more values")
        return Param(key, kind, values)
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                   for v in values):
        raise UserError(f"--param {text!r}: {kind}() needs two numbers, LOW,HIGH")
    low, high = values
    if not low < high:
        raise UserError(f"--param {text!r}: LOW must be below HIGH")
    if kind == "loguniform" and low <= 0:
        raise UserError(f"--param {text!r}: loguniform() needs LOW > 0")
    return Param(key, kind, values)


def grid_trials(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination, the last key varying fastest."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def random_trials(params: Sequence[Param], count: int, seed: int) -> list[dict[str, Any]]:
    """`count` draws, the same for the same seed."""
    if count < 1:
        raise UserError(f"--random {count}: must be 1 or more trials")
    if not params:
        raise UserError("--random needs one or more --param KEY=DIST(ARGS)")
    keys = [p.key for p in params]
    if len(set(keys)) != len(keys):
        raise UserError("--param names a key twice")
    rng = random.Random(seed)
    return [{p.key: p.draw(rng) for p in params} for _ in range(count)]


# --- the record ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    n: int
    params: dict[str, Any]
    run: str = ""  # the run folder's id, once made


@dataclass(frozen=True)
class Sweep:
    """A sweep's record: `RUNS/sweeps/ID.json`. What it searched, how, and its trials."""

    id: str
    preset: str
    argv: tuple[str, ...]  # the `tuitrain sweep` options that set the base run
    search: Search
    space: tuple[str, ...]  # the --grid / --param texts
    monitor: str
    mode: str  # "max" or "min"
    trials: tuple[Trial, ...]
    prune: Prune = ""
    keep_checkpoints: int = 1
    disk_budget: int | None = None  # bytes the sweep's checkpoints may take
    on: str = "local"  # or "slurm"
    slurm_job: str = ""  # the job array's id, on SLURM
    slurm_options: str = ""  # more `sbatch` options (--sbatch): partition, time, GPUs
    slurm_parallel: int | None = None  # array tasks running at once (--max-parallel)
    created: float = field(default_factory=time.time)

    def trial(self, n: int) -> Trial:
        """Trial `n`, or a one-line error naming how many there are."""
        if not 0 <= n < len(self.trials):
            raise UserError(f"{self.id} has trials 0-{len(self.trials) - 1}; no trial {n}")
        return self.trials[n]

    def with_run(self, n: int, run_id: str) -> Sweep:
        trials = tuple(replace(t, run=run_id) if t.n == n else t for t in self.trials)
        return replace(self, trials=trials)


def sweeps_dir(runs_dir: Path) -> Path:
    return runs_dir / "sweeps"


def new_id(preset: str, runs_dir: Path) -> str:
    """`sweep-<time>-<preset>`, with `-2`, `-3`... when a sweep of that name exists (two
    started in the same second)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(preset).stem).strip("-") or "sweep"
    base = f"sweep-{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    taken = sweeps_dir(runs_dir)
    n = 1
    while (taken / f"{base if n == 1 else f'{base}-{n}'}.json").exists():
        n += 1
    return base if n == 1 else f"{base}-{n}"


def write_sweep(runs_dir: Path, sweep: Sweep) -> Path:
    folder = sweeps_dir(runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sweep.id}.json"
    write_atomic(path, json.dumps(asdict(sweep), indent=2))
    return path


def read_sweep(runs_dir: Path, ref: str) -> Sweep:
    """A sweep by id or a unique part of one, or a one-line error listing what there is."""
    folder = sweeps_dir(runs_dir)
    ids = sorted(p.stem for p in folder.glob("sweep-*.json")) if folder.is_dir() else []
    matches = [i for i in ids if i == ref] or [i for i in ids if ref in i]
    if len(matches) != 1:
        known = ", ".join(ids[-5:]) or "none"
        what = "no sweep" if not matches else f"{len(matches)} sweeps match"
        raise UserError(f"{what} {ref!r} in {folder}; sweeps there: {known}")
    path = folder / f"{matches[0]}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        raw["trials"] = tuple(Trial(**t) for t in raw["trials"])
        raw["argv"], raw["space"] = tuple(raw["argv"]), tuple(raw["space"])
        return Sweep(**raw)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{path}: a damaged sweep record ({type(exc).__name__}: {exc})"
                        ) from None


# --- pruning ------------------------------------------------------------------------------


def best_so_far(curve: Sequence[tuple[int, float]], mode: str) -> dict[int, float]:
    """epoch -> the best value up to and including it."""
    out: dict[int, float] = {}
    best: float | None = None
    for epoch, value in sorted(curve):
        if best is None or (value > best if mode == "max" else value < best):
            best = value
        out[epoch] = best
    return out


def median_says_stop(curve: Sequence[tuple[int, float]], others: Sequence[Sequence[tuple[int,
                     float]]], mode: str) -> bool:
    """The median stopping rule (Google Vizier's; Optuna's MedianPruner): stop a trial whose
    best value so far, at its latest epoch, is worse than the median of the other trials'
    best values up to that same epoch (epochs counted from 1). Never before epoch
    WARMUP_EPOCHS, nor with fewer than MIN_PEERS other trials that have reached it."""
    if not curve:
        return False
    epoch = max(e for e, _ in curve)
    if epoch < WARMUP_EPOCHS:
        return False
    mine = best_so_far(curve, mode)[epoch]
    peers = [b[epoch] for b in (best_so_far(o, mode) for o in others) if epoch in b]
    if len(peers) < MIN_PEERS:
        return False
    median = statistics.median(peers)
    return mine < median if mode == "max" else mine > median


def parse_size(text: str) -> int:
    """'50G', '500M', '2T', '1.5G' (powers of 1024; a bare number is bytes) -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if match is None or float(match.group(1)) <= 0:
        raise UserError(f"--disk-budget {text!r}: expected a size like 50G, 500M or 2T")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024**power)
