"""Finding a run among many (`--only runs`): a runs folder of 10,000 generated run folders,
10 of them live (their locks held by a helper process, as their runners would), opened in
the runs screen (Textual's test driver, 160x48) by fresh processes: the first with no
index file yet (cold), the others with the index the first one wrote (warm), each timed from
showing the screen to its table listing the runs; and `tuitrain runs --filter ... --sort
-best` over the same folder. The parent (`python -m benchmarks.runs_screen`) prints one
JSON line."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks.common import ROOT, child_env, emit
from tuitrain.core.run_listing import INDEX_FILE

PRESETS = ("mlp-moons", "cnn-digits", "mlp-digits", "lstm-sine")
FRAMEWORKS = ("torch", "tensorflow", "keras")
HOLDER = textwrap.dedent("""
    import sys, time
    from tuitrain.core.liveness import Lock
    locks = [Lock(__import__("pathlib").Path(p)).acquire() for p in sys.argv[1:]]
    print("held", flush=True)
    time.sleep(3600)
""")


def generate(runs: Path, count: int, live: int) -> list[Path]:
    """`count` run folders (a config, a summary, a checkpoints folder), the first `live` of
    them `running`; returns those runs' lock files."""
    from tuitrain.core.presets import load_spec
    from tuitrain.core.rundir import RunDir

    config = {p: "" for p in PRESETS}
    for preset in PRESETS:
        made = RunDir.create(runs.parent / "templates", load_spec(preset))
        config[preset] = made.config.read_text()
    locks = []
    for i in range(count):
        preset, framework = PRESETS[i % 4], FRAMEWORKS[i % 3]
        folder = runs / f"2026{i // 86400 + 101:04d}-{i // 3600 % 24:02d}{i // 60 % 60:02d}" \
                        f"{i % 60:02d}-{preset}-{framework}"
        (folder / "checkpoints").mkdir(parents=True)
        (folder / "config.toml").write_text(config[preset])
        status = "running" if i < live else ("completed", "stopped", "failed", "completed")[i % 4]
        (folder / "summary.json").write_text(json.dumps({
            "run_id": folder.name, "preset": preset, "framework": framework, "status": status,
            "epochs_completed": 10, "epochs": 20, "monitor": "val_accuracy",
            "best_value": (i * 7919 % 1000) / 1000, "best_epoch": 7, "device": "cpu",
            "started": 1767225600 + 60 * i, "metrics": {"val_accuracy": 0.5}}, indent=2))
        if i < live:
            locks.append(folder / "runner.lock")
    return locks


def open_screen(runs: Path, expect: int) -> float:
    """In this process: the app settled on its first screen, then the runs screen shown;
    seconds until its table lists `expect` rows."""
    from tuitrain.ui.app import TuitrainApp
    from tuitrain.ui.widgets.runs_table import RunsTable

    filled: list[float] = []  # when the table first listed the runs (polling would steal
    show_rows = RunsTable.show_rows  # the interpreter lock from the scan it waits for)

    def noted(table: RunsTable, rows: list) -> None:
        show_rows(table, rows)
        if table.row_count == expect and not filled:
            filled.append(time.perf_counter())

    RunsTable.show_rows = noted  # type: ignore[method-assign]

    async def main() -> float:
        app = TuitrainApp(runs)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause(2.0)
            t0 = time.perf_counter()
            app.show("runs")
            while not filled:
                await pilot.pause(0.1)
            await pilot.pause(0.1)  # the frame that shows them
            return filled[0] - t0

    return asyncio.run(main())


def timed_child(runs: Path, expect: int) -> float:
    out = subprocess.run([sys.executable, "-m", "benchmarks.runs_screen", "--open", str(runs),
                          "--expect", str(expect)], cwd=ROOT, env=child_env(),
                         capture_output=True, text=True, timeout=300, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--live", type=int, default=10)
    ap.add_argument("--opens", type=int, default=9, help="warm opens (a median needs 5)")
    ap.add_argument("--open", type=Path, help=argparse.SUPPRESS)  # the child's part
    ap.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.open is not None:
        print(open_screen(a.open, a.expect))
        return
    from tuitrain.ui.screens.runs import MAX_SHOWN

    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        locks = generate(runs, a.runs, a.live)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, *map(str, locks)],
                                  cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            expect = min(a.runs, MAX_SHOWN)
            cold = timed_child(runs, expect)
            assert (runs / INDEX_FILE).exists(), "the first open wrote no index"
            warm = [timed_child(runs, expect) for _ in range(a.opens)]
            cli = []
            for _ in range(3):
                t0 = time.perf_counter()
                listed = subprocess.run(
                    [sys.executable, "-m", "tuitrain", "runs", "--runs-dir", str(runs),
                     "--filter", "status=running", "--sort", "-best"], cwd=ROOT, env=child_env(),
                    capture_output=True, text=True, check=True)
                cli.append(time.perf_counter() - t0)
            found = len(listed.stdout.strip().splitlines()) - 1
        finally:
            holder.kill()
    emit({"cold": cold, "warm": warm, "cli": cli, "live_found": found, "runs": a.runs,
          "shown": expect})


if __name__ == "__main__":
    main()
