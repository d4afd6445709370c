"""A person's own image folder with their own model, end to end through the CLI as the
README's walkthrough runs it, in every framework: photos of several sizes resized to
`data.image_size`, streamed and augmented (crop, flip), trained, resumed, evaluated,
exported, and fine-tuned from with a frozen layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FRAMEWORK_PARAMS, run_cli, run_folders

from tuitrain.core.rundir import RunDir

Image = pytest.importorskip("PIL.Image")

TORCH_MODEL = """
from torch import nn

def build_model(input_shape, num_outputs):
    channels, height, width = input_shape
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * (height // 2) * (width // 2), num_outputs))
"""
KERAS_MODEL = """
import keras

def build_model(input_shape, num_outputs):
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv"),
        keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
        keras.layers.Dense(num_outputs, name="head")])
"""
FROZEN = {"torch": "0", "tensorflow": "conv", "keras": "conv"}


def photos(root: Path) -> Path:
    """Two classes of JPEGs of three sizes: reddish and bluish noise."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("apples", "plums")):
        (root / name).mkdir(parents=True)
        for i in range(24):
            w, h = (20, 16, 24)[i % 3], (16, 20, 12)[i % 3]
            pixels = rng.integers(0, 120, (h, w, 3))
            pixels[..., 2 * label] += 120
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.jpg")
    return root


@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_own_model_on_own_photos(tmp_path: Path, framework: str) -> None:
    data = photos(tmp_path / "photos")
    model = tmp_path / "my_model.py"
    model.write_text(TORCH_MODEL if framework == "torch" else KERAS_MODEL)
    runs = tmp_path / "runs"

    def cli(*args: str, cwd: Path = tmp_path) -> str:
        out = run_cli(*args, runs_dir=runs, cwd=cwd, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    cli("train", "-p", "resnet20-cifar10", "-f", framework, "--model", model.name,
        "--data", str(data), "--set", "data.image_size=16", "--epochs", "2",
        "--batch-size", "8", "--set", "data.workers=1")
    (first,) = run_folders(runs)
    run = RunDir(first)
    assert run.summary()["status"] == "completed"
    assert run.read_spec().data.augment == ("crop", "flip")
    cli("resume", run.id, "--epochs", "3", cwd=runs)  # the data's path was recorded whole
    assert run.summary()["epochs_completed"] == 3
    assert "accuracy" in cli("eval", run.id)
    assert "(N, 16, 16, 3)" in cli("export", run.id)
    cli("train", "-p", "resnet20-cifar10", "-f", framework, "--model", model.name,
        "--data", str(data), "--set", "data.image_size=16", "--epochs", "1",
        "--batch-size", "8", "--init-from", run.id,
        "--set", f"train.freeze=[\"{FROZEN[framework]}\"]")
    tuned = RunDir(next(p for p in run_folders(runs) if p != first))
    assert tuned.summary()["status"] == "completed"
    assert tuned.summary()["non_trainable_params"] > 0
