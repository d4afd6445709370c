"""Figures 3-8 from child processes: the dashboard in a pty next to a live run, plot cost,
opening a long run, and time to first frame."""

from __future__ import annotations

from benchmarks.common import Figure, run_child

RENDER_MS = 15.0


def live_figures(quick: bool) -> list[Figure]:
    args = ["--reps", "6", "--presses", "14"] if quick else ["--reps", "16", "--presses", "40"]
    r = run_child("ui_live", *args, timeout=900)
    n = len(r["pairs"])
    return [
        Figure("3", "steps/s with dashboard attached / headless", r["ratio"], ">= 0.95",
               r["ratio"] >= 0.95, "x",
               f"headless {r['headless_rate']:.0f} steps/s, attached {r['attached_rate']:.0f} "
               f"steps/s (medians; {n} alternating pairs of {r['window_s']} s windows, mlp-digits, "
               "160x48 pty)"),
        Figure("4.live", "dashboard CPU while training at full speed", 100 * r["cpu_live"],
               "<= 10%", r["cpu_live"] <= 0.10, "% core",
               f"one core = 100%; median over the attached windows; RSS {r['rss_mb']:.0f} MB"),
        Figure("4.idle", "dashboard CPU on a finished run (idle)", 100 * r["cpu_idle"],
               "<= 1%", r["cpu_idle"] <= 0.01, "% core", "after 3 s settling, one 6 s window"),
        Figure("5.p95", "key latency p95 under training load", 1e3 * r["latency_p95"],
               "<= 50 ms", r["latency_p95"] <= 0.05, " ms",
               f"{r['presses']} presses of `?` and `m`; median {1e3 * r['latency_median']:.0f} ms;"
               " by key: " + ", ".join(f"{k} median {1e3 * v['median']:.0f} ms max "
                                       f"{1e3 * v['max']:.0f} ms"
                                       for k, v in r["latency_by_key"].items())),
        Figure("5.max", "key latency max under training load", 1e3 * r["latency_max"],
               "<= 100 ms", r["latency_max"] <= 0.1, " ms", "same presses"),
        Figure("7", "bytes to the terminal at steady state", r["bytes_per_s"] / 1024,
               "<= 32 KiB/s", r["bytes_per_s"] <= 32 * 1024, " KiB/s",
               "default dashboard (4 plots, panels, table) at 160x48 while training; idle: "
               f"{r['bytes_idle'] / 1024:.2f} KiB/s"),
    ]


def plot_figures(quick: bool) -> list[Figure]:
    sizes = "1000,100000,1000000" if quick else "1000,10000,100000,1000000,10000000"
    r = run_child("plots", "render", "--sizes", sizes, "--reps", "5" if quick else "9")
    base = r["1000"]["ms"]
    worst_n, worst = max(r.items(), key=lambda kv: kv[1]["ms"])
    out = [Figure("6.render", "one full-screen plot render, worst size", worst["ms"],
                  f"<= {RENDER_MS:g} ms", worst["ms"] <= RENDER_MS, " ms",
                  "158x40 loss plot; " + ", ".join(f"{int(n):,} pts {v['ms']:.1f} ms"
                                                   for n, v in r.items())
                  + f"; history memory {worst['history_mb']:.2f} MB at every size"),
           Figure("6.growth", "plot render: largest history / 1k points",
                  worst["ms"] / base, "<= 1.5x", worst["ms"] / base <= 1.5, "x",
                  f"worst at {int(worst_n):,} points")]
    o = run_child("plots", "open", "--reps", "1" if quick else "3", timeout=900)
    out += [Figure("6.open", "open a 1,000,000-step run (to last step plotted)", o["open_s"],
                   "<= 3 s", o["open_s"] <= 3.0, " s",
                   f"{o['log_mb']:.0f} MB metrics.jsonl, one batch event per step; a 1,000-step "
                   f"run opens in {o['open_small_s']:.2f} s"),
            Figure("6.rss", "dashboard peak RSS opening it", o["peak_rss_mb"], "<= 300 MB",
                   o["peak_rss_mb"] <= 300, " MB", "VmHWM of the dashboard process")]
    return out


def startup_figures(quick: bool) -> list[Figure]:
    r = run_child("startup", "--reps", "4" if quick else "9")
    fw = r["frameworks"]
    return [Figure("8", "time to first frame: tuitrain / bare Textual app", r["ratio"],
                   "<= 1.5x", r["ratio"] <= 1.5, "x",
                   f"tuitrain {r['tuitrain_s']:.2f} s, bare app {r['bare_s']:.2f} s (medians, "
                   f"{len(r['bare'])} interleaved launches, 160x48 pty, bytecode cached as "
                   f"installed; {len(r['lost_sync'])} launches without synchronized output "
                   "made again)"),
            Figure("8.imports", "ML frameworks imported by the first screen", len(fw), "== 0",
                   not fw, "", ", ".join(fw) or "none of torch, tensorflow, keras, jax")]
