"""Seeds make runs reproducible within a framework on CPU: the same seed gives the same
metrics to the last digit, another seed gives other ones; and how many steps run per engine
call (`train.steps_per_execution`) changes nothing but speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FRAMEWORK_PARAMS, run_cli, run_folders


def final_metrics(runs: Path, framework: str, seed: int, *extra: str) -> dict[str, float]:
    res = run_cli("train", "-p", "mlp-moons", "-f", framework, "--epochs", "2", "--seed", str(seed),
                  "--set", "data.samples=400", *extra, runs_dir=runs)
    assert res.returncode == 0, res.stderr
    summary = json.loads((run_folders(runs)[-1] / "summary.json").read_text())
    return summary["metrics"]


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_same_seed_same_run(tmp_path: Path, framework: str) -> None:
    first = final_metrics(tmp_path / "a", framework, seed=3)
    again = final_metrics(tmp_path / "b", framework, seed=3)
    other = final_metrics(tmp_path / "c", framework, seed=4)
    assert first == again
    assert first != other


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_steps_per_execution_changes_nothing_but_speed(tmp_path: Path, framework: str) -> None:
    """One step per engine call, blocks of 7 (one compiled call each on TensorFlow) and the
    automatic size all train the same model, each step at its own learning rate (cosine):
    equal metrics to the last digit."""
    results = [final_metrics(tmp_path / str(n), framework, 3, "--schedule", "cosine", "--set",
                             f"train.steps_per_execution={n}") for n in (1, 7, 0)]
    assert results[0] == results[1] == results[2]
