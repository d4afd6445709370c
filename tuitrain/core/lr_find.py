"""The learning-rate finder (`tuitrain lr-find`, `f` on the setup screen): a short run whose
learning rate grows exponentially from `start` to `end`, one step at a time, recording each
step's loss (Leslie Smith's range test, as fastai and Lightning run it); the suggestion is the
rate where the smoothed loss falls fastest. `LrFinder` is the training driver for it: a
`Trainer` whose `fit` runs the sweep, so every backend runs it unchanged. It trains a model
nobody keeps, in a process of its own: no run's weights are touched."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tuitrain.core.errors import UserError
from tuitrain.core.spec import RunSpec
from tuitrain.core.trainer import Trainer

SMOOTHING = 0.98  # EMA weight of the smoothed loss (bias-corrected, as fastai's)
DIVERGED = 4.0  # the sweep stops once the smoothed loss exceeds this many times its best
SKIP = 0.1  # the first share of the sweep is not considered for the suggestion (noise)


@dataclass(frozen=True)
class Sweep:
    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    suggested: float | None
    diverged: bool


def rates(start: float, end: float, steps: int) -> np.ndarray:
    """`steps` rates from `start` to `end`, evenly spaced on a log scale."""
    return np.geomspace(start, end, steps)


def smooth(losses: list[float]) -> list[float]:
    """The bias-corrected exponential moving average of the losses."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = SMOOTHING * avg + (1 - SMOOTHING) * loss
        out.append(avg / (1 - SMOOTHING ** (i + 1)))
    return out


def suggest(lrs: list[float], smoothed: list[float]) -> float | None:
    """The rate of the steepest descent of the smoothed loss against log(rate), before the
    smoothed loss's lowest point (past it the loss is on its way up, and noise there can
    look steep); None when the sweep is too short, or the loss never fell."""
    if len(smoothed) < 10:
        return None
    start = max(1, int(SKIP * len(smoothed)))
    lowest = int(np.argmin(smoothed))
    if lowest <= start:
        return None
    slopes = np.gradient(np.asarray(smoothed), np.log10(np.asarray(lrs)))
    best = start + int(np.argmin(slopes[start:lowest + 1]))
    return float(lrs[best]) if slopes[best] < 0 else None


def plot_text(sweep: Sweep, width: int = 100, height: int = 22) -> str:
    """Loss against the learning rate (log scale), the suggestion marked: a plotext picture
    for a terminal (ANSI colours)."""
    import plotext as plt

    lrs, losses, smoothed, suggested = sweep.lrs, sweep.losses, sweep.smoothed, sweep.suggested

    plt.clear_figure()
    plt.theme("clear")  # the terminal's own colours
    plt.plotsize(width, height)
    plt.xscale("log")
    top = 2 * smoothed[0] if smoothed else 1.0  # the divergence at the end would flatten it
    plt.plot(list(lrs), [min(v, top) for v in losses], label="loss", color="gray",
             marker="braille")
    plt.plot(list(lrs), [min(v, top) for v in smoothed], label="smoothed", color="cyan",
             marker="braille")
    if suggested is not None:
        plt.vertical_line(suggested, color="orange")
    if lrs:
        decades = range(math.floor(math.log10(lrs[0])), math.ceil(math.log10(lrs[-1])) + 1)
        plt.xticks([10.0**d for d in decades], [f"1e{d}" for d in decades])
    plt.title("loss vs learning rate" + (f" · suggested {suggested:.3g}" if suggested else ""))
    plt.xlabel("learning rate")
    return str(plt.build())


class LrFinder(Trainer):
    """Runs the range test instead of epochs (set `start`, `end`, `steps` before `fit`)."""

    start: float = 1e-7
    end: float = 10.0
    steps: int = 200
    result: Sweep | None = None

    def fit(self) -> Literal["completed", "stopped"]:
        engine = self.engine
        assert engine is not None, "call begin() first"
        planned = rates(self.start, self.end, self.steps)
        if self.sampler.full_steps == 0:
            raise UserError(f"the training split ({self.sampler.num_samples} samples) is "
                            f"smaller than one batch ({self.spec.train.batch_size}); use "
                            f"--batch-size {max(1, self.sampler.num_samples)} or less")
        losses: list[float] = []
        diverged = False
        epoch = 0
        while len(losses) < self.steps and not diverged:
            engine.start_epoch(epoch, self.sampler.steps(epoch, 0))
            done_in_epoch = 0
            while done_in_epoch < self.sampler.full_steps and len(losses) < self.steps:
                k = min(self.spec.train.log_every, self.sampler.full_steps - done_in_epoch,
                        self.steps - len(losses))
                at = len(losses)
                engine.train_steps(self.sampler.rows(epoch, done_in_epoch, k),
                                   planned[at:at + k], 0)
                block = [float(v) for v in engine.read_slots(k)["loss"]]
                losses += block
                done_in_epoch += k
                if not all(math.isfinite(v) for v in block):
                    diverged = True
                    break
                smoothed = smooth(losses)
                if smoothed[-1] > DIVERGED * min(smoothed):
                    diverged = True
                    break
            epoch += 1
        kept = [i for i, v in enumerate(losses) if math.isfinite(v)]
        lrs = [float(planned[i]) for i in kept]
        finite = [losses[i] for i in kept]
        smoothed = smooth(finite)
        self.result = Sweep(tuple(lrs), tuple(finite), tuple(smoothed),
                            suggest(lrs, smoothed), diverged)
        return "completed"


def find(spec: RunSpec, steps: int = 200, start: float = 1e-7, end: float = 10.0,
         timeout: float = 1800) -> Sweep:
    """Run the range test for `spec` in a child process (its framework, its devices) on a
    throwaway run folder; a one-line UserError when it fails."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from tuitrain.core.cores import thread_budget
    from tuitrain.core.rundir import RunDir

    if steps < 10:
        raise UserError(f"--steps {steps}: the finder needs 10 or more steps")
    if not 0 < start < end:
        raise UserError(f"--start {start:g} --end {end:g}: need 0 < start < end")
    with tempfile.TemporaryDirectory(prefix="tuitrain-lr-find-") as tmp:
        run = RunDir.create(Path(tmp), spec)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.update({k: v for k, v in thread_budget().items() if k not in os.environ})
        try:
            out = subprocess.run(
                [sys.executable, "-m", "tuitrain.lr_finder", str(run.path), "--steps",
                 str(steps), "--start", repr(start), "--end", repr(end)],
                capture_output=True, text=True, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise UserError(f"the learning-rate finder did not end within {timeout:g} s; "
                            "try fewer --steps") from None
    lines = out.stdout.strip().splitlines()
    try:
        raw = json.loads(lines[-1]) if lines else {}
    except ValueError:
        raw = {}
    if "error" in raw:
        raise UserError(raw["error"])
    if out.returncode != 0 or "lrs" not in raw:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"the learning-rate finder failed: {last}")
    return Sweep(tuple(raw["lrs"]), tuple(raw["losses"]), tuple(raw["smoothed"]),
                 raw["suggested"], raw["diverged"])
