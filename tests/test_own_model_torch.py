"""PyTorch: a person's own model file trained, resumed, evaluated and exported through the
CLI; bad files refused in one line before any run folder; a run's copy owned by another user
refused without `--trust-model-code`; fine-tuning from another run with frozen layers.

Every run goes through the CLI in child processes, as in test_cli_torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, cli_env, requires_torch, run_cli, run_folders

from tuitrain.core.events import LogMessage, RunStarted
from tuitrain.core.rundir import RunDir

pytestmark = requires_torch

# The digits are (8, 8, 1) images: torch's build_model must get them channels-first.
OWN_MODEL = """
from torch import nn

def build_model(input_shape, num_outputs):
    assert input_shape == (1, 8, 8), input_shape
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
        nn.Linear(4 * 8 * 8, num_outputs),
    )
"""
OWN_PARAMS = (1 * 4 * 9 + 4) + 2 * 4 + (4 * 64 * 10 + 10)


def train(tmp: Path, *args: str) -> RunDir:
    runs = tmp / "runs"
    before = set(run_folders(runs))
    proc = run_cli("train", "-f", "torch", *args, runs_dir=runs, cwd=tmp, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = set(run_folders(runs)) - before
    return RunDir(path)


def test_own_model_trains_resumes_evaluates_and_exports(tmp_path: Path) -> None:
    (tmp_path / "my_model.py").write_text(OWN_MODEL)
    run = train(tmp_path, "-p", "cnn-digits", "--model", "my_model.py", "--epochs", "1")
    assert (run.path / "model.py").read_text() == OWN_MODEL
    summary = run.summary()
    assert summary["status"] == "completed" and summary["params"] == OWN_PARAMS
    assert summary["model_sha256"] == run.read_spec().model_file.sha256
    assert summary["metrics"]["val_accuracy"] > 0.3
    (tmp_path / "my_model.py").write_text("raise SystemExit('edited away')\n")  # copy only
    resumed = run_cli("resume", run.id, "--epochs", "2", runs_dir=run.path.parent, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert run.summary()["epochs_completed"] == 2
    evaluated = run_cli("eval", run.id, runs_dir=run.path.parent, timeout=240)
    assert evaluated.returncode == 0 and "accuracy" in evaluated.stdout, evaluated.stderr
    exported = run_cli("export", run.id, runs_dir=run.path.parent, timeout=240)
    assert exported.returncode == 0, exported.stderr
    assert "inputs:  float32 (N, 8, 8, 1)" in exported.stdout  # channels-last, as always


BAD_FILES = {
    "syntax": ("def build_model(:\n", "does not import (SyntaxError"),
    "import": ("import no_such_module_here\n", "does not import (ModuleNotFoundError"),
    "missing": ("def build(input_shape, num_outputs):\n    pass\n", "defines no build_model"),
    "type": (
        "def build_model(input_shape, num_outputs):\n    return 3\n",
        "returned int; torch expects a torch.nn.Module (torch gets images channels-first",
    ),
    "raises": (
        "def build_model(input_shape, num_outputs):\n    raise ValueError('no')\n",
        "build_model((1, 8, 8), 10) raised ValueError: no",
    ),
    "shape": (
        "from torch import nn\ndef build_model(input_shape, num_outputs):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_outputs + 1))\n",
        "the model outputs shape (11,) per sample; the loss on this data needs (10,)",
    ),
}


def test_bad_model_files_are_one_line_errors_and_leave_no_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for name, (text, needle) in BAD_FILES.items():
        (tmp_path / f"{name}.py").write_text(text)
        proc = run_cli(
            "train",
            "-p",
            "cnn-digits",
            "-f",
            "torch",
            "--model",
            f"{name}.py",
            runs_dir=runs,
            cwd=tmp_path,
        )
        assert_one_line_error(proc, f"{name}.py", needle)
    assert run_folders(runs) == []


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give a file to another user")
def test_another_users_copy_needs_trust_model_code(tmp_path: Path) -> None:
    (tmp_path / "my_model.py").write_text(OWN_MODEL)
    run = train(tmp_path, "-p", "cnn-digits", "--model", "my_model.py", "--epochs", "1")
    os.chown(run.path / "model.py", 65534, 65534)
    for command in (["eval", run.id], ["resume", run.id, "--epochs", "2"]):
        refused = run_cli(*command, runs_dir=run.path.parent, timeout=240)
        assert_one_line_error(
            refused,
            "model.py: this model file belongs to another user (uid 65534)",
            "pass --trust-model-code",
        )
    assert run.summary()["epochs_completed"] == 1
    trusted = run_cli("eval", run.id, "--trust-model-code", runs_dir=run.path.parent, timeout=240)
    assert trusted.returncode == 0, trusted.stderr


# In a child: the named tensors of two checkpoints, equal or not.
COMPARE = """
import json, sys, torch
a, b = (torch.load(p, weights_only=True)["model"] for p in sys.argv[1:3])
print(json.dumps({k: bool(torch.equal(a[k], b[k])) for k in sys.argv[3:]}))
"""


def same_tensors(first: RunDir, second: RunDir, *names: str) -> dict[str, bool]:
    paths = [str(r.path / r.summary()["last_checkpoint"]) for r in (first, second)]
    proc = subprocess.run(
        [sys.executable, "-c", COMPARE, *paths, *names],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_init_from_a_run_with_frozen_layers(tmp_path: Path) -> None:
    source = train(tmp_path, "-p", "mlp-digits", "--epochs", "1")
    tuned = train(
        tmp_path,
        "-p",
        "mlp-digits",
        "--epochs",
        "1",
        "--init-from",
        source.id,
        "--set",
        'train.freeze=["1"]',
        "--lr",
        "0.01",
    )
    summary = tuned.summary()
    assert summary["params"] == 17226 - 8320 and summary["non_trainable_params"] == 8320
    started = next(e for e in tuned.events() if isinstance(e, RunStarted))
    assert started.non_trainable == 8320
    logs = [e.text for e in tuned.events() if isinstance(e, LogMessage)]
    assert any(t.startswith("initialized 6 weights from ") for t in logs), logs
    assert tuned.read_spec().train.init_from.endswith(".pt")
    # The frozen layer is the source's, untouched; the others trained on.
    assert same_tensors(source, tuned, "1.0.weight", "1.0.bias", "3.0.weight") == {
        "1.0.weight": True,
        "1.0.bias": True,
        "3.0.weight": False,
    }


def test_init_from_a_different_model_lists_what_does_not_match(tmp_path: Path) -> None:
    source = train(tmp_path, "-p", "mlp-digits", "--epochs", "1")
    runs = source.path.parent
    proc = run_cli(
        "train",
        "-p",
        "cnn-digits",
        "-f",
        "torch",
        "--init-from",
        source.id,
        runs_dir=runs,
        cwd=tmp_path,
    )
    assert_one_line_error(
        proc,
        "weights differ in shape (checkpoint vs this model): "
        "1.0.weight (128, 64) vs (32, 32, 3, 3)",
    )
    proc = run_cli(
        "train",
        "-p",
        "mlp-digits",
        "-f",
        "keras",
        "--init-from",
        source.id,
        runs_dir=runs,
        cwd=tmp_path,
    )
    assert_one_line_error(proc, "that run trained with torch")
    assert len(run_folders(runs)) == 1


def test_frozen_preset_layers_count_as_the_summary_says() -> None:
    code = """
