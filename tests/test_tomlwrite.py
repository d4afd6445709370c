"""`config.toml` is the resolved spec: what `tomlwrite` writes, `tomllib` reads back to the
same document and `spec_from_document` to the same RunSpec."""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace

import pytest
from conftest import SHIPPED_PRESETS
from hypothesis import given, settings
from hypothesis import strategies as st

from tuitrain.core import tomlwrite
from tuitrain.core.presets import load_spec, spec_from_document


def round_trip(doc: dict) -> dict:
    return tomllib.loads(tomlwrite.dumps(doc))


@pytest.mark.parametrize("name", SHIPPED_PRESETS)
def test_every_preset_spec_round_trips(name: str) -> None:
    spec = load_spec(name)
    text = tomlwrite.dumps(spec.to_document())
    assert spec_from_document(tomllib.loads(text), source="config.toml", text=text) == spec


def test_layout() -> None:
    text = tomlwrite.dumps({"name": "x", "t": {"a": 1, "skip": None, "l": [{"type": "dense"}]}})
    assert text == 'name = "x"\n\n[t]\na = 1\nl = [\n  { type = "dense" },\n]\n'


@pytest.mark.parametrize(
    "value",
    [
        0,
        -7,
        2**62,
        0.1,
        1e-7,
        1e300,
        -0.0,
        5e-324,
        math.inf,
        -math.inf,
        True,
        False,
        "",
        'quote " and \\ backslash',
        "tab\tnew\nline\r",
        "ünïcödé ✓ 🚀",
        "\x00\x01\x1f\x7f",
        "'single'",
        [1, 2.5, "three"],
        [],
        [[1, 2], [3]],
    ],
)
def test_values_round_trip(value: object) -> None:
    assert round_trip({"v": value, "t": {"v": value}}) == {"v": value, "t": {"v": value}}


def test_nan_round_trips() -> None:
    back = round_trip({"v": math.nan})
    assert math.isnan(back["v"])


def test_unwritable_values_are_refused() -> None:
    with pytest.raises(TypeError):
        tomlwrite.dumps({"v": object()})


_text = st.text(max_size=20)
_float = st.floats(allow_nan=False)
_scalar = st.one_of(st.integers(-(2**63), 2**63 - 1), _float, st.booleans(), _text)
_key = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        _key,
        st.one_of(
            _scalar, st.lists(_scalar, max_size=4), st.dictionaries(_key, _scalar, max_size=4)
        ),
        max_size=6,
    )
)
def test_any_document_round_trips(doc: dict) -> None:
    assert round_trip(doc) == doc


@settings(max_examples=150, deadline=None)
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
    assert spec_from_document(round_trip(spec.to_document())) == spec
