"""The layer registry: every registered type has a builder in every backend and each backend
builds every type with the neutral summary's parameter count and output shape; specs nest
(`layers = [...]` inside a `sequential` layer) through parsing, summary, config round trip,
and training, checkpoints and eval in each framework."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    REPO,
    assert_one_line_error,
    cli_env,
    requires_tensorflow,
    requires_torch,
    run_cli,
    run_folders,
)
from layer_stacks import EXTRA_STACKS, TOKEN_INPUT, layer_types
from test_reliability import assert_identical, last_checkpoint, only_run, resume, train

from tuitrain.core import validate
from tuitrain.core.errors import UserError
from tuitrain.core.layers import ACTIVATIONS, LAYER_TYPES
from tuitrain.core.presets import load_spec, spec_from_document
from tuitrain.core.rundir import RunDir
from tuitrain.core.shapes import summarize

requires_keras = pytest.mark.skipif(
    importlib.util.find_spec("keras") is None, reason="keras is not installed"
)

NESTED = """\
name = "nested"
description = "blocks inside blocks"
task = "classification"

[data]
dataset = "digits"

[model]
layers = [
  { type = "sequential", layers = [
    { type = "conv2d", filters = 4, padding = "same", activation = "relu" },
    { type = "sequential", layers = [
      { type = "batchnorm" },
      { type = "maxpool2d" },
    ] },
  ] },
  { type = "flatten" },
  { type = "dense", units = "auto" },
]

[train]
loss = "cross_entropy"
epochs = 2
batch_size = 32
metrics = ["accuracy"]

