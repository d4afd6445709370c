"""The learning-rate finder (core/lr_find.py, `tuitrain lr-find`, ctrl+l on the setup
screen): the rates it sweeps, the smoothing and the suggestion, the driver on an engine whose
loss follows the rate, and the real thing in PyTorch; bad ranges are one line."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import FRAMEWORK_PARAMS, assert_one_line_error, run_cli
from test_trainer import make_spec

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.lr_find import LrFinder, Sweep, rates, smooth, suggest
from tuitrain.core.rundir import RunDir


def test_rates_smoothing_and_suggestion() -> None:
    lrs = rates(1e-6, 1.0, 61)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1.0)
    assert np.allclose(np.diff(np.log10(lrs)), 0.1)
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # bias-corrected
    # a loss that falls fastest at 1e-3 and blows up past 1e-1
    losses = [1 / (1 + math.exp(4 * (math.log10(lr) + 3))) + max(0.0, math.log10(lr) + 1) ** 2
              for lr in lrs]
    best = suggest(list(lrs), losses)
    assert best is not None and 3e-4 < best < 3e-3
    assert suggest(list(lrs), [1.0] * len(lrs)) is None  # flat: nothing to suggest
    assert suggest(list(lrs)[:5], losses[:5]) is None


class RateEngine:
    """Each step's loss depends on its learning rate alone: it falls fastest at 1e-3, and
    past a rate of 1 it is infinite."""

    def __init__(self) -> None:
        self.slots = np.zeros(64)
        self.lrs: list[float] = []

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        pass

    def train_steps(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        for i, lr in enumerate(lrs):
            self.lrs.append(float(lr))
            falling = 1 / (1 + math.exp(4 * (math.log10(lr) + 3)))
            self.slots[slot + i] = falling + 0.1 if lr < 1 else math.inf

    def read_slots(self, n: int) -> dict[str, np.ndarray]:
        return {"loss": self.slots[:n].copy()}

    def evaluate(self, split: str) -> dict[str, float]:
        return {"loss": 1.0}

    def snapshot(self) -> Callable[[Path], None]:
        return lambda path: path.write_text("")


def test_the_driver_sweeps_the_rates_and_stops_when_the_loss_diverges(tmp_path: Path) -> None:
    spec = make_spec(epochs=1, log_every=8)
    run = RunDir.create(tmp_path, spec)
    finder = LrFinder(spec, run, 10, CheckpointStore(run.checkpoints, ".fake"))
    finder.start, finder.end, finder.steps = 1e-6, 100.0, 81
    engine = RateEngine()
    finder.begin(engine, "cpu", "fake", 3, {})  # type: ignore[arg-type]
    assert finder.fit() == "completed"
    result = finder.result
    assert isinstance(result, Sweep) and result.diverged
    assert engine.lrs == pytest.approx(list(rates(1e-6, 100.0, 81))[:len(engine.lrs)])
    assert len(engine.lrs) < 81  # it stopped at the first infinite loss's block
    assert all(math.isfinite(v) for v in result.losses) and max(result.lrs) < 1
    assert result.suggested is not None and 3e-4 < result.suggested < 1e-2  # the EMA lags


def test_bad_ranges_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("lr-find", "-p", "mlp-moons", "--steps", "5",
                                  runs_dir=tmp_path), "--steps 5: the finder needs 10 or more")
    assert_one_line_error(run_cli("lr-find", "-p", "mlp-moons", "--start", "1", "--end", "0.1",
                                  runs_dir=tmp_path), "need 0 < start < end")
    assert_one_line_error(run_cli("lr-find", runs_dir=tmp_path), "lr-find needs --preset")


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_lr_find_suggests_a_rate_in_each_framework(tmp_path: Path, framework: str) -> None:
    out = run_cli("lr-find", "-p", "mlp-moons", "-f", framework, "--steps", "80",
                  runs_dir=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("suggested learning rate"))
    rate = float(line.split()[3])
    assert 1e-4 < rate < 1.0
    assert f"--lr {rate:.3g}" in out.stdout
    assert not list(tmp_path.glob("*"))  # nothing left in the runs folder


def test_a_split_smaller_than_one_batch_is_one_line(tmp_path: Path) -> None:
    from tuitrain.core.errors import UserError

    spec = make_spec(epochs=1, batch_size=32)
    run = RunDir.create(tmp_path, spec)
    finder = LrFinder(spec, run, 10, CheckpointStore(run.checkpoints, ".fake"))
    finder.begin(RateEngine(), "cpu", "fake", 3, {})  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"training split \(10 samples\) is smaller than one "
                                        r"batch \(32\); use --batch-size 10 or less"):
        finder.fit()
