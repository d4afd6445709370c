"""Learning-rate schedules: pure functions of (epoch, step) with the documented shapes, and
reduce-on-plateau's state, which checkpoints carry."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from tuitrain.core.schedule import LrSchedule
from tuitrain.core.spec import OptimizerSpec, ScheduleSpec

LR = 0.1


def schedule(name: str, epochs: int = 10, steps: int = 5, **kw: object) -> LrSchedule:
    return LrSchedule.build(ScheduleSpec(name, **kw), OptimizerSpec(lr=LR), epochs, steps)  # type: ignore[arg-type]


def curve(s: LrSchedule) -> list[float]:
    return [s.lr_at(e, k) for e in range(s.epochs) for k in range(s.steps_per_epoch)]


def test_constant() -> None:
    s = schedule("constant")
    assert set(curve(s)) == {LR} and not s.per_step


def test_step() -> None:
    s = schedule("step", epochs=7, step_size=3, gamma=0.5)
    assert [s.lr_at(e, 0) for e in range(7)] == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    )
    assert s.lr_at(4, 3) == s.lr_at(4, 0) and not s.per_step


def test_cosine() -> None:
    s = schedule("cosine", epochs=4, steps=10, min_lr=0.001)
    values = curve(s)
    assert s.per_step and values[0] == pytest.approx(LR)
    assert s.lr_at(2, 0) == pytest.approx((LR + 0.001) / 2)
    assert s.lr_at(4, 0) == pytest.approx(0.001)  # the end of training
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_one_cycle_shape() -> None:
    s = schedule("one-cycle", epochs=10, steps=10, pct_start=0.3)
    values = curve(s)
    peak = max(range(len(values)), key=values.__getitem__)
    assert values[0] == pytest.approx(LR / 25)
    assert peak == 30 and values[peak] == pytest.approx(LR)
    assert all(a <= b for a, b in itertools.pairwise(values[: peak + 1]))
    assert all(a >= b for a, b in itertools.pairwise(values[peak:]))
    assert s.lr_at(10, 0) == pytest.approx(LR / 1e4)
    assert s.per_step


def test_reduce_on_plateau() -> None:
    s = schedule("reduce-on-plateau", patience=2, factor=0.5, min_lr=0.02)
    assert not s.per_step
    for value in (1.0, 0.9, 0.95, 0.95):  # improve, improve, 2 bad epochs = patience: no cut
        s.epoch_end(value, "min")
    assert s.lr_at(4, 0) == LR
    s.epoch_end(0.91, "min")  # the third bad epoch: cut
    assert s.lr_at(5, 0) == pytest.approx(0.05)
    s.epoch_end(float("nan"), "min")  # non-finite values are ignored
    s.epoch_end(None, "min")
    assert s.state["bad"] == 0
    for _ in range(9):
        s.epoch_end(2.0, "min")
    assert s.lr_at(9, 0) == pytest.approx(0.02)  # floored at min_lr


def test_reduce_on_plateau_max_mode() -> None:
    s = schedule("reduce-on-plateau", patience=0, factor=0.1)
    s.epoch_end(0.5, "max")
    s.epoch_end(0.6, "max")
    assert s.lr_at(2, 0) == LR
    s.epoch_end(0.55, "max")
    assert s.lr_at(3, 0) == pytest.approx(LR * 0.1)


def test_plateau_state_survives_a_checkpoint() -> None:
    """The state goes through JSON in the checkpoint manifest; a restored schedule goes on
    exactly like the original."""
    a = schedule("reduce-on-plateau", patience=1)
    for v in (1.0, 1.1, 1.2, 1.3):
        a.epoch_end(v, "min")
    b = schedule("reduce-on-plateau", patience=1)
    b.state.update(json.loads(json.dumps(a.state)))
    for v in (1.4, 0.5, 0.6, 0.7):
        a.epoch_end(v, "min")
        b.epoch_end(v, "min")
        assert a.lr_at(0, 0) == b.lr_at(0, 0)
    fresh = schedule("reduce-on-plateau")
    assert json.loads(json.dumps(fresh.state))["best"] == math.inf


def test_schedules_are_pure_functions_of_position() -> None:
    for name in ("constant", "step", "cosine", "one-cycle"):
        a, b = schedule(name), schedule(name)
        assert curve(a) == curve(b)
        assert a.lr_at(7, 3) == b.lr_at(7, 3)