[optimizer]
lr = 0.01
"""


# A residual CNN block and a transformer block on the digits (the 4 x 4 x 4 image the block
# ends in as 4 steps). A layernorm, not a batchnorm: after 160 steps a batchnorm's moving
# statistics still lag, and validation accuracy swings from run to run.
BLOCKS = NESTED.replace(
    """layers = [
  { type = "sequential", layers = [
    { type = "conv2d", filters = 4, padding = "same", activation = "relu" },
    { type = "sequential", layers = [
      { type = "batchnorm" },
      { type = "maxpool2d" },
    ] },
  ] },
  { type = "flatten" },
  { type = "dense", units = "auto" },
]""",
    """layers = [
  { type = "residual", activation = "relu", layers = [
    { type = "conv2d", filters = 4, padding = "same" },
    { type = "layernorm" },
    { type = "maxpool2d" },
  ] },
  { type = "reshape", shape = [4, 16] },
  { type = "posembedding" },
  { type = "transformer", heads = 2, causal = true, mlp_ratio = 2 },
  { type = "layernorm" },
  { type = "globalavgpool1d" },
  { type = "dense", units = "auto" },
]""",
).replace("epochs = 2", "epochs = 4")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nested.toml"
    path.write_text(text)
    return path


def test_the_stacks_use_every_type_and_activation() -> None:
    """So that building them (below, and in the TensorFlow parity test) covers the registry."""
    used = {t for layers in EXTRA_STACKS.values() for t in layer_types(layers)}
    assert used == set(LAYER_TYPES)

    def activations(layers: list[dict]) -> set[str]:
        found = set()
        for layer in layers:
            found |= {layer[k] for k in ("activation", "name") if k in layer}
            found |= activations(layer.get("layers", []))
        return found

    assert set().union(*map(activations, EXTRA_STACKS.values())) == set(ACTIVATIONS)


def test_nested_summary_is_a_tree(tmp_path: Path) -> None:
    _, summary = validate.check(load_spec(str(write(tmp_path, NESTED))))
    assert [(r.label, r.output_shape, r.params) for r in summary.walk()] == [
        ("sequential_0", (4, 4, 4), 0),
        ("conv2d_0.0", (8, 8, 4), 3 * 3 * 1 * 4 + 4),
        ("sequential_0.1", (4, 4, 4), 0),
        ("batchnorm_0.1.0", (8, 8, 4), 8),
        ("maxpool2d_0.1.1", (4, 4, 4), 0),
        ("flatten_1", (64,), 0),
        ("dense_2", (10,), 650),
    ]
    assert [r.label for r in summary.rows] == ["sequential_0", "flatten_1", "dense_2"]
    assert summary.params == 40 + 8 + 650 and summary.non_trainable == 8
    # As a table: nested layers on branches under their block, whose params are its subtree's;
    # the shapes in one column whatever the depth.
    lines = summary.lines()[2:9]
    assert [line[:23].rstrip() for line in lines] == [
        "sequential_0",
        "├─ conv2d_0.0",
        "└─ sequential_0.1",
        "   ├─ batchnorm_0.1.0",
        "   └─ maxpool2d_0.1.1",
        "flatten_1",
        "dense_2",
    ]
    assert [line.split()[-1] for line in lines] == ["48", "40", "8", "8", "0", "0", "650"]
    assert {line.index("(") for line in lines} == {23}


def test_residual_basic_blocks_count_their_shortcuts() -> None:
    """The CIFAR basic block: an identity shortcut adds nothing, a block that widens and
    halves the image adds a 1x1 stride-2 convolution without bias, a dense block a matrix."""
    doc = {
        "task": "classification",
        "data": {"dataset": "digits"},
        "model": {"layers": EXTRA_STACKS["residual-stack"]},
        "train": {"loss": "cross_entropy"},
    }
    rows = summarize(spec_from_document(doc).layers, (8, 8, 1), 10).rows
    conv = [3 * 3 * 4 * 4 + 4, 3 * 3 * 4 * 8 + 8, 3 * 3 * 8 * 8 + 8]
    assert [(r.type, r.output_shape, r.params) for r in rows[3:5]] == [
        ("residual", (8, 8, 4), 0),
        ("residual", (4, 4, 8), 4 * 8),
    ]
    assert rows[4].note == "1x1 conv shortcut, stride 2"
    assert (
        "│  1x1 conv shortcut, stride 2, 32 params"
        in summarize(spec_from_document(doc).layers, (8, 8, 1), 10).lines()
    ), "under the block, the part of its params that are its own"
    assert sum(r.params for r in rows[3].walk()) == 2 * conv[0] + 2 * 8
    assert sum(r.params for r in rows[4].walk()) == 4 * 8 + conv[1] + conv[2] + 2 * 16
    assert (rows[6].params, rows[6].note) == (8 * 6, "dense shortcut")


def test_tied_embedding_counts_its_table_once() -> None:
    doc = {
        "task": "classification",
        "data": {"dataset": "digits"},
        "model": {"layers": EXTRA_STACKS["tied-stack"]},
        "train": {"loss": "cross_entropy"},
    }
    (row,) = summarize(spec_from_document(doc).layers, (12,), 3).rows
    assert (row.output_shape, row.params, row.note) == ((3,), 3 * 8, "output tied to the embedding")
    assert [r.input_shape for r in row.children[:1]] == [(12, 8)]


def test_transformer_block_is_its_nested_spec() -> None:
    """Pre-norm: x + attention(layernorm(x)), x + mlp(layernorm(x)); d = 8, mlp_ratio 2."""
    doc = {
        "task": "classification",
        "data": {"dataset": "digits"},
        "model": {
            "layers": [
                {"type": "reshape", "shape": [8, 8]},
                {"type": "transformer", "heads": 2, "mlp_ratio": 2},
            ]
        },
        "train": {"loss": "cross_entropy"},
    }
    (_, block) = summarize(spec_from_document(doc).layers, (8, 8, 1), 10).rows
    lines = summarize(spec_from_document(doc).layers, (8, 8, 1), 10).lines()
    assert lines[6].startswith("│  └─ attention_1.0.1  (8, 8)"), "no label runs into its shape"
    assert [(r.label, r.output_shape, r.params) for r in block.walk()] == [
        ("transformer_1", (8, 8), 0),
        ("residual_1.0", (8, 8), 0),
        ("layernorm_1.0.0", (8, 8), 16),
        ("attention_1.0.1", (8, 8), 4 * 8 * 8 + 4 * 8),
        ("residual_1.1", (8, 8), 0),
        ("layernorm_1.1.0", (8, 8), 16),
        ("dense_1.1.1", (8, 16), 8 * 16 + 16),
        ("dense_1.1.2", (8, 8), 16 * 8 + 8),
    ]


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [{"type": "residual", "layers": [{"type": "flatten"}]}],
            r"^model.layers\[0\] \(residual\): cannot add its input \(8, 8, 1\) to its "
            r"layers' output \(64,\)",
        ),
        (
            [{"type": "residual", "layers": [{"type": "conv2d", "filters": 2}]}],
            r"^model.layers\[0\] \(residual\): cannot add its input \(8, 8, 1\) to its "
            r"layers' output \(6, 6, 2\)",
        ),
        (
            [{"type": "reshape", "shape": [8, 8]}, {"type": "attention", "heads": 3}],
            r"^model.layers\[1\] \(attention\): 3 heads do not divide the 8 features$",
        ),
        (
            [{"type": "conv1d", "filters": 2}],
            r"^model.layers\[0\] \(conv1d\): needs \(steps, features\) input, got \(8, 8, 1\)$",
        ),
        (
            [
                {"type": "flatten"},
                {
                    "type": "tied_embedding",
                    "input_dim": 10,
                    "output_dim": 8,
                    "layers": [{"type": "dense", "units": 4}],
                },
            ],
            r"^model.layers\[1\] \(tied_embedding\): its layers must end in 8 features "
            r"\(output_dim\), got \(64, 4\)$",
        ),
        (
            [{"type": "posembedding"}],
            r"^model.layers\[0\] \(posembedding\): needs \(steps, features\) input",
        ),
    ],
)
def test_block_shape_errors_name_the_layer(layers: list[dict], message: str) -> None:
    doc = {
        "task": "classification",
        "data": {"dataset": "digits"},
        "model": {"layers": layers},
        "train": {"loss": "cross_entropy"},
    }
    with pytest.raises(UserError, match=message):
        summarize(spec_from_document(doc).layers, (8, 8, 1), 10)


# Run in a child with Keras on torch: the attention layer each backend builds, with Keras'
# weights copied into torch's, on the same input; and whether a later step changes an earlier
# step's output. Prints one JSON object.
ATTENTION_CHECK = """
import json
import numpy as np
import torch
import keras
from tuitrain.backends import keras_layers, torch_layers
from tuitrain.core.layers import LayerSpec
from tuitrain.core.shapes import summarize

