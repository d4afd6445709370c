"""tuitrain's performance suite: `python benchmarks/run.py [--quick] [--only 1,3,...]`.

Prints one line per figure (name, value, target, PASS/FAIL). The full run (no --quick) also
writes BENCHMARKS.md with the machine, versions, date, every figure and the framework
comparison. Every figure is measured side by side in this one command: a ratio against a
baseline run interleaved with it (alternating repetitions, medians), or, where the issue sets
an absolute budget (ms, MB, KiB/s), the measured value with its baseline printed beside it.
Frameworks run in child processes (torch and TensorFlow never share one)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import compare, engines, ui
from benchmarks.common import ROOT, Figure, machine

NOTE = ("Ratios are robust to a busy machine (both sides share the load); absolute budgets "
        "(ms, s) are not: on a shared 2-core machine they swing up to 2x between runs.")

GROUPS = [  # (figure numbers, title, function)
    ("1", "engine overhead, PyTorch", engines.torch_figures),
    ("2", "host syncs, PyTorch", engines.sync_figure),
    ("1,9", "engine overhead, TensorFlow and Keras", engines.tf_figures),
    ("3,4,5,7", "dashboard next to a live run", ui.live_figures),
    ("6", "plots and long runs", ui.plot_figures),
    ("8", "start-up", ui.startup_figures),
]


def selected(keys: str, only: set[str] | None) -> bool:
    return only is None or bool(set(keys.split(",")) & only)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (about 3 minutes)")
    ap.add_argument("--only", help="comma-separated figure numbers, e.g. 1,3")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md",
                    help="report file (full runs only)")
    ap.add_argument("--compare-epochs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    started = time.time()
    figures: list[Figure] = []
    for keys, title, fn in GROUPS:
        if not selected(keys, only):
            continue
        t0 = time.perf_counter()
        try:
            got = fn(a.quick)
        except Exception as exc:  # one broken group must not hide the others
            got = [Figure(keys, f"{title}: not measured", None, "-", False, "",
                          f"{type(exc).__name__}: {str(exc)[-400:]}")]
            traceback.print_exc(file=sys.stderr)
        for f in got:
            print(f.line(), flush=True)
        print(f"     ({title}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        figures.extend(got)
    tables = []
    if not a.quick and selected("10", only):
        presets = compare.offline_presets()
        got, tables = compare.run_compare(presets, a.compare_epochs)
        for f in got:
            print(f.line(), flush=True)
        figures.extend(got)
    passed = sum(f.passed is True for f in figures)
    print(f"{passed}/{len(figures)} figures pass ({time.time() - started:.0f} s)")
    if a.json:
        a.json.write_text(json.dumps([f.to_json() for f in figures], indent=2))
    if not a.quick:
        a.out.write_text(report(figures, tables, started, a.compare_epochs))
        print(f"wrote {a.out}")
    return 0


def report(figures: list[Figure], tables: list, started: float, compare_epochs: int) -> str:
    from tuitrain.core.runs_index import COMPARE_HEADER

    m = machine()
    date = datetime.datetime.fromtimestamp(started, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# tuitrain benchmarks", "",
           f"Written by `python benchmarks/run.py` on {date}, in {time.time() - started:.0f} s. "
           "Every figure is measured side by side in that one command (interleaved repetitions, "
           "medians); see `benchmarks/*.py` for exactly what each baseline does.", "",
           "## Machine", ""]
    out += [f"- {k}: {v}" for k, v in m.items()]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    out += ["- GPU: none (CPU figures only; no GPU figure is written unless measured)",
            f"- load average when the report was written (1, 5, 15 min): {load}", "",
            NOTE, "",
            "## Figures", "", "| # | figure | value | target | result | baseline / how |",
            "|---|---|---|---|---|---|"]
    for f in figures:
        value = "-" if f.value is None else f"{f.value:.4g}{f.unit}"
        verdict = {True: "PASS", False: "**FAIL**", None: "n/a"}[f.passed]
        detail = f.detail.replace("|", "\\|")
        out.append(f"| {f.key} | {f.name} | {value} | {f.target} | {verdict} | {detail} |")
    if tables:
        out += ["", "## Framework comparison (`tuitrain compare`)", "",
                f"Each offline preset, {compare_epochs} epoch(s) per framework, on this machine "
                "(runner default: math-library threads = cores - 1).", ""]
        for preset, rows in tables:
            out += [f"### {preset}", "", "| " + " | ".join(COMPARE_HEADER) + " |",
                    "|" + "---|" * len(COMPARE_HEADER)]
            out += ["| " + " | ".join(r) + " |" for r in rows]
            out.append("")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
