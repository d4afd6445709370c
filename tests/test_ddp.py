"""Data-parallel training with PyTorch on a CPU-only machine, as `tuitrain train --devices 2`
runs it: torchrun's elastic agent starts two gloo processes. They keep identical weights
after every step and train the model one process trains on the same global batches; rank 0
alone writes the run folder; a stop reaches both at the same step; a killed rank takes the
run down within seconds, naming it, and the run resumes on one device."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import assert_one_line_error, cli_env, requires_torch, run_cli, run_folders

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.events import BatchMetrics, EpochEnd, RunEnded, RunStarted, SettingChanged
from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.torch, requires_torch]

# mlp-digits without its dropout: one process and two then see the same computation. With
# 20% for validation 1,168 digits train: the epoch's short last batch (16) splits evenly.
PRESET = """\
name = "mlp-digits-plain"
description = "mlp-digits without dropout"
task = "classification"

[data]
dataset = "digits"
val_fraction = 0.2

[model]
layers = [
  { type = "flatten" },
  { type = "dense", units = 64, activation = "relu" },
  { type = "dense", units = "auto" },
]

[train]
loss = "cross_entropy"
epochs = 3
batch_size = 32
metrics = ["accuracy"]

[optimizer]
name = "adam"
lr = 0.002
"""

WEIGHTS_DIFF = """
import sys, torch
a, b = (torch.load(p, weights_only=True)["model"] for p in sys.argv[1:3])
print(max(float((a[k] - b[k]).abs().max()) for k in a))
"""


def preset(tmp_path: Path) -> str:
    path = tmp_path / "mlp-digits-plain.toml"
    path.write_text(PRESET)
    return str(path)


def trained(runs: Path, *extra: str, env: dict[str, str] | None = None) -> RunDir:
    out = run_cli("train", "-p", preset(runs.parent), *extra, runs_dir=runs, env=env,
                  timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    (path,) = run_folders(runs)
    return RunDir(path)


def last_checkpoint(run: RunDir) -> Path:
    latest = CheckpointStore(run.checkpoints, ".pt").latest()
    assert latest is not None
    return latest.path


def test_two_processes_train_the_model_one_process_trains(tmp_path: Path) -> None:
    """Every step: both ranks' weights hashed and compared (a difference fails the run)."""
    two = trained(tmp_path / "two", "--devices", "2",
                  env=cli_env(TUITRAIN_FAULT="replicas_every:1"))
    one = trained(tmp_path / "one")
    summary = two.summary()
    assert summary["status"] == "completed", summary["error"]
    assert (summary["world_size"], summary["parallel"], summary["global_batch"]) == (
        2, "DDP x2 gloo", 32)
    events = two.events()
    assert sum(isinstance(e, RunStarted) for e in events) == 1  # rank 0 alone writes
    assert sum(isinstance(e, RunEnded) for e in events) == 1
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [0, 1, 2]
    assert summary["global_step"] == one.summary()["global_step"]  # global batches counted
    diff = subprocess.run([sys.executable, "-c", WEIGHTS_DIFF, str(last_checkpoint(two)),
                           str(last_checkpoint(one))], capture_output=True, text=True,
                          check=True, timeout=120)
    assert float(diff.stdout) < 1e-4  # float rounding of 2 half-batch means vs 1 mean
    for key in ("accuracy", "val_accuracy", "loss"):
        assert summary["metrics"][key] == pytest.approx(one.summary()["metrics"][key],
                                                        abs=2e-3), key


def start(runs: Path, tmp_path: Path, *extra: str) -> RunDir:
    """`tuitrain train --devices 2 --detach` on a long run; returns once it is training."""
    out = run_cli("train", "-p", preset(tmp_path), "--devices", "2", "--epochs", "400",
                  "--detach", *extra, runs_dir=runs, timeout=120)
    assert out.returncode == 0, out.stderr
    (path,) = run_folders(runs)
    run = RunDir(path)
    deadline = time.monotonic() + 120
    while CheckpointStore(run.checkpoints, ".pt").latest() is None:
        assert time.monotonic() < deadline, (path / "runner.log").read_text()
        time.sleep(0.2)
    return run


def workers(run: RunDir) -> dict[int, psutil.Process]:
    """The run's worker processes by rank (children of its runner, the elastic agent)."""
    pid = run.runner_pid()
    assert pid is not None
    found = {}
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a helper that ended meanwhile
            env, argv = child.environ(), child.cmdline()
            if "RANK" in env and "--worker" in argv:
                found[int(env["RANK"])] = child
    return found


