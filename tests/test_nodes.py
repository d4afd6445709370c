"""A run on several machines, as `tuitrain train ... --nodes 2 --node-rank R --master
HOST:PORT` runs it on each: here two "machines" on localhost sharing a runs folder. Node 0
creates the run folder and runs rank 0; node 1 joins through torchrun's rendezvous and
trains its share; together they train what two processes on one machine train. A stop sent
to either machine stops the run at the same step on every rank."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, popen_cli, requires_torch, run_cli, run_folders
from test_ddp import WEIGHTS_DIFF, last_checkpoint, preset, trained

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.errors import UserError
from tuitrain.core.nodes import Nodes, parse_nodes
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir


def test_one_machine_is_no_nodes_at_all() -> None:
    assert parse_nodes(None, None, None) is None
    assert parse_nodes(1, 0, None) is None


def test_nodes_parse_with_torchruns_default_port() -> None:
    assert parse_nodes(2, 1, "10.0.0.1:29400") == Nodes(2, 1, "10.0.0.1", 29400)
    node = parse_nodes(4, 0, "gpu-a")
    assert node == Nodes(4, 0, "gpu-a", 29500) and node.leads
    assert node.argv() == ["--nodes", "4", "--node-rank", "0", "--master", "gpu-a:29500"]
    assert parse_nodes(2, 1, "[fe80::1]:1234") == Nodes(2, 1, "fe80::1", 1234)


@pytest.mark.parametrize(("count", "rank", "master", "needle"), [
    (2, None, "h:1", "--nodes 2 needs --node-rank R"),
    (2, 0, None, "and --master HOST:PORT"),
    (2, 2, "h:1", "--node-rank 2: valid: 0 to 1"),
    (0, 0, "h:1", "--nodes 0: the number of machines; valid: 1 or more"),
    (2, 1, "h:port", "--master h:port: expected HOST:PORT"),
    (2, 1, "h:70000", "--master h:70000: expected HOST:PORT"),
    (None, 1, None, "add --nodes N"),
    (1, None, "h:1", "add --nodes N"),
])
def test_bad_node_options_say_what_is_valid(count: int | None, rank: int | None,
                                           master: str | None, needle: str) -> None:
    with pytest.raises(UserError, match=needle.replace("[", r"\[")):
        parse_nodes(count, rank, master)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_args(tmp_path, rank: int, port: int, *extra: str) -> tuple[str, ...]:
    return ("train", "-p", preset(tmp_path), "--nodes", "2", "--node-rank", str(rank),
            "--master", f"127.0.0.1:{port}", *extra)


def long_run(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str],
                                                   subprocess.Popen[str], RunDir]:
    """Node 1 and node 0 of a 400-epoch run (`extra`: its options), and its folder once
    training has begun."""
    runs = tmp_path / "runs"
    port = free_port()
    long = (*extra, "--epochs", "400")
    joined = popen_cli(*node_args(tmp_path, 1, port, *long), runs_dir=runs)
    hosted = popen_cli(*node_args(tmp_path, 0, port, *long), runs_dir=runs)
    deadline = time.monotonic() + 120
    while not (run_folders(runs) and RunDir(run_folders(runs)[0]).summary().get("parallel")):
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.2)
    return joined, hosted, RunDir(run_folders(runs)[0])


def test_node_options_are_checked_before_anything_starts(tmp_path) -> None:
    runs = tmp_path / "runs"
    keras = run_cli(*node_args(tmp_path, 0, 1, "-f", "keras"), runs_dir=runs)
    assert_one_line_error(keras, "--nodes 2: training on several machines runs on PyTorch")
    odd = run_cli(*node_args(tmp_path, 1, 1, "--devices", "2", "--batch-size", "30"),
                  runs_dir=runs)
    assert_one_line_error(odd, "the batch size 30 is the global batch", "multiple of 4")
    cpus = run_cli(*node_args(tmp_path, 1, 1, "-f", "tensorflow", "--device", "cpu",
                              "--devices", "2"), runs_dir=runs)
    assert_one_line_error(cpus, "--nodes 2 --devices 2: on the CPU each machine trains one "
                          "TensorFlow worker", "use --devices 1")
    detached = run_cli(*node_args(tmp_path, 1, 1, "--detach"), runs_dir=runs)
    assert_one_line_error(detached, "--detach starts node 0's runner", "tmux or nohup")
    lone = run_cli("train", "-p", preset(tmp_path), "--node-rank", "1", runs_dir=runs)
    assert_one_line_error(lone, "--node-rank and --master are for a run on several machines")
    assert run_folders(runs) == []


@pytest.mark.torch
@requires_torch
def test_two_machines_train_what_two_processes_on_one_train(tmp_path) -> None:
    runs = tmp_path / "runs"
    port = free_port()
    joined = popen_cli(*node_args(tmp_path, 1, port), runs_dir=runs)  # before node 0: it waits
    hosted = run_cli(*node_args(tmp_path, 0, port), runs_dir=runs, timeout=300)
    out, err = joined.communicate(timeout=120)
    assert hosted.returncode == 0, hosted.stdout + hosted.stderr
    assert joined.returncode == 0, out + err
    assert f"node 1 of 2: 1 process(es) joining the run at 127.0.0.1:{port}" in out
    assert "on DDP x2 gloo, 2 nodes (CPU" in hosted.stdout
    (path,) = run_folders(runs)  # node 1 made no folder of its own
    run = RunDir(path)
    summary = run.summary()
    assert summary["status"] == "completed", summary["error"]
    assert (summary["world_size"], summary["parallel"]) == (2, "DDP x2 gloo, 2 nodes")
    local = trained(tmp_path / "local", "--devices", "2")
    diff = subprocess.run([sys.executable, "-c", WEIGHTS_DIFF, str(last_checkpoint(run)),
                           str(last_checkpoint(local))], capture_output=True, text=True,
                          check=True, timeout=120)
    assert float(diff.stdout) < 1e-6


@pytest.mark.torch
@requires_torch
def test_a_stop_on_the_joining_machine_stops_the_whole_run(tmp_path) -> None:
    """SIGTERM to node 1's `tuitrain train` (its agent passes it to its worker): the worker
    asks in the next decision, and every rank stops at the same step, checkpointed."""
    joined, hosted, run = long_run(tmp_path)
    joined.send_signal(signal.SIGTERM)
    joined.communicate(timeout=60)
    hosted.communicate(timeout=60)
    assert joined.returncode == 128 + signal.SIGTERM
    summary = run.summary()
    assert summary["status"] == "stopped", summary["error"]
    assert CheckpointStore(run.checkpoints, ".pt").latest().global_step == summary["global_step"]


def test_a_machine_that_cannot_see_the_run_folder_is_told_what_is_needed(tmp_path) -> None:
    """Every rank checks the folder rank 0 names (one collective: all fail together, rank
    0 recording why); here one process, and a folder it cannot see."""
    from tuitrain.core.group import SOLO
    from tuitrain.runner import shared_run

    with pytest.raises(UserError, match=r"1 of the run's processes cannot see its run folder "
                       r".*a file system they all share"):
        shared_run(SOLO, tmp_path / "on-another-machine", resume=False)
    assert shared_run(SOLO, RunDir.create(tmp_path, load_spec("mlp-digits")).path, True)[1]
