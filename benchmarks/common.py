"""Shared helpers: figures, medians, child processes, machine facts."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from benchmarks import stats
from benchmarks.stats import Target, Verdict

ROOT = Path(__file__).resolve().parent.parent


Layer = Literal["engine"]


@dataclass
class Figure:
    """One line of the report: a measured value against its target, with its interval and
    verdict (see benchmarks/stats.py for the rule)."""

    key: str  # "1 mlp-digits", "3", ...
    name: str
    value: float | None
    target: str
    verdict: Verdict | None  # None: not measured
    unit: str = ""
    detail: str = ""  # the baseline and how it was measured
    interval: tuple[float, float] | None = None  # None: an exact figure (no noise)
    samples: int = 0  # per-repetition values behind the interval
    planted: Layer | None = None  # the self-test's slowdown of this layer must FAIL it

    @property
    def id(self) -> str:
        return f"{self.key} {self.name}"

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    def value_text(self) -> str:
        return "-" if self.value is None else f"{self.value:.4g}{self.unit}"

    def interval_text(self) -> str:
        if self.interval is None:
            return "exact"
        lo, hi = self.interval
        return f"[{lo:.4g}, {hi:.4g}] n={self.samples}"

    def line(self) -> str:
        return (
            f"{self.key:<14} {self.name:<48} {self.value_text():>12} "
            f"{self.interval_text():<26} target {self.target:<16} {self.verdict or 'N/A'}"
        )

    def to_json(self) -> dict:
        return {**asdict(self), "id": self.id}


def judged(
    key: str,
    name: str,
    values: Sequence[float],
    target: Target,
    unit: str = "",
    detail: str = "",
    q: float = 0.5,
    planted: Layer | None = None,
) -> Figure:
    """A figure from per-repetition values: the q-quantile, its interval and the verdict."""
    interval = stats.quantile_interval(values, q)
    return Figure(
        key,
        name,
        stats.quantile(values, q),
        f"{target.op} {target.bound:g}{unit}",
        stats.verdict(interval, target),
        unit,
        detail,
        (interval.lo, interval.hi),
        len(stats.finite(values)),
        planted,
    )


def exact(
    key: str, name: str, value: float, target: str, ok: bool, unit: str = "", detail: str = ""
) -> Figure:
    """A figure without noise (a count, bitwise equality): PASS or FAIL."""
    return Figure(key, name, value, target, "PASS" if ok else "FAIL", unit, detail)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def child_env(threads: int | None = None) -> dict[str, str]:
    """The environment a child benchmark runs in; `threads` pins the math libraries."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if threads is not None:
        env.update(
            OMP_NUM_THREADS=str(threads),
            TF_NUM_INTRAOP_THREADS=str(threads),
            TF_NUM_INTEROP_THREADS="1",
            MKL_NUM_THREADS=str(threads),
        )
    return env


def run_child(module: str, *args: str, threads: int | None = None, timeout: float = 600) -> dict:
    """Run `python -m benchmarks.<module> ARGS` in a fresh interpreter; its last stdout line
    is a JSON object."""
    cmd = [sys.executable, "-m", f"benchmarks.{module}", *args]
    out = subprocess.run(
        cmd, cwd=ROOT, env=child_env(threads), capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def plain_loop_args() -> argparse.Namespace:
    """A plain loop's command line: `PRESET --epochs E --devices N`."""
    p = argparse.ArgumentParser()
    p.add_argument("preset")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--devices", type=int, default=2)
    return p.parse_args()


def emit(obj: dict) -> None:
    """A child's answer: one JSON line on stdout."""
    print(json.dumps(obj), flush=True)


def thread_budget() -> int:
    """The math-library threads the runner uses on this machine (cores.thread_budget)."""
    from tuitrain.core.cores import thread_budget as budget

    return int(budget()["OMP_NUM_THREADS"])


def machine() -> dict[str, str]:
    """Machine and versions for BENCHMARKS.md, without importing a framework here."""
    from importlib import metadata

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        mem = "?"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": version("torch"),
        "tensorflow": version("tensorflow-cpu")
        if version("tensorflow") == "not installed"
        else version("tensorflow"),
        "keras": version("keras"),
        "textual": version("textual"),
        "numpy": version("numpy"),
        "tuitrain": version("tuitrain"),
    }
