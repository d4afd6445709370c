"""Figures 3-8 from child processes: the dashboard in a pty next to a live run, plot cost,
opening a long run, and time to first frame."""

from __future__ import annotations

import math

from benchmarks.common import Figure, exact, judged, median, run_child
from benchmarks.stats import Target, quantile

# A regression alarm, as for the engine: next to a full-speed run on this 2-vCPU machine the
# dashboard (14% of a core) costs the runner 0-5%, and windows vary by +-10% (this VM's
# own speed moves over seconds): many short windows, rotating, for a narrow interval.
ATTACHED = Target(">=", 0.90)
# Budgets in ms, % of a core and KiB/s, as measured by this harness (all threads, from
# schedstat; windows next to a full-speed mlp-digits run). The earlier budgets (10% live,
# 1% idle, 50 ms p95, 32 KiB/s) were set from a coarser harness that read lower: the same
# dashboard at the 2026-11-24 commit measures the same 11-13% here. A bare Textual app
# that only repaints numbers uses 8.5-10% live and 1.5% idle on this machine.
CPU_LIVE = Target("<=", 20.0)
CPU_VS_BARE = Target("<=", 2.25)  # a gross-regression guard; 1.4-1.8x measured
CPU_IDLE = Target("<=", 2.5)
# The p95 of 100 presses is 45-67 ms here, and its interval's upper end (the 2nd slowest
# press) reached 129 ms: this VM's own tails (the bare app's p95 is 57 ms). The ratio to the
# bare app below is the tight figure.
LATENCY_P95 = Target("<=", 150.0)
LATENCY_VS_BARE = Target("<=", 2.0)  # 1.4-1.7x measured
BYTES = Target("<=", 40.0)  # 23-34 KiB/s per 2 s window (1 or 2 plot redraws)
RENDER = Target("<=", 15.0)
GROWTH = Target("<=", 1.5)
OPEN_S = Target("<=", 4.0)
RSS_MB = Target("<=", 300.0)
FIRST_FRAME = Target("<=", 1.75)  # the setup screen: list, form and model table; 1.4-1.5x


def ratio(a: float, b: float) -> float:
    """a / b; NaN (a window without a value, left out of the interval) when b is 0."""
    return a / b if b > 0 else math.nan


def window_ratio(x: dict) -> float:
    """Attached / headless steps/s of one round over whole windows (epoch ends included)."""
    return ratio(x["dashboard"]["window_rate"], x["headless"]["window_rate"])


def live_figures(quick: bool) -> list[Figure]:
    args = (
        ["--rounds", "40", "--window", "1", "--presses", "100", "--idle-windows", "8"]
        if quick
        else ["--rounds", "60", "--window", "1", "--presses", "160", "--idle-windows", "12"]
    )
    r = run_child("ui_live", *args, timeout=900)
    rounds, lat, idle = r["rounds"], r["latency"], r["idle"]
    dash = [x["dashboard"]["dashboard"] for x in rounds]
    both = [x["both"] for x in rounds if "both" in x]
    rate_h = median([x["headless"]["rate"] for x in rounds])
    n, w = len(rounds), r["window_s"]
    dash_ms, bare_ms = [1e3 * t for t in lat["dashboard"]], [1e3 * t for t in lat["bare"]]
    keys = lat["keys"]
    by_key = ", ".join(
        f"{k} median {median([t for t, key in zip(dash_ms, keys, strict=True) if key == k]):.0f} ms"
        for k in ("?", "m")
    )
    return [
        judged(
            "3",
            "steps/s with dashboard attached / headless",
            [ratio(x["dashboard"]["rate"], x["headless"]["rate"]) for x in rounds],
            ATTACHED,
            "x",
            f"headless {rate_h:.0f} steps/s, attached "
            f"{median([x['dashboard']['rate'] for x in rounds]):.0f} steps/s (medians of the "
            f"log intervals; {n} rounds of {w} s windows, mlp-digits, 160x48 pty); whole "
            f"windows with epoch ends: "
            f"{median([window_ratio(x) for x in rounds]):.3f}x",
        ),
        judged(
            "4.live",
            "dashboard CPU while training at full speed",
            [100 * d["cpu"] for d in dash],
            CPU_LIVE,
            "% core",
            "one core = 100%; per window with the dashboard alone; with the bare Textual app "
            f"beside it: dashboard {100 * median([b['dashboard']['cpu'] for b in both]):.1f}%, "
            f"bare app {100 * median([b['bare']['cpu'] for b in both]):.1f}%; RSS "
            f"{max(d['rss_mb'] for d in dash):.0f} MB",
        ),
        judged(
            "4.ratio",
            "dashboard CPU / bare Textual app CPU, live",
            [ratio(b["dashboard"]["cpu"], b["bare"]["cpu"]) for b in both],
            CPU_VS_BARE,
            "x",
            "both apps running in the same windows (same run, same load); the bare app tails "
            "the run and repaints its latest values at 10 Hz",
        ),
        judged(
            "4.idle",
            "dashboard CPU on a finished run (idle)",
            [100 * c for c in idle["dashboard"]],
            CPU_IDLE,
            "% core",
            f"1 s windows after 5 s settling; bare Textual app {100 * median(idle['bare']):.2f}%",
        ),
        judged(
            "5.p95",
            "key latency p95 under training load",
            dash_ms,
            LATENCY_P95,
            " ms",
            f"{len(dash_ms)} presses of `?` and `m`; median {median(dash_ms):.0f} ms, max "
            f"{max(dash_ms):.0f} ms; by key: {by_key}",
            q=0.95,
        ),
        judged(
            "5.ratio",
            "key latency / bare Textual app, under load",
            [d / b for d, b in zip(dash_ms, bare_ms, strict=True)],
            LATENCY_VS_BARE,
            "x",
            f"the n-th press of the same key in each app, blocks alternating; bare app median "
            f"{median(bare_ms):.0f} ms, p95 {quantile(bare_ms, 0.95):.0f} ms",
        ),
        judged(
            "7",
            "bytes to the terminal at steady state",
            [d["bytes_per_s"] / 1024 for d in dash],
            BYTES,
            " KiB/s",
            "default dashboard (4 plots, panels, table) at 160x48 while training; bare app "
            f"{median([b['bare']['bytes_per_s'] for b in both]) / 1024:.1f} KiB/s",
        ),
    ]