def resumed_on_one(run: RunDir) -> dict:
    done = run.summary()["epochs_completed"]
    out = run_cli("resume", run.id, "--devices", "1", "--epochs", str(done + 1),
                  runs_dir=run.path.parent, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = run.summary()
    assert summary["status"] == "completed" and summary["world_size"] == 1
    return summary


def test_a_stop_reaches_both_ranks_at_the_same_step_and_resumes_on_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run = start(runs, tmp_path)
    out = run_cli("stop", run.id, "--wait", "60", runs_dir=runs, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr  # no rank left waiting: no hang
    summary = run.summary()
    assert summary["status"] == "stopped"
    assert CheckpointStore(run.checkpoints, ".pt").latest().global_step == summary["global_step"]
    resumed_on_one(run)


def test_a_killed_rank_takes_the_run_down_naming_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run = start(runs, tmp_path, "--set", "train.checkpoint_every=1")
    victim = workers(run)[1]
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    while run.is_alive():
        assert time.monotonic() - killed < 10, "the run outlived its killed rank by 10 s"
        time.sleep(0.1)
    summary = run.summary()
    assert summary["status"] == "failed"
    assert f"rank 1 (pid {victim.pid}) was killed by SIGKILL" in summary["error"]
    assert "is intact: `tuitrain resume" in summary["error"]
    resumed_on_one(run)


def test_a_killed_rank_0_leaves_a_crashed_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    run = start(runs, tmp_path)
    workers(run)[0].send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while run.is_alive():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run.status() == "crashed"
    assert "rank 0" in run.summary()["error"] and "SIGKILL" in run.summary()["error"]


def test_devices_are_checked_before_a_run_folder_exists(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    odd = run_cli("train", "-p", preset(tmp_path), "--devices", "3", runs_dir=runs)
    assert_one_line_error(odd, "--devices 3: the batch size 32 is the global batch",
                          "multiple of 3")
    keras = run_cli("train", "-p", preset(tmp_path), "-f", "keras", "--keras-backend", "torch",
                    "--devices", "2", runs_dir=runs)
    assert_one_line_error(keras, "--devices 2: Keras on torch trains on one device here",
                          "--keras-backend tensorflow (MirroredStrategy) or jax (DataParallel)")
    gpus = run_cli("train", "-p", preset(tmp_path), "--devices", "0,1", "--device", "cpu",
                   runs_dir=runs)
    assert_one_line_error(gpus, "--devices 0,1 names GPUs", "on the CPU")
    bad = run_cli("train", "-p", preset(tmp_path), "--devices", "two", runs_dir=runs)
    assert_one_line_error(bad, "--devices two: run.devices must be a count (2), all, or GPU")
    assert run_folders(runs) == []


def test_summary_and_listing_record_the_strategy(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = run_cli("train", "-p", preset(tmp_path), "--devices", "2", "--epochs", "1",
                  runs_dir=runs, timeout=300)
    assert "with torch on DDP x2 gloo (CPU" in out.stdout, out.stdout + out.stderr
    (row,) = json.loads(run_cli("runs", "--json", runs_dir=runs).stdout)
    assert (row["device"], row["world_size"], row["global_batch"]) == ("DDP x2 gloo", 2, 32)


def test_devices_2_on_a_gpu_server_claims_the_two_freest_gpus(tmp_path: Path) -> None:
    """Through the fake NVML layer: the runner claims two free GPUs for the run's lifetime
    (here the workers, a CPU build of torch, then train over gloo)."""
    from test_placement import fake_server, gpu

    from tuitrain.core import gpu_claims

    server = fake_server(tmp_path, [gpu(0, users=("alice",)), gpu(1, 0.5), gpu(2, 0.2),
                                    gpu(3, 0.4)])
    keys = ("TUITRAIN_FAKE_NVML", "TUITRAIN_GPU_CLAIMS")
    runs = tmp_path / "runs"
    out = run_cli("train", "-p", preset(tmp_path), "--devices", "2", "--epochs", "400",
                  "--detach", runs_dir=runs, env=cli_env(**{k: server[k] for k in keys}))
    assert out.returncode == 0, out.stderr
    run = RunDir(run_folders(runs)[0])
    deadline = time.monotonic() + 120
    while not run.summary().get("parallel"):
        assert time.monotonic() < deadline, (run.path / "runner.log").read_text()
        time.sleep(0.2)
    assert [g["index"] for g in run.summary()["gpus"]] == [2, 3]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUITRAIN_GPU_CLAIMS", server["TUITRAIN_GPU_CLAIMS"])
        held = gpu_claims.holders([gpu(i) for i in range(4)])
    assert sorted(held) == ["GPU-0002-fake", "GPU-0003-fake"]
    assert all(h.startswith(run.id) for h in held.values())
    assert run_cli("stop", run.id, "--wait", "60", runs_dir=runs).returncode == 0


def test_a_live_learning_rate_reaches_both_ranks_at_the_same_step(tmp_path: Path) -> None:
    """`tuitrain set` on a run of two processes: rank 0 reads it and every rank trains with
    the new rate from the same step (their weights, compared every 5 steps, stay equal)."""
    runs = tmp_path / "runs"
    out = run_cli("train", "-p", preset(tmp_path), "--devices", "2", "--epochs", "400",
                  "--detach", runs_dir=runs, timeout=120,
                  env=cli_env(TUITRAIN_FAULT="replicas_every:5"))
    assert out.returncode == 0, out.stderr
    (path,) = run_folders(runs)
    run = RunDir(path)
    deadline = time.monotonic() + 120
    while not any(isinstance(e, BatchMetrics) for e in run.events()):
        assert time.monotonic() < deadline, (path / "runner.log").read_text()
        time.sleep(0.2)
    changed = run_cli("set", run.id, "optimizer.lr=0.004", "lr_scale=0.25", runs_dir=runs)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    step = max(e.global_step for e in run.events() if isinstance(e, SettingChanged))
    time.sleep(3)
    after = [e for e in run.events() if isinstance(e, BatchMetrics) and e.global_step > step]
    assert after and all(e.lr == pytest.approx(0.001) for e in after)
    assert run_cli("stop", run.id, "--wait", "60", runs_dir=runs, timeout=120).returncode == 0
    assert run.summary()["status"] == "stopped", run.summary().get("error")
