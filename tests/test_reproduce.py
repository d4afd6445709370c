"""Reproducibility (core/provenance.py, `tuitrain reproduce`): a run records the command,
the git commit and uncommitted changes of the folder it was started in, the packages, the
host; `reproduce` turns that into commands, and following them trains the same run again."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from conftest import cli_env, requires_torch, run_cli, run_folders

from tuitrain.core import provenance
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.org")
    git(repo, "config", "user.name", "t")
    (repo / "train.py").write_text("lr = 0.01\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    (repo / "train.py").write_text("lr = 0.02\n")  # uncommitted
    (repo / "notes.txt").write_text("untracked\n")
    return repo


def test_a_run_records_where_and_with_what_it_was_made(tmp_path: Path, repo: Path) -> None:
    provenance._git_state.cache_clear()
    run = RunDir.create(tmp_path / "runs", load_spec("mlp-moons"))
    provenance.record(run.path, ["/venv/bin/tuitrain", "train", "-p", "mlp-moons"], str(repo))
    record = json.loads((run.path / provenance.FILE).read_text())
    assert record["command"][1:] == ["train", "-p", "mlp-moons"] and record["cwd"] == str(repo)
    assert record["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert record["git"]["dirty"] and record["git"]["untracked"] == ["notes.txt"]
    assert "+lr = 0.02" in (run.path / provenance.DIFF).read_text()
    assert "numpy" in record["packages"] and record["host"] and record["python"]
    lines = provenance.reproduce_commands(run.path, {"torch": "2.13.0"},
                                          [(120, "lr_scale", "1", "0.5")])
    text = "\n".join(lines)
    assert f"cd {shlex.quote(str(repo))}" in lines
    assert f"git checkout {record['git']['commit']}" in text
    assert f"git apply {run.path / provenance.DIFF}" in text
    assert "untracked files then, not recorded: notes.txt" in text
    (pip,) = [line for line in lines if line.startswith("pip install ") and "==" in line]
    assert f"numpy=={record['packages']['numpy']}" in pip.split()
    assert f"tuitrain train --preset {run.path / 'config.toml'}" in lines
    assert "# changed live at step 120: lr_scale 1 -> 0.5" in text
    assert lines[-1] == "# first started as: tuitrain train -p mlp-moons"


def test_outside_a_repository_there_is_no_git_step(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "runs", load_spec("mlp-moons"))
    provenance.record(run.path, ["tuitrain"], str(tmp_path))
    record = provenance.read(run.path)
    assert record["git"] == {} and not (run.path / provenance.DIFF).exists()
    assert not any("git" in line for line in provenance.reproduce_commands(run.path, {}, []))


@pytest.mark.torch
@requires_torch
def test_following_reproduce_trains_the_same_run_again(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = run_cli("train", "-p", "mlp-moons", "-f", "torch", "--epochs", "2", "--seed", "3",
                    runs_dir=runs)
    assert first.returncode == 0, first.stderr
    (original,) = (RunDir(p) for p in run_folders(runs))
    shown = run_cli("reproduce", original.id, runs_dir=runs)
    assert shown.returncode == 0, shown.stderr
    assert "# trained with torch " in shown.stdout
    (train_line,) = [line for line in shown.stdout.splitlines()
                     if line.startswith("tuitrain train ")]
    again = run_cli(*shlex.split(train_line)[1:], env=cli_env(runs))
    assert again.returncode == 0, again.stderr
    copy = next(RunDir(p) for p in run_folders(runs) if p != original.path)
    assert copy.summary()["metrics"] == original.summary()["metrics"]  # bit for bit
    assert copy.read_spec() == original.read_spec()