out = {}
x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
later = x.copy()
later[:, 3:] += 1.0
for causal in (False, True):
    layer = LayerSpec("attention", (("heads", 2), ("causal", causal)))
    (row,) = summarize((layer,), (5, 8), 3).rows
    (block,) = keras_layers.BUILDERS["attention"](layer, row)
    module = torch_layers.BUILDERS["attention"](layer, row)
    qk, qb, kk, kb, vk, vb, ok, ob = (
        torch.from_numpy(keras.ops.convert_to_numpy(w)) for w in block.weights
    )
    with torch.no_grad():
        module.qkv.weight.copy_(torch.cat([w.reshape(8, 8).T for w in (qk, kk, vk)]))
        module.qkv.bias.copy_(torch.cat([b.reshape(8) for b in (qb, kb, vb)]))
        module.out.weight.copy_(ok.reshape(8, 8).T)
        module.out.bias.copy_(ob)
        ys = {
            "torch": [module(torch.from_numpy(v)).numpy() for v in (x, later)],
            "keras": [keras.ops.convert_to_numpy(block(v)) for v in (x, later)],
        }
    out[str(causal)] = {
        "difference": float(np.abs(ys["torch"][0] - ys["keras"][0]).max()),
        **{name: float(np.abs(y[0] - y[1])[:, :3].max()) for name, y in ys.items()},
    }
