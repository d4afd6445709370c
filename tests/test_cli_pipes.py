"""Every command's output can be piped into a reader that stops early (`head`, `grep -q`,
`less` quit at once) and ends quietly, as Unix tools do: no traceback, no "Exception ignored"
line, and the exit status of a tool killed by SIGPIPE (141). Real pipes, real child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, cli_env, requires_torch, run_folders
from fake_runs import write_run

from tuitrain.core.events import FINAL_STATUSES
from tuitrain.core.rundir import RunDir

SIGPIPE_EXIT = 141

COMMANDS = [
    ["presets"],
    ["presets", "--json"],
    ["runs"],
    ["runs", "--json"],
    ["summary", "-p", "cnn-digits"],
    ["--help"],
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few recorded runs for `tuitrain runs` to list."""
    runs_dir = tmp_path_factory.mktemp("runs")
    for i in range(3):
        write_run(runs_dir, f"20260101-00000{i}-mlp-moons-torch")
    return runs_dir


def cmd(args: list[str], runs: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tuitrain",
        *args,
        *(["--runs-dir", str(runs)] if args[0] == "runs" else []),
    ]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_closed_pipe_ends_quietly_with_the_sigpipe_status(args: list[str], runs: Path) -> None:
    """The reader has gone before the first write, so every write fails with EPIPE (with a
    real reader that depends on timing: output that fits the pipe's buffer may never meet
    the closed end)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = subprocess.run(
            cmd(args, runs),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=REPO,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert out.stderr == "", out.stderr
    # argparse drops a failed write of its help itself and exits 0.
    assert out.returncode == (0 if args == ["--help"] else SIGPIPE_EXIT)


def pipeline(args: list[str], reader: list[str], runs: Path) -> tuple[int, str, int, str]:
    """`tuitrain ARGS | READER`: (tuitrain's exit status, its stderr, the reader's, its output)."""
    producer = subprocess.Popen(
        cmd(args, runs),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )
    assert producer.stdout is not None and producer.stderr is not None
    consumer = subprocess.run(
        reader, stdin=producer.stdout, capture_output=True, text=True, timeout=120, check=False
    )
    producer.stdout.close()  # only the reader holds the pipe now
    err = producer.stderr.read()
    return producer.wait(timeout=120), err, consumer.returncode, consumer.stdout


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_head_takes_the_first_line(args: list[str], runs: Path) -> None:
    code, err, head_code, first = pipeline(args, ["head", "-n", "1"], runs)
    assert err == "", err
    assert code in (0, SIGPIPE_EXIT) and head_code == 0
    assert len(first.splitlines()) == 1


@pytest.mark.parametrize(("args", "needle"), [(["runs"], "mlp-moons"), (["presets"], "digits")])
def test_grep_q_stops_at_the_first_match(args: list[str], needle: str, runs: Path) -> None:
    code, err, grep_code, _ = pipeline(args, ["grep", "-q", needle], runs)
    assert err == "", err
    assert code in (0, SIGPIPE_EXIT) and grep_code == 0


@pytest.mark.torch
@requires_torch
def test_train_output_into_head(tmp_path: Path) -> None:
    """`tuitrain train ... | head -n 1`: the first line, then the CLI ends quietly. The run
    itself goes on as after any other end of its CLI and finishes (a one-epoch run)."""
    runs = tmp_path / "runs"
    args = ["train", "-p", "mlp-moons", "-f", "torch", "--epochs", "1", "--runs-dir", str(runs)]
    code, err, _, first = pipeline(args, ["head", "-n", "1"], runs)
    assert first.startswith("run folder: "), first
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert code == SIGPIPE_EXIT, err
    (folder,) = run_folders(runs)
    run = RunDir(folder)
    deadline = time.monotonic() + 120
    while run.is_alive() or run.summary().get("status") not in FINAL_STATUSES:
        assert time.monotonic() < deadline, run.summary()
        time.sleep(0.2)
