"""The suite's statistics: a confidence interval per figure, the verdict rule, and the
summaries of repeated runs. Pure functions of numbers (no timing, no I/O), unit-tested in
tests/test_bench_stats.py.

Interval: every judged figure is a quantile (the median, or the 95th percentile for key
latency) of per-repetition values: ratios of interleaved A/B repetitions, or absolute values
(ms, % of a core, KiB/s) from repeated windows. Its interval is the distribution-free
order-statistic interval [x_(l), x_(u)] of the sorted values, with l and u chosen from the
binomial distribution so that each side misses the true quantile with probability at most
5% (a 90% two-sided interval, 95% on the side a verdict rests on). It assumes nothing about
the shape of the noise (load bursts give heavy tails) and uses no random numbers, so the same
values always give the same verdict. Too few values for a side give an unbounded side
(-inf or inf): e.g. a median needs at least 5 values, a 95th percentile's upper side 59.

Verdict: PASS when the whole interval is on the right side of the target, FAIL when the whole
interval is on the wrong side, "inconclusive" otherwise (counted as not PASS)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Op = Literal[">=", "<="]
Verdict = Literal["PASS", "FAIL", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("PASS", "FAIL", "inconclusive")
ALPHA_PER_SIDE = 0.05  # each side of the interval misses with probability at most this


@dataclass(frozen=True)
class Target:
    """`value OP bound`: where a figure must lie."""

    op: Op
    bound: float


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def finite(values: Iterable[float]) -> list[float]:
    """The values that were measured (a window without data gives NaN), sorted."""
    return sorted(v for v in values if math.isfinite(v))


def quantile(values: Sequence[float], q: float) -> float:
    """The point estimate: the median for q = 0.5 (the mean of the middle two of an even
    count), otherwise the order statistic x_(ceil(q*n))."""
    xs = finite(values)
    if not xs:
        return math.nan
    n = len(xs)
    if q == 0.5:
        mid = n // 2
        return xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2
    return xs[max(0, math.ceil(q * n) - 1)]


def quantile_interval(
    values: Sequence[float], q: float = 0.5, alpha_per_side: float = ALPHA_PER_SIDE
) -> Interval:
    """The order-statistic confidence interval of the q-quantile (see the module docstring).

    P(x_(l) > true quantile) = P(Binomial(n, q) <= l - 1): l is the largest rank keeping that
    at most alpha_per_side; u is the smallest rank with P(Binomial(n, q) <= u - 1) at least
    1 - alpha_per_side."""
    xs = finite(values)
    n = len(xs)
    lo, hi = -math.inf, math.inf
    for rank in range(n, 0, -1):
        if binom_cdf(rank - 1, n, q) <= alpha_per_side:
            lo = xs[rank - 1]
            break
    for rank in range(1, n + 1):
        if binom_cdf(rank - 1, n, q) >= 1 - alpha_per_side:
            hi = xs[rank - 1]
            break
    return Interval(lo, hi)


def verdict(interval: Interval, target: Target) -> Verdict:
    """PASS: the interval clears the target; FAIL: it misses it entirely; else inconclusive."""
    if target.op == ">=":
        if interval.lo >= target.bound:
            return "PASS"
        return "FAIL" if interval.hi < target.bound else "inconclusive"
    if interval.hi <= target.bound:
        return "PASS"
    return "FAIL" if interval.lo > target.bound else "inconclusive"


# ----- repeated runs ---------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    """One figure over repeated runs of the suite."""

    low: float
    mid: float
    high: float
    verdicts: tuple[tuple[str, int], ...]  # each verdict seen, with its count, most first


def spread(values: Sequence[float], verdicts: Sequence[str]) -> Spread:
    """Min, median and max of a figure's values over the runs, and how its verdicts agreed
    (a verdict is PASS, FAIL, inconclusive, or "not measured")."""
    xs = finite(values)
    counts = Counter(verdicts)
    rank = {v: i for i, v in enumerate(VERDICTS)}
    order = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], rank.get(kv[0], len(rank)))))
    if not xs:
        return Spread(math.nan, math.nan, math.nan, order)
    return Spread(xs[0], quantile(xs, 0.5), xs[-1], order)


def apart(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> bool:
    """Whether every interval of `a` lies wholly on one side of every interval of `b` (the
    same side for all): two sets of runs that noise alone could not have given."""
    if not a or not b:
        return False
    return max(hi for _, hi in a) < min(lo for lo, _ in b) or max(hi for _, hi in b) < min(
        lo for lo, _ in a
    )


def self_test_problems(
    clean: Sequence[dict[str, str]], slowed: Sequence[dict[str, str]], planted: set[str]
) -> list[str]:
    """What the self-test found wrong, one line each (empty: it passed).

    `clean` and `slowed` hold each run's verdict per figure id, without and with the planted
    slowdown; `planted` names the figures that slowdown must turn to FAIL. Without it, every
    figure gives the same conclusive verdict (PASS or FAIL) in every run, and a planted figure
    PASS (a FAIL with the slowdown would prove nothing otherwise). With it, every planted
    figure is FAIL in every run."""
    problems = []
    for fid in sorted({f for run in clean for f in run} | planted):
        seen = [run.get(fid, "not measured") for run in clean]
        wanted = {"PASS"} if fid in planted else {"PASS", "FAIL"}
        if len(set(seen)) != 1 or seen[0] not in wanted:
            problems.append(
                f"{fid}: without the slowdown {', '.join(seen)} (wanted the same "
                f"{' or '.join(sorted(wanted))} in all {len(seen)} runs)"
            )
    for fid in sorted(planted):
        seen = [run.get(fid, "not measured") for run in slowed]
        if any(v != "FAIL" for v in seen):
            problems.append(
                f"{fid}: with the slowdown {', '.join(seen)} (wanted FAIL in all {len(seen)} runs)"
            )
    return problems
