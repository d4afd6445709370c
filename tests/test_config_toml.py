"""`config.toml` is the resolved spec: `RunDir.write_spec` writes it (with tomli-w) and
`RunDir.read_spec` reads it back to the same RunSpec; people read it too."""

from __future__ import annotations

import tempfile
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import SHIPPED_PRESETS
from hypothesis import given, settings
from hypothesis import strategies as st

from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import RunSpec


def round_trip(spec: RunSpec, folder: Path) -> RunSpec:
    run = RunDir(folder)
    run.write_spec(spec)
    return run.read_spec()


@pytest.mark.parametrize("name", SHIPPED_PRESETS)
def test_every_preset_spec_round_trips(name: str, tmp_path: Path) -> None:
    spec = load_spec(name)
    assert round_trip(spec, tmp_path) == spec


def test_layers_are_one_inline_table_per_line(tmp_path: Path) -> None:
    spec = load_spec("cnn-digits")
    RunDir(tmp_path).write_spec(spec)
    text = (tmp_path / "config.toml").read_text()
    lines = text.splitlines()
    start = lines.index("layers = [")
    layer_lines = lines[start + 1 : start + 1 + len(spec.layers)]
    assert all(line.startswith("  { type = ") and line.endswith(" },") for line in layer_lines)
    assert lines[start + 1 + len(spec.layers)] == "]"
    assert [tomllib.loads(f"l = {line.strip().rstrip(',')}")["l"] for line in layer_lines] == [
        layer.to_dict() for layer in spec.layers
    ]
    for table in ("[data]", "[model]", "[train]", "[optimizer]", "[schedule]", "[run]"):
        assert table in lines


@pytest.mark.parametrize("lr", [1e-4, 1e-7, 5e-324, 0.1, 3.0, 1e300])
def test_floats_round_trip_exactly(lr: float, tmp_path: Path) -> None:
    spec = load_spec("mlp-digits")
    spec = replace(spec, optimizer=replace(spec.optimizer, lr=lr, eps=lr))
    back = round_trip(spec, tmp_path)
    assert back == spec and back.optimizer.lr == lr


@pytest.mark.parametrize(
    "text",
    [
        "",
        'quote " and \\ backslash',
        "tab\tnew\nline\r",
        "ünïcödé ✓ 🚀",
        "\x00\x01\x1f\x7f",
        "'single' and '''triple'''",
    ],
)
def test_any_text_round_trips(text: str, tmp_path: Path) -> None:
    spec = replace(load_spec("mlp-digits"), description=text, name=f"n{text}")
    assert round_trip(spec, tmp_path) == spec


def test_undecodable_command_line_bytes_still_write_a_readable_config(tmp_path: Path) -> None:
    """`--set description=$'\\xff'` arrives as a lone surrogate, which UTF-8 cannot hold."""
    spec = replace(load_spec("mlp-digits"), description="caf\udce9")
    back = round_trip(spec, tmp_path)
    assert back == replace(spec, description="caf?")


_text = st.text(max_size=20)


@settings(max_examples=100, deadline=None)
@given(
    name=_text,
    description=_text,
    lr=st.floats(1e-8, 10),
    epochs=st.integers(1, 10**6),
    seed=st.integers(0, 2**31 - 1),
    metrics=st.sampled_from([(), ("accuracy",)]),
    dataset=st.text(min_size=1, max_size=12),
    momentum=st.floats(0, 0.999),
)
def test_any_valid_spec_round_trips(
    name: str,
    description: str,
    lr: float,
    epochs: int,
    seed: int,
    metrics: tuple[str, ...],
    dataset: str,
    momentum: float,
) -> None:
    spec = load_spec("cnn-digits")
    spec = replace(
        spec,
        name=name,
        description=description,
        train=replace(spec.train, epochs=epochs, metrics=metrics),
        optimizer=replace(spec.optimizer, lr=lr, momentum=momentum),
        data=replace(spec.data, dataset=dataset),
    )
    spec = spec.with_run(seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        assert round_trip(spec, Path(folder)) == spec