print(json.dumps(out))
"""


@requires_torch
@requires_keras
@pytest.mark.torch
def test_attention_is_the_same_function_in_torch_and_keras() -> None:
    """With the same weights, torch's fused attention and Keras' MultiHeadAttention give the
    same outputs; with `causal`, changing steps 3 and 4 leaves steps 0-2 unchanged."""
    result = subprocess.run(
        [sys.executable, "-c", ATTENTION_CHECK],
        capture_output=True,
        text=True,
        env=cli_env(KERAS_BACKEND="torch"),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    for causal in ("False", "True"):
        assert got[causal]["difference"] < 1e-5, got
    for framework in ("torch", "keras"):
        assert got["True"][framework] == 0.0, got
        assert got["False"][framework] > 1e-3, got


# Run in a child with Keras on torch: strided convolutions with padding 'same' from each
# backend's builder, Keras' weights copied into torch's, on the same channels-last input.
# Prints the largest difference per case.
SAME_PADDING_CHECK = """
import json
import numpy as np
import torch
import keras
from tuitrain.backends import keras_layers, torch_layers
from tuitrain.core.layers import LayerSpec
from tuitrain.core.shapes import summarize

rng = np.random.default_rng(0)
out = {}
for kind, shape, kernel in (("conv2d", (7, 8, 2), 3), ("conv2d", (8, 8, 2), 4),
                            ("conv1d", (5, 3), 2), ("conv1d", (9, 3), 3)):
    layer = LayerSpec(kind, (("filters", 4), ("kernel_size", kernel), ("stride", 2),
                             ("padding", "same")))
    (row,) = summarize((layer,), shape, 3).rows
    (conv,) = keras_layers.BUILDERS[kind](layer, row)
    module = torch_layers.BUILDERS[kind](layer, row)
    x = rng.normal(size=(2, *shape)).astype("float32")
    y = keras.ops.convert_to_numpy(conv(x))
    kernel_, bias = (torch.from_numpy(keras.ops.convert_to_numpy(w)) for w in conv.weights)
    target = next(m for m in module.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)))
    with torch.no_grad():
        order = (3, 2, 0, 1) if kind == "conv2d" else (2, 1, 0)
        target.weight.copy_(kernel_.permute(*order))
        target.bias.copy_(bias)
        xt = torch.from_numpy(x)
        yt = module(xt.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) if kind == "conv2d" else module(xt)
    out[f"{kind}{shape}k{kernel}"] = [list(y.shape), float(np.abs(yt.numpy() - y).max())]
