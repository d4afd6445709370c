"""The GPU figures the README cites, measured on a machine with NVIDIA GPUs (`python
benchmarks/gpu.py [--preset cnn-digits] [--epochs 6]`): samples per second of one preset
trained through `tuitrain train -f torch` on 1 GPU and on every GPU (`--devices all`, DDP over
NCCL, the same global batch), with the scaling efficiency (all / (N x one)). Each run's
epochs are timed inside it (the first left out as warm-up); the machine, driver and GPUs
are printed from NVML. Nothing is written to BENCHMARKS.md: a person copies the printed
figures there with the date and the machine, so no GPU figure is ever written unmeasured.
On a machine without GPUs it says so and exits 2."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tuitrain.core import gpus  # noqa: E402
from tuitrain.core.events import EpochEnd  # noqa: E402
from tuitrain.core.rundir import RunDir  # noqa: E402


def samples_per_second(preset: str, epochs: int, devices: str, batch: int, runs: Path) -> float:
    """The median samples/s over a run's epochs after the first (validation included)."""
    cmd = [sys.executable, "-m", "tuitrain", "train", "-p", preset, "-f", "torch",
           "--device", "cuda", "--devices", devices, "--epochs", str(epochs),
           "--batch-size", str(batch), "--runs-dir", str(runs)]
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=3600)
    (folder,) = [p for p in runs.iterdir() if (p / "config.toml").is_file()]
    run = RunDir(folder)
    samples = run.summary()["train_samples"] / run.summary()["epochs_completed"]
    seconds = [e.seconds for e in run.events() if isinstance(e, EpochEnd)][1:]
    return samples / statistics.median(seconds)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="cnn-digits", help="offline presets need no download")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=256, help="the global batch")
    a = p.parse_args()
    found = gpus.read()
    if not found:
        print("no NVIDIA GPU visible to NVML: nothing to measure", file=sys.stderr)
        return 2
    n = len(found)
    print(json.dumps({"gpus": [f"{g.index}: {g.name}, {g.memory_text()}" for g in found]}))
    with tempfile.TemporaryDirectory() as tmp:
        one = samples_per_second(a.preset, a.epochs, "1", a.batch_size, Path(tmp) / "one")
        every = (samples_per_second(a.preset, a.epochs, "all", a.batch_size, Path(tmp) / "all")
                 if n > 1 else one)
    print(json.dumps({"preset": a.preset, "global_batch": a.batch_size, "gpus": n,
                      "samples_per_s_1": round(one), f"samples_per_s_{n}": round(every),
                      "scaling_efficiency": round(every / (n * one), 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