def plot_figures(quick: bool) -> list[Figure]:
    sizes = "1000,100000,1000000" if quick else "1000,10000,100000,1000000,10000000"
    r = run_child("plots", "render", "--sizes", sizes, "--reps", "40" if quick else "100")
    base = r["1000"]["ms"]
    worst = max(r.values(), key=lambda v: median(v["ms"]))
    growth_n = max(r, key=lambda n: median([a / b for a, b in zip(r[n]["ms"], base, strict=True)]))
    out = [
        judged(
            "6.render",
            "one full-screen plot render, worst size",
            worst["ms"],
            RENDER,
            " ms",
            "158x40 loss plot; medians "
            + ", ".join(f"{int(n):,} pts {median(v['ms']):.1f} ms" for n, v in r.items())
            + f"; history memory {worst['history_mb']:.2f} MB at every size",
        ),
        judged(
            "6.growth",
            "plot render: largest history / 1k points",
            [a / b for a, b in zip(r[growth_n]["ms"], base, strict=True)],
            GROWTH,
            "x",
            f"worst at {int(growth_n):,} points; renders of the sizes interleaved",
        ),
    ]
    o = run_child("plots", "open", "--reps", "9" if quick else "13", timeout=900)
    out += [
        judged(
            "6.open",
            "open a 1,000,000-step run (to last step plotted)",
            o["t_big"],
            OPEN_S,
            " s",
            f"{o['log_mb']:.0f} MB metrics.jsonl, one batch event per step; a 1,000-step "
            f"run opens in {o['open_small_s']:.2f} s (median, interleaved)",
        ),
        judged(
            "6.rss",
            "dashboard peak RSS opening it",
            o["rss_mb"],
            RSS_MB,
            " MB",
            "VmHWM of the dashboard process, per opening",
        ),
    ]
    return out


def startup_figures(quick: bool) -> list[Figure]:
    r = run_child("startup", "--reps", "20" if quick else "30")
    fw = r["frameworks"]
    return [
        judged(
            "8",
            "time to first frame: tuitrain / bare Textual app",
            [a / b for a, b in zip(r["tuitrain"], r["bare"], strict=True)],
            FIRST_FRAME,
            "x",
            f"tuitrain {r['tuitrain_s']:.2f} s, bare app {r['bare_s']:.2f} s (medians, "
            f"{len(r['bare'])} pairs of interleaved launches, 160x48 pty, bytecode cached "
            f"as installed; {len(r['lost_sync'])} launches without synchronized output "
            "made again)",
        ),
        exact(
            "8.imports",
            "ML frameworks imported by the first screen",
            len(fw),
            "== 0",
            not fw,
            "",
            ", ".join(fw) or "none of torch, tensorflow, keras, jax",
        ),
    ]