print(json.dumps(out))
"""


@requires_torch
@requires_keras
@pytest.mark.torch
def test_strided_same_padding_is_keras_padding_in_torch() -> None:
    """torch's own 'same' takes stride 1 only; with a stride, torch pads as Keras does (the
    odd zero after), so the same weights give the same outputs."""
    result = subprocess.run(
        [sys.executable, "-c", SAME_PADDING_CHECK],
        capture_output=True,
        text=True,
        env=cli_env(KERAS_BACKEND="torch"),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert [shape for shape, _ in got.values()] == [[2, 4, 4, 4]] * 2 + [[2, 3, 4], [2, 5, 4]]
    assert all(difference < 1e-5 for _, difference in got.values()), got


def test_nested_shape_error_names_the_nested_layer() -> None:
    doc = {
        "task": "classification",
        "data": {"dataset": "digits"},
        "model": {
            "layers": [
                {"type": "flatten"},
                {
                    "type": "sequential",
                    "layers": [{"type": "dense", "units": 4}, {"type": "conv2d", "filters": 2}],
                },
            ]
        },
        "train": {"loss": "cross_entropy"},
    }
    spec = spec_from_document(doc)
    with pytest.raises(UserError, match=r"^model.layers\[1\].layers\[1\] \(conv2d\): needs \("):
        summarize(spec.layers, (8, 8, 1), 10)


@pytest.mark.parametrize(
    ("bad", "needles"),
    [
        (
            '{ type = "maxpool2d" },',
            [
                '{ type = "maxpool2d", pool = 2 },',
                "model.layers[0].layers[1].layers[1]",
                "unknown key for maxpool2d 'pool'",
            ],
        ),
        (
            '{ type = "batchnorm" },',
            [
                '{ type = "dropout", rate = 2.0 },',
                "model.layers[0].layers[1].layers[0]",
                "dropout rate must be in [0, 1), got 2.0",
            ],
        ),
        (
            '{ type = "batchnorm" },',
            [
                '{ type = "sequential", layers = 3 },',
                "model.layers[0].layers[1].layers[0]",
                "sequential layers must be a non-empty list",
            ],
        ),
        (
            '{ type = "batchnorm" },',
            [
                '{ type = "sequential" },',
                "model.layers[0].layers[1].layers[0]",
                "sequential needs 'layers'",
            ],
        ),
        (
            '{ type = "batchnorm" },',
            [
                '{ type = "bachnorm" },',
                "model.layers[0].layers[1].layers[0]",
                "unknown layer type 'bachnorm'",
                "valid: activation,",
            ],
        ),
    ],
)
def test_nested_setting_errors_name_file_line_and_path(
    tmp_path: Path, bad: str, needles: list[str]
) -> None:
    replacement, *expected = needles
    text = NESTED.replace(bad, replacement)
    path = write(tmp_path, text)
    line = text.splitlines().index(next(ln for ln in text.splitlines() if replacement in ln)) + 1
    with pytest.raises(UserError) as caught:
        load_spec(str(path))
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"{path}:{line} "), message
    for needle in expected:
        assert needle in message, (needle, message)


def test_nested_spec_round_trips_through_config(tmp_path: Path) -> None:
    spec = load_spec(str(write(tmp_path, NESTED)))
    assert spec.layers[0].layers[1].layers[1].get("pool_size") == 2
    run = RunDir(tmp_path)
    run.write_spec(spec)
    assert run.read_spec() == spec


# Run in a child per framework: the builder table's names, and each stack built, counted and
# run on a zero batch. Prints one JSON object.
BUILD_CHECK = """
import json, sys
from dataclasses import replace
import numpy as np
from tuitrain.core import validate
from tuitrain.core.presets import spec_from_document
from tuitrain.core.shapes import summarize

framework, stacks, token_input = sys.argv[1], *(json.loads(a) for a in sys.argv[2:4])
if framework == "torch":
    import torch
    from tuitrain.backends.torch_layers import BUILDERS, build_model
else:
    import keras
    from tuitrain.backends.keras_layers import BUILDERS, build_model, trainable_params
out = {"builders": sorted(BUILDERS), "stacks": {}}
for name, layers in stacks.items():
    doc = {"name": name, "description": "", "task": "classification",
           "data": {"dataset": "digits"}, "model": {"layers": layers},
           "train": {"loss": "cross_entropy"}}
    spec = spec_from_document(doc)
    info = validate.dataset_info(spec.data, task=spec.task)
    if name in token_input:
        info = replace(info, input_shape=tuple(token_input[name]), input_dtype="int64",
                       num_outputs=3)
    units = validate.output_units(spec, info)
    summary = summarize(spec.layers, info.input_shape, units)
    model = build_model(spec, info)
    x = np.zeros((2, *info.input_shape), dtype=info.input_dtype)
    if framework == "torch":
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        xt = torch.from_numpy(x)
        with torch.no_grad():
            y = model.eval()(xt.permute(0, 3, 1, 2) if xt.ndim == 4 else xt).numpy()
        top = len(model)
    else:
        params = trainable_params(model)
        y = keras.ops.convert_to_numpy(model(x, training=False))
        top = len(model.layers)
    out["stacks"][name] = {"params": params, "expected": summary.params_for(framework),
                           "output": list(y.shape), "top": top}
