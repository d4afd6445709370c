"""Child processes the runs screen starts, as plain functions (called from thread workers):
`tuitrain eval RUN`, which writes `eval.json`, `tuitrain export RUN`, and `tuitrain compare`,
which trains a preset once per framework. The UI process itself never imports a framework."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitrain.core.rundir import RunDir

COMPARE_LINE = re.compile(r"^== (\w+): (.+)$")
ERROR_PREFIX = "tuitrain: error: "


@dataclass(frozen=True)
class CompareJob:
    """A running comparison: its process, its output file, and what it compares."""

    proc: subprocess.Popen[bytes]
    log: Path
    preset: str
    frameworks: tuple[str, ...]


def _env() -> dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1].removeprefix(ERROR_PREFIX) if lines else ""


def export(run: RunDir) -> tuple[bool, str]:
    """Run `tuitrain export` on `run` in its default format: (True, where it wrote and the
    model's inputs and outputs) or (False, why)."""
    cmd = [sys.executable, "-m", "tuitrain", "export", str(run.path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:
        return False, str(exc)
    if done.returncode != 0:
        return False, _last_line(done.stderr or done.stdout) or f"exit code {done.returncode}"
    return True, done.stdout.strip()


def evaluate(run: RunDir) -> tuple[dict[str, Any] | None, str]:
    """Run `tuitrain eval` on `run` and read its fresh `eval.json`: (report, '') or (None, why)."""
    report_path = run.path / "eval.json"
    before = report_path.stat().st_mtime_ns if report_path.exists() else None
    cmd = [sys.executable, "-m", "tuitrain", "eval", str(run.path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:
        return None, str(exc)
    fresh = report_path.exists() and report_path.stat().st_mtime_ns != before
    if done.returncode != 0 or not fresh:
        return None, _last_line(done.stderr or done.stdout) or f"exit code {done.returncode}"
    try:
        return json.loads(report_path.read_text(encoding="utf-8")), ""
    except (OSError, ValueError) as exc:
        return None, f"unreadable eval.json: {exc}"


def start_compare(runs_dir: Path, preset: str, frameworks: tuple[str, ...],
                  epochs: int | None = None) -> CompareJob:
    """Start `tuitrain compare` in its own session, so it goes on if the app closes; its
    output goes to `compare-<time>-<preset>.log` in the runs folder."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    log = runs_dir / f"compare-{time.strftime('%Y%m%d-%H%M%S')}-{preset}.log"
    cmd = [sys.executable, "-m", "tuitrain", "compare", "--preset", preset,
           "--frameworks", ",".join(frameworks), "--runs-dir", str(runs_dir)]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=_env())
    return CompareJob(proc, log, preset, frameworks)


def compare_state(log: Path) -> tuple[list[str], str]:
    """From a comparison's output so far: its run ids in order, and its last error line."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return [], ""
    ids, error = [], ""
    for line in text.replace("\r", "\n").splitlines():
        line = line.strip()
        match = COMPARE_LINE.match(line)
        if match:
            ids.append(Path(match.group(2).strip()).name)
        elif line.startswith(ERROR_PREFIX):
            error = line.removeprefix(ERROR_PREFIX)
    return ids, error
