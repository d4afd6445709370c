"""TensorFlow and Keras: a person's own Keras model file trained through the CLI, fine-tuned
from that run with a frozen layer (`--init-from`, `train.freeze`), resumed and evaluated;
bad files refused in one line before any run folder.

As in test_backend_tensorflow, TensorFlow never loads into the pytest process: every run
and every look at a checkpoint happens in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, cli_env, requires_tensorflow, run_cli, run_folders

from tuitrain.core.events import LogMessage
from tuitrain.core.rundir import RunDir

pytestmark = [
    pytest.mark.tensorflow,
    requires_tensorflow,
]

# The digits are (8, 8, 1) images: Keras' build_model gets them channels-last.
OWN_MODEL = """
import keras

def build_model(input_shape, num_outputs):
    assert input_shape == (8, 8, 1), input_shape
    return keras.Sequential([
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="body"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(num_outputs, name="head"),
    ], name="mine")
"""
BODY, HEAD = 4 * 9 + 4, 4 * 64 * 10 + 10

# In a child: build each run's model from its spec, load its last checkpoint, and say
# whether the two runs' layers hold the same weights.
COMPARE = """
import json, sys
from pathlib import Path
from tuitrain import backends
from tuitrain.core.data import load_splits
from tuitrain.core.rundir import RunDir
weights = []
for folder in sys.argv[1:3]:
    run = RunDir(Path(folder))
    spec = run.read_spec()
    backend = backends.load(spec.run.framework)
    from tuitrain.backends.keras_layers import named_layers
    engine = backend.engine(spec, load_splits(spec.data, spec.run.seed, task=spec.task))
    engine.load(run.path / run.summary()["last_checkpoint"], with_optimizer=False)
    layers = named_layers(engine.model)
    weights.append({n: [w.tolist() for w in layers[n].get_weights()] for n in ("body", "head")})
print(json.dumps({n: weights[0][n] == weights[1][n] for n in ("body", "head")}))
"""


def train(tmp: Path, framework: str, *args: str) -> RunDir:
    runs = tmp / "runs"
    before = set(run_folders(runs))
    proc = run_cli("train", "-f", framework, *args, runs_dir=runs, cwd=tmp, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = set(run_folders(runs)) - before
    return RunDir(path)


@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
def test_own_model_fine_tuned_with_a_frozen_layer(tmp_path: Path, framework: str) -> None:
    (tmp_path / "my_model.py").write_text(OWN_MODEL)
    own = ("-p", "cnn-digits", "--model", "my_model.py", "--epochs", "1")
    source = train(tmp_path, framework, *own)
    assert source.summary()["status"] == "completed"
    assert source.summary()["params"] == BODY + HEAD
    tuned = train(
        tmp_path,
        framework,
        *own,
        "--init-from",
        source.id,
        "--set",
        'train.freeze=["body"]',
        "--lr",
        "0.01",
    )
    summary = tuned.summary()
    assert summary["params"] == HEAD and summary["non_trainable_params"] == BODY
    logs = [e.text for e in tuned.events() if isinstance(e, LogMessage)]
    assert any(t.startswith("initialized 4 weights from ") for t in logs), logs

    runs = tuned.path.parent
    resumed = run_cli("resume", tuned.id, "--epochs", "2", runs_dir=runs, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert tuned.summary()["epochs_completed"] == 2
    evaluated = run_cli("eval", tuned.id, runs_dir=runs, timeout=300)
    assert evaluated.returncode == 0 and "accuracy" in evaluated.stdout, evaluated.stderr

    proc = subprocess.run(
        [sys.executable, "-c", COMPARE, str(source.path), str(tuned.path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr
    # The frozen layer is still the source's after two epochs; the head trained on.
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"body": True, "head": False}


BAD_FILES = {
    "layer": (
        "import keras\ndef build_model(input_shape, num_outputs):\n"
        "    return keras.layers.Dense(num_outputs)\n",
        "returned Dense; keras expects a keras.Model (Keras gets images channels-last",
    ),
    "shape": (
        "import keras\ndef build_model(input_shape, num_outputs):\n"
        "    return keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(3)])\n",
        "the model outputs shape (3,) per sample; the loss on this data needs (10,)",
    ),
}


def test_bad_keras_model_files_leave_no_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for name, (text, needle) in BAD_FILES.items():
        (tmp_path / f"{name}.py").write_text(text)
        proc = run_cli(
            "train",
            "-p",
            "cnn-digits",
            "-f",
            "keras",
            "--model",
            f"{name}.py",
            runs_dir=runs,
            cwd=tmp_path,
            timeout=300,
        )
        assert_one_line_error(proc, f"{name}.py", needle)
    (tmp_path / "my_model.py").write_text(OWN_MODEL)
    proc = run_cli(
        "train",
        "-p",
        "cnn-digits",
        "-f",
        "keras",
        "--model",
        "my_model.py",
        "--set",
        'train.freeze=["nope"]',
        runs_dir=runs,
        cwd=tmp_path,
        timeout=300,
    )
    assert_one_line_error(
        proc, "train.freeze: no layer 'nope' in my_model.py; its layers: body, flat, head"
    )
    assert run_folders(runs) == []


# In a child: a preset with frozen layers as the backend builds it, and the summary's counts.
FROZEN_COUNTS = """
import json, sys
from tuitrain import backends
from tuitrain.core import validate
from tuitrain.core.presets import load_spec
spec = load_spec("cnn-digits", {"run.framework": sys.argv[1], "train.freeze": ["0", "dense_4"]})
info, summary = validate.check(spec)
built = backends.load(sys.argv[1]).check_model(spec, info, init=False)
print(json.dumps({"built": list(built), "summary": [summary.params, summary.non_trainable]}))
"""


@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
def test_frozen_preset_layers_count_as_the_summary_says(framework: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", FROZEN_COUNTS, framework],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=cli_env(),
    )
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["built"] == counts["summary"]
    assert counts["summary"][1] == (9 * 32 + 32) + (512 * 64 + 64)