print(json.dumps(out))
"""


@requires_torch
@pytest.mark.parametrize(
    "framework",
    [pytest.param("torch", marks=pytest.mark.torch), pytest.param("keras", marks=requires_keras)],
)
def test_every_backend_builds_every_registered_type(framework: str) -> None:
    """Keras' builders serve the TensorFlow backend too; here they run on Keras' torch
    backend (TensorFlow is never imported), as the TensorFlow parity test runs them there."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            BUILD_CHECK,
            framework,
            json.dumps(EXTRA_STACKS),
            json.dumps(TOKEN_INPUT),
        ],
        capture_output=True,
        text=True,
        env=cli_env(KERAS_BACKEND="torch"),
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout.strip().splitlines()[-1])
    assert built["builders"] == sorted(LAYER_TYPES)
    for name, got in built["stacks"].items():
        assert got["params"] == got["expected"], name
        assert got["output"] == [2, 3 if name in TOKEN_INPUT else 10], name
    assert built["stacks"]["nested-stack"]["top"] == 4  # each block one module/layer


@requires_torch
@pytest.mark.parametrize("text", [NESTED, BLOCKS], ids=["nested", "blocks"])
@pytest.mark.parametrize(
    "options",
    [
        pytest.param(["-f", "torch"], marks=pytest.mark.torch, id="torch"),
        pytest.param(
            ["-f", "keras", "--keras-backend", "torch"], marks=requires_keras, id="keras-on-torch"
        ),
        pytest.param(
            ["-f", "tensorflow"],
            marks=[pytest.mark.tensorflow, requires_tensorflow],
            id="tensorflow",
        ),
    ],
)
def test_nested_model_trains_checkpoints_and_evaluates(
    tmp_path: Path, options: list[str], text: str
) -> None:
    """Blocks inside blocks, residual and transformer blocks (Keras saves them as functional
    models inside its Sequential, loaded in safe mode)."""
    runs = tmp_path / "runs"
    preset = write(tmp_path, text)
    out = run_cli("train", "-p", str(preset), *options, runs_dir=runs, timeout=300)
    assert out.returncode == 0, out.stderr
    (folder,) = run_folders(runs)
    run = RunDir(folder)
    summary = run.summary()
    _, neutral = validate.check(load_spec(str(preset)))
    assert summary["status"] == "completed" and summary["params"] == neutral.params_for(options[1])
    assert summary["metrics"]["val_accuracy"] > 0.3
    evaluated = run_cli("eval", run.id, runs_dir=runs, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads((folder / "eval.json").read_text())
    assert report["metrics"]["accuracy"] > 0.3, "the checkpoint's weights, not fresh ones"


def test_bad_nested_layer_is_one_cli_line(tmp_path: Path) -> None:
    preset = write(
        tmp_path, NESTED.replace('{ type = "maxpool2d" }', '{ type = "maxpool2d", pool_size = 0 }')
    )
    out = run_cli("train", "-p", str(preset), "-f", "torch", runs_dir=tmp_path / "runs")
    assert_one_line_error(
        out, "model.layers[0].layers[1].layers[1]", "maxpool2d pool_size must be >= 1, got 0"
    )
    assert not run_folders(tmp_path / "runs")


@requires_torch
@pytest.mark.torch
@pytest.mark.parametrize(
    ("text", "before_dropout"),
    [(NESTED, '{ type = "flatten" },'), (BLOCKS, '{ type = "globalavgpool1d" },')],
    ids=["nested", "blocks"],
)
def test_nested_model_resumes_bit_identical(tmp_path: Path, text: str, before_dropout: str) -> None:
    """Stopped mid-epoch (dropout on) and resumed, a nested torch model ends with the same
    weights, optimizer and RNG state as one that never stopped."""
    dropout = f'{before_dropout}\n  {{ type = "dropout", rate = 0.2 }},'
    assert before_dropout in text
    preset = str(write(tmp_path, text.replace(before_dropout, dropout)))
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert train(straight, "-p", preset, "-f", "torch").returncode == 0
    out = train(stopped, "-p", preset, "-f", "torch", fault="stop_at_step:13")
    assert out.returncode == 130, out.stdout + out.stderr
    out = resume(only_run(stopped), stopped)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_identical(last_checkpoint(only_run(stopped)), last_checkpoint(only_run(straight)))
