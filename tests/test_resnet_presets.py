"""The residual presets: `resnet-digits` and `resnet20-cifar10` build the networks they say
(counted by hand here; every framework builds the same counts in the parity tests of
test_shapes.py and test_backend_tensorflow.py), `repeat` on a block reads as copies of it, a
few steps of each preset train in every framework (CIFAR-10 from a fixture in its own file
format, never downloaded), and, as a `slow` test, resnet-digits reaches 0.97 validation
accuracy in every framework."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_env, requires_tensorflow, requires_torch, run_cli, run_folders

from tuitrain.core import validate
from tuitrain.core.datasets import BUILTIN
from tuitrain.core.errors import UserError
from tuitrain.core.events import EpochEnd
from tuitrain.core.presets import load_spec, spec_from_document
from tuitrain.core.rundir import RunDir

FRAMEWORKS = [
    pytest.param("torch", marks=[pytest.mark.torch, requires_torch], id="torch"),
    *(
        pytest.param(
            name,
            marks=[
                pytest.mark.tensorflow,
                requires_tensorflow,
            ],
            id=name,
        )
        for name in ("tensorflow", "keras")
    ),
]


def conv(k: int, c_in: int, c_out: int) -> int:
    """A k x k convolution without bias."""
    return k * k * c_in * c_out


def block(c_in: int, c_out: int) -> int:
    """A basic block's trainable parameters: two 3x3 convolutions, two batchnorms (scale and
    shift), and a 1x1 projection when the channels change."""
    shortcut = c_in * c_out if c_in != c_out else 0
    return conv(3, c_in, c_out) + conv(3, c_out, c_out) + 2 * 2 * c_out + shortcut


def residual_rows(name: str) -> list[tuple[tuple[int, ...], int, str]]:
    _, summary = validate.check(load_spec(name))
    return [(r.output_shape, r.total, r.note) for r in summary.rows if r.type == "residual"]


def test_resnet20_is_the_classic_network() -> None:
    """A 3x3 stem at 16 channels, 3 stages of 3 basic blocks at 16, 32 and 64 channels on
    32, 16 and 8 pixels, global average pooling, 10 classes: 0.27M parameters."""
    _, summary = validate.check(load_spec("resnet20-cifar10"))
    stem = conv(3, 3, 16) + 2 * 16
    stages = [
        block(16, 16) * 3,
        block(16, 32) + block(32, 32) * 2,
        block(32, 64) + block(64, 64) * 2,
    ]
    assert summary.params == stem + sum(stages) + 64 * 10 + 10 == 272_282
    assert summary.non_trainable == 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)  # moving mean, var
    shortcut = "1x1 conv shortcut, stride 2"
    assert residual_rows("resnet20-cifar10") == [
        *[((32, 32, 16), block(16, 16), "")] * 3,
        ((16, 16, 32), block(16, 32), shortcut),
        *[((16, 16, 32), block(32, 32), "")] * 2,
        ((8, 8, 64), block(32, 64), shortcut),
        *[((8, 8, 64), block(64, 64), "")] * 2,
    ]
    assert summary.rows[-1].output_shape == (10,)
    convs = [r for r in summary.walk() if r.type == "conv2d"]
    assert len(convs) == 19, "the 20th weighted layer is the dense one"
    assert all(r.params == conv(3, r.input_shape[-1], r.output_shape[-1]) for r in convs)


def test_resnet_digits_by_hand() -> None:
    _, summary = validate.check(load_spec("resnet-digits"))
    stem = conv(3, 1, 16) + 2 * 16
    blocks = 2 * block(16, 16) + block(16, 32) + block(32, 32)
    assert summary.params == stem + blocks + 32 * 10 + 10 == 42_874
    assert [shape for shape, *_ in residual_rows("resnet-digits")] == [
        (8, 8, 16),
        (8, 8, 16),
        (4, 4, 32),
        (4, 4, 32),
    ]


# ----- `repeat` -----------------------------------------------------------------------------

REPEATED = """\
name = "repeated"
description = "a block three times"
task = "classification"

[data]
dataset = "digits"

[model]
layers = [
  { type = "conv2d", filters = 4, padding = "same" },
  { type = "residual", activation = "relu", repeat = 3, layers = [
    { type = "conv2d", filters = 4, padding = "same", bias = false },
    { type = "batchnorm" },
  ] },
  { type = "flatten" },
  { type = "dense", units = "auto" },
]

