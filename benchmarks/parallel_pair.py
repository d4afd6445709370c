"""The data-parallel figures' measurements (`python -m benchmarks.parallel_pair --pairs N
[--framework F]`): time per step of mlp-digits trained on 2 CPU devices through `tuitrain
train --devices 2` and through the framework's plain loop, in alternating pairs; and one
device through `tuitrain train` for the scaling. torch: 2 processes over gloo against a plain
torchrun DDP loop (benchmarks/ddp_plain.py); tensorflow: MirroredStrategy on 2 logical CPUs
against the TensorFlow tutorial's loop (benchmarks/mirrored_plain.py); keras-jax: Keras'
DataParallel on 2 forced host devices against Keras' own `fit` under the same distribution
(benchmarks/jax_plain.py). The same preset,
global batch and epochs on every side; each side's epochs are timed inside it (validation
between epochs included, as both do it), the first epoch left out (warm-up), start-up never
counted."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, emit, median
from tuitrain.core.events import EpochEnd
from tuitrain.core.rundir import RunDir

PRESET = "mlp-digits"
EPOCHS = 12  # epochs of about 0.15 s on 2 processes: enough to steady the median
# What `tuitrain train` is told for each framework measured, and its plain loop's command.
OPTIONS = {"torch": ("-f", "torch"), "tensorflow": ("-f", "tensorflow"),
           "keras-jax": ("-f", "keras", "--keras-backend", "jax")}


def tuitrain_step(framework: str, devices: int, runs: Path) -> float:
    """Seconds per step of `tuitrain train --devices N` (the median over epochs 2..E)."""
    cmd = [sys.executable, "-m", "tuitrain", "train", "-p", PRESET, *OPTIONS[framework],
           "--epochs", str(EPOCHS), "--devices", str(devices), "--runs-dir", str(runs),
           "--detach"]  # headless, as the plain loop runs: no progress printed alongside
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=600)
    (folder,) = [p for p in runs.iterdir() if (p / "config.toml").is_file()]
    run = RunDir(folder)
    deadline = time.monotonic() + 600
    while run.is_alive() or run.status() == "running":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run.path} did not end")
        time.sleep(0.5)
    steps = run.summary()["steps_per_epoch"]
    epochs = [e.seconds for e in run.events() if isinstance(e, EpochEnd)][1:]
    return median(epochs) / steps


def plain_step(framework: str, devices: int) -> float:
    """Seconds per step of the framework's plain loop (the median over epochs 2..E)."""
    if framework == "torch":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={devices}", "-m", "benchmarks.ddp_plain", PRESET,
               "--epochs", str(EPOCHS)]
    else:
        plain = "mirrored_plain" if framework == "tensorflow" else "jax_plain"
        cmd = [sys.executable, "-m", f"benchmarks.{plain}", PRESET, "--epochs", str(EPOCHS),
               "--devices", str(devices)]
    # Tried twice: a launch can fail at its rendezvous on a loaded machine. A plain torchrun
    # loop's process sometimes aborts after its process group is destroyed, at exit
    # ("terminate called without an active exception", about one launch in two on this
    # machine at torch 2.13): the epochs it printed before were measured.
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    r = _printed(out.stdout)
    if r is None:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        r = _printed(out.stdout)
    if r is None:
        raise RuntimeError(f"the plain loop failed twice:\n{out.stderr[-2000:]}")
    return median(r["seconds"][1:]) / r["steps"]


def _printed(stdout: str) -> dict | None:
    """The figures a plain loop printed as its last line, if it got that far."""
    lines = stdout.strip().splitlines()
    try:
        r = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None
    return r if isinstance(r, dict) and "seconds" in r else None


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--framework", choices=tuple(OPTIONS), default="torch")
    a = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.pairs):
            sides = ("ours", "plain") if i % 2 == 0 else ("plain", "ours")
            for side in sides:
                if side == "ours":
                    ours.append(tuitrain_step(a.framework, 2, Path(tmp) / f"runs-{i}"))
                else:
                    plain.append(plain_step(a.framework, 2))
        one = tuitrain_step(a.framework, 1, Path(tmp) / "one")
    emit({"ours": ours, "plain": plain, "one": one,
          "ratios": [t / b for t, b in zip(ours, plain, strict=True)]})


if __name__ == "__main__":
    main()