import json
from tuitrain.backends import torch_backend
from tuitrain.core import validate
from tuitrain.core.presets import load_spec
spec = load_spec("cnn-digits", {"train.freeze": ["0", "dense_4"]})
info, summary = validate.check(spec)
built = torch_backend.BACKEND.check_model(spec, info, init=False)
print(json.dumps({"built": list(built), "summary": [summary.params, summary.non_trainable]}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["built"] == counts["summary"]
    assert counts["summary"][1] == (9 * 32 + 32) + (512 * 64 + 64)


TIED_MODEL = """
from torch import nn

class Tied(nn.Module):
    def __init__(self, num_outputs):
        super().__init__()
        self.flat = nn.Flatten()
        self.encode = nn.Linear(64, 64, bias=False)
        self.decode = nn.Linear(64, 64, bias=False)
        self.decode.weight = self.encode.weight  # one parameter under two names
        self.head = nn.Linear(64, num_outputs)

    def forward(self, x):
        return self.head(self.decode(self.encode(self.flat(x)).relu()))

def build_model(input_shape, num_outputs):
    return Tied(num_outputs)
"""

# In a child: whether a checkpoint's two names of a tied weight load as one tensor's memory.
SHARED = """
import sys, torch
model = torch.load(sys.argv[1], weights_only=True)["model"]
print(model["encode.weight"].data_ptr() == model["decode.weight"].data_ptr())
"""


def test_tied_weights_are_written_once_and_resume(tmp_path: Path) -> None:
    """A parameter under two names (weight tying) is copied to host memory once for the
    background writer, so the checkpoint holds it once, as `torch.save` of the live model
    would; the run resumes from it."""
    (tmp_path / "tied.py").write_text(TIED_MODEL)
    run = train(tmp_path, "-p", "mlp-digits", "--model", "tied.py", "--epochs", "1")
    proc = subprocess.run(
        [sys.executable, "-c", SHARED, str(run.path / run.summary()["last_checkpoint"])],
        capture_output=True, text=True, timeout=120, env=cli_env(), check=False)
    assert proc.stdout.strip() == "True", proc.stdout + proc.stderr
    resumed = run_cli("resume", run.id, "--epochs", "2", runs_dir=run.path.parent, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
