"""Helpers for the setup and runs screen tests: run folders written by the tests themselves
(completed, stopped, failed, running, damaged) with fixed times and curves, a fake device
probe, and a quiet environment, so listings and snapshots are deterministic. No framework
is imported and nothing trains."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tuitrain.core.events import EpochEnd
from tuitrain.core.liveness import Lock
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
_HELD: list[Lock] = []  # locks of runs made `alive`, held until the test session ends


def write_run(runs_dir: Path, run_id: str, *, preset: str = "mlp-moons", framework: str = "torch",
              status: str = "completed", epochs: int = 5, done: int = 5, start: float = T0,
              alive: bool = False, error: str = "", shift: float = 0.0) -> RunDir:
    """A run folder with config, an epoch log, a summary and (for done > 0) a checkpoint."""
    spec = load_spec(preset)
    spec = replace(spec, train=replace(spec.train, epochs=epochs)).with_run(framework=framework)
    path = runs_dir / run_id
    (path / "checkpoints").mkdir(parents=True)
    run = RunDir(path)
    run.write_spec(spec)
    monitor = f"val_{spec.main_metric}"
    best, metrics = None, {}
    for epoch in range(done):
        loss = 0.7 / (epoch + 1) + shift
        metrics = {"loss": loss * 1.1, "val_loss": loss, monitor: min(0.99, 0.6 + 0.08 * epoch)}
        run.append(EpochEnd(epoch=epoch, global_step=(epoch + 1) * 40, metrics=metrics,
                            seconds=1.5, is_best=True, time=start + 2 * (epoch + 1)))
        best = metrics[monitor]
    if done:
        (path / "checkpoints" / f"epoch-{done:04d}.pt").write_bytes(b"fake")
    run.write_summary({
        "run_id": run_id, "preset": spec.name, "task": spec.task, "framework": framework,
        "status": status, "epochs_completed": done, "epochs": epochs, "metrics": metrics,
        "monitor": monitor, "best_value": best, "best_epoch": done or None,
        "best_checkpoint": f"checkpoints/epoch-{done:04d}.pt" if done else None,
        "last_checkpoint": f"checkpoints/epoch-{done:04d}.pt" if done else None,
        "started": start, "device": "cpu", "params": 1218, "train_seconds": 1.5 * done,
        "train_samples": 1400 * done, "peak_memory_mb": 310.0, "error": error,
    })
    if alive:  # this test process holds the run's lock, as its runner would, until it ends
        _HELD.append(run.lock().acquire())
        run.pidfile.write_text(str(os.getpid()))
    return run


def write_damaged(runs_dir: Path, run_id: str) -> RunDir:
    """A run whose summary.json is cut off mid-write."""
    run = write_run(runs_dir, run_id, done=2)
    run.summary_path.write_text('{"status": "runn', encoding="utf-8")
    return run


def standard_runs(runs_dir: Path) -> dict[str, RunDir]:
    """Five runs, one of each kind the runs screen must show."""
    return {
        "completed": write_run(runs_dir, "20260101-000000-mlp-moons-torch"),
        "tf": write_run(runs_dir, "20260101-000500-mlp-moons-tensorflow", framework="tensorflow",
                        start=T0 + 300, shift=0.05),
        "stopped": write_run(runs_dir, "20260101-001000-mlp-digits-torch", preset="mlp-digits",
                             status="stopped", epochs=10, done=3, start=T0 + 600),
        "failed": write_run(runs_dir, "20260101-001500-mlp-spirals-keras", preset="mlp-spirals",
                            framework="keras", status="failed", done=1, start=T0 + 900,
                            error="out of memory (ResourceExhaustedError); try --batch-size 16"),
        "damaged": write_damaged(runs_dir, "20260101-002000-mlp-moons-torch"),
    }


def eval_report() -> dict[str, object]:
    """What `tuitrain eval` writes for a two-class run."""
    return {"checkpoint": "epoch-0005.pt", "split": "test",
            "metrics": {"loss": 0.1234, "accuracy": 0.95},
            "class_names": ["0", "1"], "precision": [0.96, 0.94], "recall": [0.94, 0.96],
            "confusion": [[141, 9], [6, 144]]}


def write_eval(run: RunDir) -> None:
    (run.path / "eval.json").write_text(json.dumps(eval_report()), encoding="utf-8")


GIB = 2**30
FAKE_CUDA = {"framework": "torch", "versions": {"torch": "9.9"}, "devices": [
    {"framework": "torch", "id": "cuda:0", "kind": "cuda", "name": "NVIDIA H100 80GB HBM3",
     "memory_total": 80 * GIB, "memory_free": 75 * GIB},
    {"framework": "torch", "id": "cpu", "kind": "cpu", "name": "CPU (16 threads)",
     "memory_total": 0, "memory_free": 0},
]}


def fake_probe(framework: str, timeout: float = 60.0) -> dict[str, Any]:
    """Device detection as if this machine had one H100 (every framework sees it)."""
    devices = [dict(d, framework=framework) for d in FAKE_CUDA["devices"]]
    return {"framework": framework, "versions": {}, "devices": devices}


def quiet_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the shipped presets, an empty download cache and run queue, UTC times, and fake
    detection."""
    from tuitrain.core import devices

    (tmp_path / "no-user-presets").mkdir(exist_ok=True)
    monkeypatch.setenv("TUITRAIN_PRESETS_DIR", str(tmp_path / "no-user-presets"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("TUITRAIN_QUEUE_DIR", str(tmp_path / "queue"))  # never the user's queue
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(devices, "probe", fake_probe)
    fake_gpus(monkeypatch, tmp_path, [])


def fake_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
              gpus: list[dict[str, Any]]) -> None:
    """NVML as if this machine had `gpus` (core/gpus.py's fake reader; [] for none), with a
    claims folder of its own."""
    nvml = tmp_path / "fake-nvml.json"
    nvml.write_text(json.dumps({"gpus": gpus}), encoding="utf-8")
    monkeypatch.setenv("TUITRAIN_FAKE_NVML", str(nvml))
    monkeypatch.setenv("TUITRAIN_GPU_CLAIMS", str(tmp_path / "gpu-claims"))


def aio(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (no pytest asyncio plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def until(pilot: Pilot[Any], cond: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app run until `cond()` holds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {cond}")
        await pilot.pause(0.05)


def record_notes(app: Any) -> list[str]:
    """Every notification the app shows from now on, as text."""
    notes: list[str] = []
    real_notify = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        notes.append(str(message))
        real_notify(message, **kwargs)

    app.notify = notify
    return notes
