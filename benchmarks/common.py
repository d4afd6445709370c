"""Shared helpers: figures, medians, child processes, machine facts."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One line of the report: a measured value against its target."""

    key: str  # "1a", "3", ...
    name: str
    value: float | None
    target: str
    passed: bool | None  # None: not measured / informational
    unit: str = ""
    detail: str = ""  # the baseline and how it was measured
    extra: dict = field(default_factory=dict)

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "N/A"}[self.passed]
        value = "-" if self.value is None else f"{self.value:.4g}{self.unit}"
        return f"{self.key:<14} {self.name:<48} {value:>14}  target {self.target:<16} {verdict}"

    def to_json(self) -> dict:
        return asdict(self)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def child_env(threads: int | None = None) -> dict[str, str]:
    """The environment a child benchmark runs in; `threads` pins the math libraries."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads),
                   TF_NUM_INTEROP_THREADS="1", MKL_NUM_THREADS=str(threads))
    return env


def run_child(module: str, *args: str, threads: int | None = None,
              timeout: float = 600) -> dict:
    """Run `python -m benchmarks.<module> ARGS` in a fresh interpreter; its last stdout line
    is a JSON object."""
    cmd = [sys.executable, "-m", f"benchmarks.{module}", *args]
    out = subprocess.run(cmd, cwd=ROOT, env=child_env(threads), capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def emit(obj: dict) -> None:
    """A child's answer: one JSON line on stdout."""
    print(json.dumps(obj), flush=True)


def thread_budget() -> int:
    """The math-library threads the runner uses on this machine (launch.thread_budget)."""
    from tuitrain.core.launch import thread_budget as budget

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
        "cpu": cpu, "cores": str(os.cpu_count()), "memory": mem,
        "os": platform.platform(), "python": platform.python_version(),
        "torch": version("torch"), "tensorflow": version("tensorflow-cpu")
        if version("tensorflow") == "not installed" else version("tensorflow"),
        "keras": version("keras"), "textual": version("textual"), "numpy": version("numpy"),
        "tuitrain": version("tuitrain"),
    }
