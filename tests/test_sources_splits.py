"""Splits drawn from the seed and recorded in the run folder (`splits.npz`): the same rows on
resume, eval and export, and a one-line error when the data changed size since."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, requires_torch, run_cli, run_folders

from tuitrain.core import split_index
from tuitrain.core.data import load_splits
from tuitrain.core.errors import UserError
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import DataSpec
from tuitrain.core.split_index import SplitIndex

MOONS = DataSpec("moons", samples=300)


def test_a_split_is_recorded_and_read_back(tmp_path: Path) -> None:
    index = load_splits(MOONS, seed=7).index
    assert index is not None and index.total == 300
    path = tmp_path / split_index.FILE
    split_index.write(path, index)
    with np.load(path) as stored:
        assert {stored[k].dtype for k in ("train", "val", "test")} == {np.dtype(np.uint32)}
    back = split_index.read(path)
    assert back is not None
    for mine, theirs in zip(back.parts, index.parts, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert split_index.read(tmp_path / "absent.npz") is None  # a run from before


def test_the_recorded_split_is_the_one_used() -> None:
    other = SplitIndex.draw(300, 0.15, 0.15, 99, "moons")
    recorded = load_splits(MOONS, seed=0, recorded=other)
    drawn = load_splits(MOONS, seed=99)
    assert recorded.index is other
    np.testing.assert_array_equal(recorded.x_train, drawn.x_train)
    np.testing.assert_array_equal(recorded.y_test, drawn.y_test)


def test_a_changed_data_set_or_a_bad_file_is_a_one_line_error(tmp_path: Path) -> None:
    index = load_splits(MOONS, seed=0).index
    with pytest.raises(UserError) as exc:
        load_splits(DataSpec("moons", samples=299), seed=0, recorded=index)
    text = str(exc.value)
    assert "holds 299 samples, but the run's recorded split (splits.npz) is of 300" in text
    assert "the data changed" in text and "\n" not in text
    path = tmp_path / split_index.FILE
    path.write_bytes(b"not a zip")
    with pytest.raises(UserError, match=r"splits.npz: not a valid split file \("):
        split_index.read(path)
    np.savez(path, train=np.array([0, 5]), val=np.array([1]), test=np.array([2]))
    with pytest.raises(UserError, match="rows must be whole numbers below 4"):
        split_index.read(path)


@requires_torch
def test_a_run_records_its_split_and_eval_refuses_changed_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(200, 2)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, 2, 200))
    runs = tmp_path / "runs"
    args = ("train", "-p", "mlp-moons", "-f", "torch", "--epochs", "1", "--data")
    out = run_cli(*args, str(tmp_path / "x.npy"), "--target", "y.npy", runs_dir=runs)
    assert out.returncode == 0, out.stdout + out.stderr
    [folder] = run_folders(runs)
    run = RunDir(folder)
    recorded = split_index.read(run.splits)
    assert recorded is not None
    drawn = load_splits(run.read_spec().data, seed=0).index
    assert drawn is not None
    for mine, theirs in zip(recorded.parts, drawn.parts, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert run_cli("eval", run.id, runs_dir=runs).returncode == 0
    np.save(tmp_path / "x.npy", rng.normal(size=(150, 2)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, 2, 150))
    out = run_cli("eval", run.id, runs_dir=runs)
    assert_one_line_error(out, "holds 150 samples", "the data changed since the run started")


def test_a_npy_without_target_is_refused_before_a_run_folder_exists(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((20, 2), np.float32))
    runs = tmp_path / "runs"
    out = run_cli("train", "-p", "mlp-moons", "--data", str(tmp_path / "x.npy"), runs_dir=runs)
    assert_one_line_error(out, "a .npy file holds the inputs only; pass --target")
    assert run_folders(runs) == []
