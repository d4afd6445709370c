"""Shared helpers for the test suite.

Training always runs in child processes (`python -m tuitrain ...`): torch and TensorFlow in
one process can crash, and the runner is a child process in real use too."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

REPO = Path(__file__).resolve().parent.parent
PRESETS_DIR = REPO / "presets"
SHIPPED_PRESETS = sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))

FRAMEWORKS = ("torch", "tensorflow", "keras")
# The package a framework's tests need: Keras runs on TensorFlow unless a test says otherwise.
PACKAGE = {"torch": "torch", "tensorflow": "tensorflow", "keras": "tensorflow"}


def installed(framework: str) -> bool:
    """Whether the package `framework` (torch, tensorflow, keras) needs is installed."""
    return importlib.util.find_spec(PACKAGE[framework]) is not None


HAS_TORCH = installed("torch")
requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
requires_tensorflow = pytest.mark.skipif(
    not installed("tensorflow"), reason="TensorFlow is not installed")


def framework_param(framework: str) -> pytest.param:  # type: ignore[valid-type]
    """`framework` as a test parameter: marked with its package (`-m torch`, `-m tensorflow`)
    and skipped where that package is not installed."""
    package = PACKAGE[framework]
    return pytest.param(framework, id=framework, marks=[
        getattr(pytest.mark, package),
        pytest.mark.skipif(not installed(framework), reason=f"{package} is not installed")])


FRAMEWORK_PARAMS = [framework_param(name) for name in FRAMEWORKS]


def skip_unless_installed(framework: str) -> None:
    """Skip the calling test where `framework`'s package is not installed."""
    if not installed(framework):
        pytest.skip(f"{PACKAGE[framework]} is not installed")


def cli_env(runs_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for a CLI child: no user presets, one math thread (two test workers
    on two cores: more threads than cores makes torch's CPU kernels spin, 100x slower)."""
    env = dict(os.environ)
    env.pop("TUITRAIN_RUNS_DIR", None)
    env.update(
        TUITRAIN_PRESETS_DIR=str(REPO / "tests" / "no-user-presets"),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    if runs_dir is not None:
        env["TUITRAIN_RUNS_DIR"] = str(runs_dir)
    env.update(extra)
    return env


def run_cli(
    *args: str,
    runs_dir: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m tuitrain ARGS` in a child process; `runs_dir` is passed as `--runs-dir`."""
    cmd = [sys.executable, "-m", "tuitrain", *args]
    if runs_dir is not None:
        cmd += ["--runs-dir", str(runs_dir)]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or cli_env(),
        cwd=cwd or REPO,
        check=False,
    )


def popen_cli(
    *args: str, runs_dir: Path, env: dict[str, str] | None = None,
    sigint: Literal["default", "ignored"] = "default",
) -> subprocess.Popen[str]:
    """Start `python -m tuitrain ARGS --runs-dir RUNS` without waiting. The child's SIGINT
    and SIGHUP dispositions are set here, not inherited: pytest started from a
    non-interactive shell in the background inherits SIGINT ignored, as every background
    job does, and under nohup SIGHUP too; a CLI in a terminal has SIGHUP's default."""
    cmd = [sys.executable, "-m", "tuitrain", *args, "--runs-dir", str(runs_dir)]
    handler = signal.SIG_DFL if sigint == "default" else signal.SIG_IGN

    def dispositions() -> None:
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)

    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or cli_env(),
        cwd=REPO,
        preexec_fn=dispositions,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit code 2, one `tuitrain: error: ...` line on stderr, no traceback; returns the line."""
    err = result.stderr.strip()
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tuitrain: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> float:
    """Poll `condition()` until true; returns the seconds it took."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - t0


def run_folders(runs_dir: Path) -> list[Path]:
    """Run folders under `runs_dir` (those holding a config.toml)."""
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if (p / "config.toml").is_file())


def build_once(
    factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None], timeout: float = 300
) -> Path:
    """A folder that `build(folder)` fills once per test session, even across pytest-xdist
    workers (the first one builds, the others wait): for costly fixtures like a trained run."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, shared by its workers
    folder, done = root / name, root / f"{name}.done"
    try:
        (root / f"{name}.lock").open("x").close()
    except FileExistsError:
        deadline = time.monotonic() + timeout
        while not done.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"another worker did not finish building {name}") from None
            time.sleep(0.1)
        if done.read_text() != "ok":
            pytest.fail(f"building {name} failed in another worker: {done.read_text()}")
        return folder
    try:
        folder.mkdir()
        build(folder)
    except BaseException as exc:
        done.write_text(f"{type(exc).__name__}: {exc}")
        raise
    done.write_text("ok")
    return folder
