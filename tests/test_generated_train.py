"""A model with logits at each position trains on the generated `addition` task from the CLI
in torch and TensorFlow: the loss falls, `val_exact_match` is reported each epoch, and eval
scores only the answer positions (the confusion matrix counts digits + 1 labels a sample)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli, run_folders, skip_unless_installed

# An LSTM reads left to right, so it is a decoder: scored with the true prefix, its exact
# match is what greedy decoding would get (core/measures.py).
ADDER = """
name = "lstm-adder"
task = "classification"
[data]
dataset = "addition"
seed = 7
samples = 2000
[model]
layers = [
  { type = "embedding", input_dim = 10, output_dim = 16 },
  { type = "lstm", units = 64, return_sequences = true },
  { type = "dense", units = "auto" },
]
[train]
loss = "cross_entropy"
metrics = ["exact_match"]
epochs = 3
batch_size = 32
[optimizer]
lr = 0.01
"""


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_addition_trains_reports_val_exact_match_and_evals_answer_positions(
    framework: str, tmp_path: Path
) -> None:
    skip_unless_installed(framework)
    preset = tmp_path / "lstm-adder.toml"
    preset.write_text(ADDER)
    runs = tmp_path / "runs"
    train = run_cli("train", "-p", str(preset), "--set", f"run.framework={framework}",
                    runs_dir=runs, timeout=300)  # fmt: skip
    assert train.returncode == 0, train.stderr
    (run,) = run_folders(runs)
    epochs = [
        e for line in (run / "metrics.jsonl").read_text().splitlines()
        if (e := json.loads(line))["event"] == "epoch"
    ]  # fmt: skip
    assert len(epochs) == 3
    assert all(0 <= e["metrics"]["val_exact_match"] <= 1 for e in epochs)
    assert epochs[-1]["metrics"]["val_loss"] < epochs[0]["metrics"]["val_loss"]
    evaluated = run_cli("eval", run.name, runs_dir=runs, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads((run / "eval.json").read_text())
    assert sum(map(sum, report["confusion"])) == 300 * 3  # 300 test problems, 3 answers each
    assert 0 <= report["metrics"]["exact_match"] <= report["metrics"]["accuracy"] <= 1
