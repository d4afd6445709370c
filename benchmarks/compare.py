"""Figure 10: `tuitrain compare` on every preset whose data needs no network, each framework
in its own runner process as the command runs them; the rows are the command's own table
(`core.runs_index.compare_rows`), collected into BENCHMARKS.md."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, Figure, child_env, exact


def offline_presets() -> list[str]:
    from tuitrain.core.datainfo import dataset_info
    from tuitrain.core.presets import discover, load_spec

    names = []
    for name in sorted(discover()):
        spec = load_spec(name)
        if not dataset_info(spec.data, spec.task).needs_download:
            names.append(name)
    return names


def run_compare(presets: list[str], epochs: int) -> tuple[list[Figure], list[tuple[str, list]]]:
    from tuitrain.core.rundir import list_runs
    from tuitrain.core.runs_index import compare_rows

    tables = []
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in presets:
            runs_dir = Path(tmp, preset)
            cmd = [
                sys.executable,
                "-m",
                "tuitrain",
                "compare",
                "--preset",
                preset,
                "--epochs",
                str(epochs),
                "--runs-dir",
                str(runs_dir),
            ]
            r = subprocess.run(
                cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=1800
            )
            if r.returncode != 0:
                failed.append(f"{preset} (exit {r.returncode})")
            runs = sorted(list_runs(runs_dir), key=lambda run: run.id)
            tables.append((preset, compare_rows(runs)))
    ok = not failed
    fig = exact(
        "10",
        "tuitrain compare on every offline preset",
        float(len(presets)),
        "all complete",
        ok,
        " presets",
        f"{epochs} epoch(s) each, torch/tensorflow/keras; "
        + ("all completed" if ok else "failed: " + ", ".join(failed)),
    )
    return [fig], tables
