"""Memory stays flat when data streams (`python -m benchmarks.stream_memory --gib 2`, in its
own process): a .npy of 8-bit 32x32x3 images several times larger than the memory allowed
(its float32 decoding 4x that again) and its labels, trained one epoch through the CLI with
torch (`data.stream = "auto"` streams it), while the anonymous memory (`RssAnon`, which the
kernel cannot drop, unlike the file's page cache) of the CLI, its runner and the runner's
data workers is sampled every 50 ms and summed. Prints the peak, in MB and as a fraction of
the file's size."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from benchmarks.common import ROOT, child_env, emit

SHAPE = (32, 32, 3)
CHUNK = 16384  # images written at a time
PRESET = """\
name = "mlp-streamed"
description = "a small MLP on 32x32x3 images: the streaming memory benchmark's model"
task = "classification"

[data]
dataset = "digits"

[model]
layers = [
  { type = "flatten" },
  { type = "dense", units = 64, activation = "relu" },
  { type = "dense", units = "auto" },
]

[train]
loss = "cross_entropy"
epochs = 1
batch_size = 512
metrics = ["accuracy"]

[optimizer]
name = "adam"
lr = 0.001
"""


def write_data(folder: Path, gib: float) -> tuple[Path, Path]:
    """x.npy (uint8 images, `gib` GiB) and y.npy (10 classes), written a chunk at a time."""
    count = int(gib * 2**30) // int(np.prod(SHAPE))
    x = np.lib.format.open_memmap(folder / "x.npy", "w+", np.uint8, (count, *SHAPE))
    rng = np.random.default_rng(0)
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        x[start:stop] = rng.integers(0, 256, (stop - start, *SHAPE), dtype=np.uint8)
    x.flush()
    del x
    np.save(folder / "y.npy", rng.integers(0, 10, count).astype(np.int64))
    return folder / "x.npy", folder / "y.npy"


def anon_mb(root: psutil.Process) -> dict[int, float]:
    """RssAnon of a process and each of its descendants (MB), by pid."""
    found = {}
    for proc in [root, *root.children(recursive=True)]:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    found[proc.pid] = int(line.split()[1]) / 1024
        except OSError:  # the process ended between the listing and the read
            continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        x, y = write_data(folder, a.gib)
        (folder / "mlp.toml").write_text(PRESET)
        cmd = [sys.executable, "-m", "tuitrain", "train", "-p", str(folder / "mlp.toml"),
               "-f", "torch", "--data", str(x), "--target", y.name, "--runs-dir",
               str(folder / "runs"), "--set", f"data.workers={a.workers}"]
        started = time.perf_counter()
        cli = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        root, samples, peaks = psutil.Process(cli.pid), [], {}
        while cli.poll() is None:
            sample = anon_mb(root)
            samples.append(sum(sample.values()))
            for pid, mb in sample.items():
                peaks[pid] = max(mb, peaks.get(pid, 0.0))
            time.sleep(0.05)
        output = cli.stdout.read() if cli.stdout else ""
        if cli.returncode != 0:
            raise SystemExit(f"training failed ({cli.returncode}):\n{output[-3000:]}")
        file_mb = os.path.getsize(x) / 2**20
    emit({"file_mb": file_mb, "peak_anon_mb": max(samples), "samples": len(samples),
          "process_peaks_mb": sorted(peaks.values(), reverse=True),
          "seconds": time.perf_counter() - started, "workers": a.workers,
          "last_line": output.strip().splitlines()[-1]})


if __name__ == "__main__":
    main()
