"""The benchmark suite's statistics (benchmarks/stats.py): intervals, the verdict rule, the
summaries of repeated runs and the self-test's criterion; and the planted slowdown's hooks
(tuitrain/core/slowdown.py). No timing is asserted: these are the rules, on fixed numbers."""

from __future__ import annotations

import math
import time

import pytest

from benchmarks import stats
from benchmarks.stats import Interval, Target
from tuitrain.core import slowdown
from tuitrain.core.errors import UserError

AT_LEAST = Target(">=", 0.97)
AT_MOST = Target("<=", 50.0)


# ----- intervals ----------------------------------------------------------------------------
def test_binom_cdf_matches_the_definition():
    assert stats.binom_cdf(0, 5, 0.5) == pytest.approx(1 / 32)
    assert stats.binom_cdf(2, 5, 0.5) == pytest.approx(0.5)
    assert stats.binom_cdf(-1, 5, 0.5) == 0.0
    assert stats.binom_cdf(5, 5, 0.5) == 1.0
    assert stats.binom_cdf(59, 60, 0.95) == pytest.approx(1 - 0.95**60)


@pytest.mark.parametrize(
    ("n", "lo", "hi"),
    [(5, 1, 5), (6, 1, 6), (10, 2, 9), (16, 5, 12), (25, 8, 18), (40, 15, 26)],
)
def test_median_interval_ranks(n, lo, hi):
    """Each side misses the median with probability <= 5%, and is the tightest rank that
    does: one rank further in would miss more often."""
    got = stats.quantile_interval([float(x) for x in range(1, n + 1)])
    assert (got.lo, got.hi) == (lo, hi)
    assert stats.binom_cdf(lo - 1, n, 0.5) <= 0.05 < stats.binom_cdf(lo, n, 0.5)
    assert stats.binom_cdf(hi - 2, n, 0.5) < 0.95 <= stats.binom_cdf(hi - 1, n, 0.5)


def test_too_few_values_leave_sides_open():
    assert stats.quantile_interval([1.0, 2.0, 3.0, 4.0]) == Interval(-math.inf, math.inf)
    # the 95th percentile's upper side needs 59 values: below that it stays open
    assert stats.quantile_interval([float(x) for x in range(58)], 0.95).hi == math.inf
    assert stats.quantile_interval([float(x) for x in range(59)], 0.95).hi == 58.0
    assert stats.quantile_interval([float(x) for x in range(100)], 0.95) == Interval(90.0, 98.0)


def test_interval_does_not_depend_on_order_and_ignores_unmeasured_values():
    xs = [3.0, 1.0, 5.0, 2.0, 4.0, 6.0]
    assert stats.quantile_interval(xs) == stats.quantile_interval(sorted(xs))
    assert stats.quantile_interval([*xs, math.nan, math.inf]) == stats.quantile_interval(xs)
    assert stats.quantile([*xs, math.nan], 0.5) == 3.5


def test_point_estimates():
    assert stats.quantile([1.0, 9.0, 3.0], 0.5) == 3.0
    assert stats.quantile([1.0, 2.0, 3.0, 10.0], 0.5) == 2.5
    assert stats.quantile([float(x) for x in range(1, 101)], 0.95) == 95.0
    assert math.isnan(stats.quantile([], 0.5))


# ----- the verdict rule ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lo", "hi", "target", "want"),
    [
        (0.98, 1.02, AT_LEAST, "PASS"),
        (0.97, 1.02, AT_LEAST, "PASS"),  # on the bound is on the right side
        (0.90, 0.96, AT_LEAST, "FAIL"),
        (0.95, 1.01, AT_LEAST, "inconclusive"),
        (0.95, 0.97, AT_LEAST, "inconclusive"),
        (-math.inf, math.inf, AT_LEAST, "inconclusive"),
        (-math.inf, 0.9, AT_LEAST, "FAIL"),
        (1.0, math.inf, AT_LEAST, "PASS"),
        (20.0, 45.0, AT_MOST, "PASS"),
        (20.0, 50.0, AT_MOST, "PASS"),
        (51.0, 90.0, AT_MOST, "FAIL"),
        (40.0, 60.0, AT_MOST, "inconclusive"),
        (40.0, math.inf, AT_MOST, "inconclusive"),
        (60.0, math.inf, AT_MOST, "FAIL"),
    ],
)
def test_verdict_rule(lo, hi, target, want):
    assert stats.verdict(Interval(lo, hi), target) == want


def test_noisy_values_around_the_target_are_inconclusive_not_flipped():
    """The issue's three quick runs of one figure (1.00, 0.967, 0.918 against >= 0.97): a
    run whose repetitions straddle the target must not PASS or FAIL."""
    straddling = [0.92, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.01, 1.03, 0.94]
    assert stats.verdict(stats.quantile_interval(straddling), AT_LEAST) == "inconclusive"
    clear = [0.99, 1.0, 1.01, 0.98, 1.02, 0.995, 1.005, 0.985, 1.015, 1.0]
    assert stats.verdict(stats.quantile_interval(clear), AT_LEAST) == "PASS"
    slowed = [x / 1.2 for x in clear]  # a 20% slower engine
    assert stats.verdict(stats.quantile_interval(slowed), AT_LEAST) == "FAIL"