[train]
loss = "cross_entropy"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "repeated.toml"
    path.write_text(text)
    return path


def test_repeat_is_copies_in_a_row(tmp_path: Path) -> None:
    spec = load_spec(str(write(tmp_path, REPEATED)))
    assert [layer.type for layer in spec.layers] == [
        "conv2d",
        "residual",
        "residual",
        "residual",
        "flatten",
        "dense",
    ]
    assert spec.layers[1] == spec.layers[2] == spec.layers[3]
    assert "repeat" not in dict(spec.layers[1].params), "the spec holds the copies"
    _, summary = validate.check(spec)
    assert [r.label for r in summary.rows[1:4]] == ["residual_1", "residual_2", "residual_3"]
    assert [r.label for r in summary.rows[3].children] == ["conv2d_3.0", "batchnorm_3.1"]
    assert summary.params == (9 * 4 + 4) + 3 * (9 * 4 * 4 + 8) + (8 * 8 * 4 * 10 + 10)
    assert spec_from_document(spec.to_document()) == spec  # as config.toml stores it


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "repeat = 3,",
            "repeat = 0,",
            "model.layers[1]: residual repeat must be in [1, 1000], got 0",
        ),
        ("repeat = 3,", 'repeat = "3",', "repeat must be a whole number, got '3'"),
        (
            '{ type = "flatten" }',
            '{ type = "flatten", repeat = 2 }',
            "model.layers[4]: unknown key for flatten 'repeat'",
        ),
        # after a repeated block, a mistake is still found on its own line
        ('{ type = "dense", units = "auto" }', '{ type = "dense", units = 0 }', "dense units"),
    ],
)
def test_repeat_mistakes_are_one_line_at_their_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    text = REPEATED.replace(old, new)
    path = write(tmp_path, text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if new in ln)
    with pytest.raises(UserError) as caught:
        load_spec(str(path))
    got = str(caught.value)
    assert "\n" not in got and got.startswith(f"{path}:{line} "), got
    assert message in got, got


# ----- training -------------------------------------------------------------------------------


def write_cifar(folder: Path, per_batch: int) -> None:
    """CIFAR-10's python version as its files are: five training batches and a test batch,
    each a pickled dict of 3072-byte rows (1024 red, then green, then blue) and labels."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    names = [name.encode() for name in BUILTIN["cifar10"].info.class_names]
    meta = {b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))


def trained(tmp_path: Path, preset: str, framework: str, *options: str) -> RunDir:
    """Train `preset` through the CLI in a child process (the Keras cache: a CIFAR-10 fixture
    of 60 images); returns the completed run."""
    keras_home = tmp_path / "keras"
    write_cifar(keras_home / "datasets" / "cifar-10-batches-py", per_batch=10)
    runs = tmp_path / "runs"
    out = run_cli(
        "train",
        "-p",
        preset,
        "-f",
        framework,
        *options,
        runs_dir=runs,
        env=cli_env(KERAS_HOME=str(keras_home)),
        timeout=1200,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (folder,) = run_folders(runs)
    run = RunDir(folder)
    assert run.summary()["status"] == "completed"
    return run


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize(
    ("preset", "options", "steps"),
    [
        # 1,257 training images of the digits in batches of 128
        ("resnet-digits", ("--epochs", "1", "--batch-size", "128"), 10),
        # 42 training images of the fixture's 60 in batches of 16
        ("resnet20-cifar10", ("--epochs", "1", "--batch-size", "16"), 3),
    ],
)
def test_a_few_steps_train(
    tmp_path: Path, preset: str, framework: str, options: tuple[str, ...], steps: int
) -> None:
    run = trained(tmp_path, preset, framework, *options)
    _, neutral = validate.check(load_spec(preset))
    assert run.summary()["params"] == neutral.params_for(framework)
    (epoch,) = [e for e in run.events() if isinstance(e, EpochEnd)]
    assert epoch.global_step == steps and math.isfinite(epoch.metrics["val_loss"]), epoch


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_resnet_digits_reaches_its_accuracy(tmp_path: Path, framework: str) -> None:
    """The preset as shipped, to its last epoch: >= 0.97 validation accuracy."""
    run = trained(tmp_path, "resnet-digits", framework)
    summary = run.summary()
    accuracy = summary["metrics"]["val_accuracy"]
    print(f"resnet-digits {framework}: val_accuracy {accuracy:.4f}, {summary['global_step']} "
          f"steps in {summary['train_seconds']:.0f} s")
    assert accuracy >= 0.97
