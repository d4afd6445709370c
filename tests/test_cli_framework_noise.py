"""A framework's start-up noise (C++ log lines written straight to fd 2, like TensorFlow's
`E0000 ... failed call to cuInit`) stays out of the terminal on every command: a command's fd 2
holds only tuitrain's own lines. The test hook `TUITRAIN_TEST_FD2_NOISE` makes every framework
import write such a line with `os.write(2, ...)`, since the frameworks CI installs may load
quietly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import assert_one_line_error, cli_env, requires_torch, run_cli, run_folders

from tuitrain.backends import TEST_FD2_NOISE
from tuitrain.cli.framework_noise import fd2_into

NOISE = "E0000 00:00:1700000000.000000 1 cuda_executor.cc:1228] failed call to cuInit (simulated)"


def test_fd2_goes_to_the_log_during_the_block_and_comes_back(tmp_path: Path) -> None:
    log = tmp_path / "runner.log"
    log.write_bytes(b"earlier\n")
    before = os.fstat(2)
    with fd2_into(log):
        os.write(2, b"native noise\n")
        assert os.fstat(2).st_ino == log.stat().st_ino
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)
    assert log.read_bytes() == b"earlier\nnative noise\n"


def test_fd2_comes_back_when_the_block_raises_and_an_unwritable_log_drops_the_noise(
    tmp_path: Path,
) -> None:
    before = os.fstat(2)
    with pytest.raises(ValueError), fd2_into(tmp_path / "no-such-folder" / "runner.log"):
        os.write(2, b"native noise\n")
        assert os.fstat(2).st_rdev == os.stat(os.devnull).st_rdev
        raise ValueError
    assert os.fstat(2).st_ino == before.st_ino


@pytest.mark.torch
@requires_torch
def test_commands_that_load_a_framework_keep_its_noise_off_fd2(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = cli_env(**{TEST_FD2_NOISE: NOISE})

    def cli(*args: str) -> tuple[int, str, str]:
        out = run_cli(*args, runs_dir=runs, env=env, timeout=180)
        assert "Traceback" not in out.stderr, out.stderr
        return out.returncode, out.stdout, out.stderr

    # train: the framework loads in the runner, whose fd 2 is runner.log.
    code, _, err = cli("train", "-p", "mlp-moons", "-f", "torch", "--epochs", "1")
    assert (code, err) == (0, "")
    (folder,) = run_folders(runs)
    log = folder / "runner.log"
    assert log.read_text().count(NOISE) == 1

    # eval and export load it in the CLI process: the noise goes to the run's runner.log.
    code, out, err = cli("eval", folder.name)
    assert (code, err) == (0, "") and "accuracy" in out
    code, out, err = cli("export", folder.name)
    assert (code, err) == (0, "") and "exported as torch-export" in out
    assert log.read_text().count(NOISE) == 3

    # An error found after the framework loaded still reaches the terminal, alone.
    out = run_cli("export", folder.name, "--format", "tflite", runs_dir=runs, env=env)
    assert_one_line_error(out, "unknown export format for torch 'tflite'")
    assert log.read_text().count(NOISE) == 4


@pytest.mark.torch
@requires_torch
def test_devices_keeps_the_noise_of_every_framework_off_fd2() -> None:
    """Each installed framework is asked in a child process whose stderr is not shown."""
    out = run_cli("devices", env=cli_env(**{TEST_FD2_NOISE: NOISE}), timeout=300)
    assert (out.returncode, out.stderr) == (0, "") and "cpu" in out.stdout