# ----- repeated runs and the self-test -----------------------------------------------------
def test_spread_counts_verdicts_most_common_first():
    s = stats.spread([1.0, 0.9, 1.1, math.nan], ["PASS", "inconclusive", "PASS", "PASS"])
    assert (s.low, s.mid, s.high) == (0.9, 1.0, 1.1)
    assert s.verdicts == (("PASS", 3), ("inconclusive", 1))
    tie = stats.spread([1.0, 2.0], ["not measured", "FAIL", "PASS"])
    assert tie.verdicts == (("PASS", 1), ("FAIL", 1), ("not measured", 1))  # ties: rule order


def test_apart():
    assert stats.apart([(0.98, 1.02), (0.97, 1.01)], [(0.80, 0.85), (0.82, 0.86)])
    assert stats.apart([(0.80, 0.85)], [(0.98, 1.02)])
    assert not stats.apart([(0.98, 1.02), (0.84, 1.0)], [(0.80, 0.85)])
    assert not stats.apart([], [(0.8, 0.85)])


def test_self_test_passes_when_clean_runs_agree_and_planted_figures_fail():
    clean = [{"engine": "PASS", "ui": "PASS", "budget": "FAIL"}] * 5
    slowed = [{"engine": "FAIL", "ui": "FAIL", "budget": "FAIL"}] * 5
    assert stats.self_test_problems(clean, slowed, {"engine", "ui"}) == []


def test_self_test_names_each_problem():
    clean = [{"engine": "PASS", "ui": "PASS", "other": "PASS"}] * 4 + [
        {"engine": "PASS", "ui": "PASS", "other": "inconclusive"}
    ]
    slowed = [{"engine": "FAIL", "ui": "FAIL", "other": "PASS"}] * 4 + [
        {"engine": "inconclusive", "ui": "FAIL", "other": "PASS"}
    ]
    problems = stats.self_test_problems(clean, slowed, {"engine", "ui"})
    assert len(problems) == 2
    assert problems[0].startswith("other: without the slowdown PASS, PASS, PASS, PASS, inconc")
    assert problems[1].startswith("engine: with the slowdown FAIL, FAIL, FAIL, FAIL, inconc")


def test_self_test_wants_planted_figures_to_pass_without_the_slowdown():
    """A planted figure that fails anyway proves nothing when it fails with the slowdown."""
    clean = [{"engine": "FAIL"}] * 3
    slowed = [{"engine": "FAIL"}] * 3
    (problem,) = stats.self_test_problems(clean, slowed, {"engine"})
    assert "wanted the same PASS in all 3 runs" in problem


def test_self_test_counts_a_consistently_inconclusive_figure_as_a_problem():
    clean = [{"budget": "inconclusive"}] * 3
    (problem,) = stats.self_test_problems(clean, clean, set())
    assert problem.startswith("budget: without the slowdown inconclusive")


# ----- the planted slowdown (benchmark-only hooks) -------------------------------------------
def test_slowdown_factor_from_the_environment(monkeypatch):
    monkeypatch.delenv(slowdown.VARIABLE, raising=False)
    assert slowdown.factor() == 0.0
    monkeypatch.setenv(slowdown.VARIABLE, "0.2")
    assert slowdown.factor() == 0.2
    for bad in ("abc", "-0.1", "11"):
        monkeypatch.setenv(slowdown.VARIABLE, bad)
        with pytest.raises(UserError, match=rf"^{slowdown.VARIABLE} must be a number from 0"):
            slowdown.factor()


def test_spin_uses_cpu_time():
    t0 = time.thread_time()
    slowdown.spin(0.02)
    assert time.thread_time() - t0 >= 0.02


def test_trainer_spins_after_each_block_only_when_planted(monkeypatch, tmp_path):
    from test_trainer import FakeEngine, make_spec, make_trainer

    from tuitrain.core.rundir import RunDir

    spins: list[float] = []
    monkeypatch.setattr(slowdown, "spin", spins.append)
    for planted in ("", "0.2"):
        monkeypatch.setenv(slowdown.VARIABLE, planted)
        spec = make_spec(epochs=1)
        run = RunDir.create(tmp_path / (planted or "unset"), spec)
        trainer = make_trainer(run, spec, 16)
        engine = FakeEngine(spec)
        trainer.begin(engine, "cpu", "cpu", 1, {})
        assert trainer.train_epoch()
        if not planted:
            assert spins == []
    assert len(spins) == len(engine.blocks) > 0
    assert all(s >= 0 for s in spins)


# ----- the report --------------------------------------------------------------------------
def test_a_new_report_keeps_the_hand_written_sections_of_the_old_one():
    from benchmarks.run import KEPT, with_kept

    old = f"# old figures\n\n{KEPT}\n\n## Self-test record\n\n5 of 5.\n"
    once = with_kept("# new figures\n", old)
    assert once.startswith("# new figures\n")
    assert "old figures" not in once
    assert once.endswith(f"{KEPT}\n## Self-test record\n\n5 of 5.\n")
    assert with_kept("# new figures\n", once) == once  # stable over repeated runs
    assert with_kept("# first\n", "") == f"# first\n\n{KEPT}\n"
