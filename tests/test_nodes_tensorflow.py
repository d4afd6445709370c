"""A TensorFlow run on several machines, as `tuitrain train -f tensorflow --nodes 2
--node-rank R --master HOST:PORT` runs it: two "machines" on localhost sharing a runs folder,
one MultiWorkerMirroredStrategy worker each (its TF_CONFIG gathered through node 0). Together
they train what one process trains on the same global batches; a stop on either machine
stops both at the same step; a machine killed mid-run takes the run down at once, naming
it, and the run resumes on one machine."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import framework_param, popen_cli, run_cli, run_folders
from test_ddp import trained
from test_mirrored import WEIGHTS_DIFF, latest
from test_nodes import free_port, long_run, node_args

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.rundir import RunDir

pytestmark = framework_param("tensorflow").marks
TF = ("-f", "tensorflow")


def test_two_machines_train_what_one_process_trains(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    port = free_port()
    joined = popen_cli(*node_args(tmp_path, 1, port, *TF), runs_dir=runs)  # before node 0
    hosted = run_cli(*node_args(tmp_path, 0, port, *TF), runs_dir=runs, timeout=300)
    out, err = joined.communicate(timeout=120)
    assert hosted.returncode == 0, hosted.stdout + hosted.stderr
    assert joined.returncode == 0, out + err
    assert (f"node 1 of 2: a TensorFlow worker on 1 device(s) joining the run at "
            f"127.0.0.1:{port}") in out
    assert "on MultiWorkerMirrored x2, 2 nodes (CPU" in hosted.stdout
    (path,) = run_folders(runs)  # node 1 made no folder of its own
    run = RunDir(path)
    summary = run.summary()
    assert summary["status"] == "completed", summary["error"]
    assert (summary["world_size"], summary["parallel"], summary["global_batch"]) == (
        2, "MultiWorkerMirrored x2, 2 nodes", 32)
    one = trained(tmp_path / "one", *TF)
    diff = subprocess.run([sys.executable, "-c", WEIGHTS_DIFF, latest(run), latest(one)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert diff.returncode == 0, diff.stderr[-2000:]
    assert float(diff.stdout.strip().splitlines()[-1]) < 1e-6
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert summary["metrics"][key] == pytest.approx(one.summary()["metrics"][key],
                                                        abs=1e-5), key


def test_a_stop_on_the_joining_machine_stops_both(tmp_path: Path) -> None:
    joined, hosted, run = long_run(tmp_path, *TF)
    joined.send_signal(signal.SIGTERM)
    joined.communicate(timeout=60)
    hosted.communicate(timeout=60)
    summary = run.summary()
    assert summary["status"] == "stopped", summary["error"]
    saved = CheckpointStore(run.checkpoints, ".tfckpt").latest()
    assert saved is not None and saved.global_step == summary["global_step"]


def test_a_machine_killed_mid_run_ends_it_at_once_and_it_resumes_on_one(tmp_path) -> None:
    joined, hosted, run = long_run(tmp_path, *TF)
    deadline = time.monotonic() + 60
    while CheckpointStore(run.checkpoints, ".tfckpt").latest() is None:
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.2)
    joined.kill()
    killed = time.monotonic()
    hosted.communicate(timeout=60)
    # Usually 1-2 s (the worker's connection resets); when node 0 waits in an all-reduce
    # whose peer had not connected yet, TensorFlow's health check aborts it after about 10 s.
    assert time.monotonic() - killed < 20
    summary = run.summary()
    assert summary["status"] == "failed"
    assert summary["error"].startswith("PeerLost: node 1 left the run")  # its collective or ours
    assert "\n" not in summary["error"]
    epochs = str(summary["epochs_completed"] + 1)
    out = run_cli("resume", run.id, "--epochs", epochs, runs_dir=run.path.parent, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    resumed = run.summary()
    assert (resumed["status"], resumed["world_size"], resumed["parallel"]) == ("completed", 1, "")
