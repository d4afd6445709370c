"""The framework-neutral model summary: shapes and parameter counts, checked by hand for the
small presets, and equal to what PyTorch builds for every shipped preset."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, SHIPPED_PRESETS, cli_env, requires_torch

from tuitrain.core import validate
from tuitrain.core.layers import same_padding
from tuitrain.core.presets import load_spec
from tuitrain.core.shapes import summarize
from tuitrain.core.spec import LayerSpec


def rows(name: str) -> list[tuple[str, tuple[int, ...], int]]:
    _, summary = validate.check(load_spec(name))
    return [(r.type, r.output_shape, r.params) for r in summary.rows]


def test_mlp_digits_by_hand() -> None:
    # 8x8x1 -> flatten 64 -> 64*128+128 -> dropout -> 128*64+64 -> 64*10+10
    assert rows("mlp-digits") == [
        ("flatten", (64,), 0),
        ("dense", (128,), 8320),
        ("dropout", (128,), 0),
        ("dense", (64,), 8256),
        ("dense", (10,), 650),
    ]
    _, summary = validate.check(load_spec("mlp-digits"))
    assert summary.params == 17226 == summary.params_for("torch") == summary.params_for("keras")


def test_cnn_digits_by_hand() -> None:
    # conv 3x3 same: 3*3*1*32+32; 3*3*32*32+32; pool 2 -> 4x4x32 = 512; 512*64+64; 64*10+10
    assert rows("cnn-digits") == [
        ("conv2d", (8, 8, 32), 320),
        ("conv2d", (8, 8, 32), 9248),
        ("maxpool2d", (4, 4, 32), 0),
        ("flatten", (512,), 0),
        ("dense", (64,), 32832),
        ("dropout", (64,), 0),
        ("dense", (10,), 650),
    ]
    _, summary = validate.check(load_spec("cnn-digits"))
    assert summary.params == 43050


def test_lstm_digits_by_hand_and_torch_note() -> None:
    # LSTM(64) on 8 steps x 8 features: 4 * (64 * (8 + 64) + 64); torch adds 4 * 64
    assert rows("lstm-digits") == [
        ("reshape", (8, 8), 0),
        ("lstm", (64,), 18688),
        ("dense", (10,), 650),
    ]
    _, summary = validate.check(load_spec("lstm-digits"))
    assert summary.params == 19338 and summary.torch_params == 19338 + 256
    text = "\n".join(summary.lines())
    assert "PyTorch: 19,594" in text and "second bias" in text


def test_other_small_presets_by_hand() -> None:
    assert [p for *_, p in rows("mlp-moons")] == [2 * 32 + 32, 32 * 32 + 32, 32 * 2 + 2]
    assert [p for *_, p in rows("mlp-regression")] == [704, 0, 2080, 33]
    assert rows("lstm-sine")[0] == ("lstm", (32,), 4 * (32 * (1 + 32) + 32))
    _, spirals = validate.check(load_spec("mlp-spirals"))
    assert spirals.rows[1].type == "batchnorm" and spirals.rows[1].params == 128
    assert spirals.non_trainable == 128 and "non-trainable params: 128" in "\n".join(
        spirals.lines()
    )
    assert rows("cnn-mnist")[:4] == [
        ("conv2d", (26, 26, 32), 320),
        ("maxpool2d", (13, 13, 32), 0),
        ("conv2d", (11, 11, 64), 18496),
        ("maxpool2d", (5, 5, 64), 0),
    ]


def layer(kind: str, **params: object) -> LayerSpec:
    return LayerSpec(kind, tuple(params.items()))


@pytest.mark.parametrize(
    ("layers", "shape", "out", "params"),
    [
        (
            [layer("conv2d", filters=4, kernel_size=3, stride=2)],
            (9, 9, 2),
            (4, 4, 4),
            3 * 3 * 2 * 4 + 4,
        ),
        ([layer("avgpool2d", pool_size=3, stride=1)], (5, 5, 2), (3, 3, 2), 0),
        ([layer("globalavgpool2d")], (5, 5, 7), (7,), 0),
        ([layer("gru", units=4, return_sequences=True)], (6, 3), (6, 4), 3 * (4 * (3 + 4) + 2 * 4)),
        ([layer("embedding", input_dim=50, output_dim=8)], (12,), (12, 8), 400),
        ([layer("dense", units=3, bias=False)], (5,), (3,), 15),
        ([layer("dense", units=3)], (4, 5), (4, 3), 18),
        ([layer("batchnorm")], (4, 4, 6), (4, 4, 6), 12),
    ],
)
def test_layer_rules(
    layers: list[LayerSpec], shape: tuple[int, ...], out: tuple[int, ...], params: int
) -> None:
    summary = summarize(tuple(layers), shape, 10)
    assert summary.rows[-1].output_shape == out and summary.params == params


def test_same_padding_with_a_stride_rounds_up() -> None:
    """ceil(size / stride), as Keras pads (the odd zero after)."""
    conv = layer("conv2d", filters=2, padding="same", stride=2)
    assert summarize((conv,), (7, 8, 1), 10).rows[0].output_shape == (4, 4, 2)
    assert same_padding(7, 3, 2) == (1, 1) and same_padding(8, 3, 2) == (0, 1)


# PyTorch builds exactly the summary's layers: same output shapes (channels-first there) and
# the same trainable parameters (plus the documented second LSTM bias).
TORCH_CHECK = """
import json, sys
import torch
from tuitrain.core import validate
from tuitrain.core.presets import load_spec
from tuitrain.backends.torch_backend import BACKEND
from tuitrain.backends.torch_layers import build_model
out = {}
for name in sys.argv[1:]:
    spec = load_spec(name)
    info, summary = validate.check(spec)
    model = build_model(spec, info).eval()
    x = torch.zeros(2, *info.input_shape, dtype=getattr(torch, info.input_dtype))
    if x.ndim == 4:
        x = x.permute(0, 3, 1, 2)
    shapes = []
    with torch.no_grad():
        for module in model:
            x = module(x)
            s = tuple(x.shape[1:])
            shapes.append([s[1], s[2], s[0]] if len(s) == 3 else list(s))
    out[name] = {"params": BACKEND.count_params(spec, info), "shapes": shapes}
print(json.dumps(out))
"""


@pytest.mark.torch
@requires_torch
def test_torch_builds_the_summary() -> None:
    result = subprocess.run(
        [sys.executable, "-c", TORCH_CHECK, *SHIPPED_PRESETS],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = json.loads(result.stdout.strip().splitlines()[-1])
    for name in SHIPPED_PRESETS:
        _, summary = validate.check(load_spec(name))
        lstm_extra = sum(4 * r.output_shape[-1] for r in summary.rows if r.type == "lstm")
        assert (
            built[name]["params"] == summary.params + lstm_extra == summary.params_for("torch")
        ), name
        assert [tuple(s) for s in built[name]["shapes"]] == [
            r.output_shape for r in summary.rows
        ], name
