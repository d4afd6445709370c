"""Generated tasks (`addition`): problems and splits come from the data's seed alone, the
held-out problems are never in training, every sample is a right answer in minGPT's adder
layout, and the [data] settings are checked with one-line errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tuitrain.core.data import Splits, load_splits
from tuitrain.core.datainfo import dataset_info
from tuitrain.core.errors import UserError
from tuitrain.core.layers import LayerSpec
from tuitrain.core.presets import load_spec
from tuitrain.core.spec import DataSpec, RunSpec
from tuitrain.core.validate import check


def _number(tokens: np.ndarray) -> np.ndarray:
    """Digit tokens (N, k), highest first, as numbers."""
    return tokens @ 10 ** np.arange(tokens.shape[1] - 1, -1, -1)


def _problems(x: np.ndarray, y: np.ndarray, digits: int) -> set[tuple[int, int]]:
    """The (a, b) of each sample, after checking that its answer tokens are a + b."""
    a, b = _number(x[:, :digits]), _number(x[:, digits : 2 * digits])
    tokens = np.concatenate([x, y[:, -1:]], axis=1)  # the whole sequence
    assert (_number(tokens[:, 2 * digits :][:, ::-1]) == a + b).all()  # the sum, reversed
    assert (y[:, 2 * digits - 1 :] == tokens[:, 2 * digits :]).all()  # each answer token
    assert (y[:, : 2 * digits - 1] == -1).all()  # the question asks nothing
    return set(zip(a.tolist(), b.tolist(), strict=True))


def _splits(digits: int | None = None, seed: int | None = 5, run_seed: int = 0, **kw) -> Splits:
    return load_splits(DataSpec("addition", digits=digits, seed=seed, **kw), run_seed)


def test_the_data_seed_alone_fixes_the_problems_and_the_split() -> None:
    first, again, other_run = _splits(), _splits(), _splits(run_seed=1)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(first, part), getattr(again, part))
        assert np.array_equal(getattr(first, part), getattr(other_run, part))
    assert not np.array_equal(first.x_val, _splits(seed=6).x_val)


def test_without_a_data_seed_the_run_seed_draws_the_split() -> None:
    a, b = _splits(seed=None, run_seed=0), _splits(seed=None, run_seed=1)
    assert not np.array_equal(a.x_val, b.x_val)
    whole = {*_problems(a.x_train, a.y_train, 2), *_problems(a.x_val, a.y_val, 2)}
    assert whole | _problems(a.x_test, a.y_test, 2) == (
        _problems(b.x_train, b.y_train, 2)
        | _problems(b.x_val, b.y_val, 2)
        | _problems(b.x_test, b.y_test, 2)
    )


@pytest.mark.parametrize("digits", [1, 2, 3])
def test_held_out_problems_are_never_trained_on(digits: int) -> None:
    s = _splits(digits=digits)
    train = _problems(s.x_train, s.y_train, digits)
    val, test = _problems(s.x_val, s.y_val, digits), _problems(s.x_test, s.y_test, digits)
    assert len(train) == len(s.x_train) and len(val) == len(s.x_val)  # all distinct
    assert not train & val and not train & test and not val & test
    assert s.x_train.shape[1:] == (3 * digits,) == s.y_train.shape[1:]
    assert s.x_train.dtype == np.int64 and s.y_train.dtype == np.int64


def test_sizes_follow_the_settings() -> None:
    one = _splits(digits=1)
    pairs = {(a, b) for a in range(10) for b in range(10)}
    assert _problems(np.concatenate([one.x_train, one.x_val, one.x_test]),
                     np.concatenate([one.y_train, one.y_val, one.y_test]), 1) == pairs  # fmt: skip
    assert _splits(digits=3).info.size == 10_000
    assert len(_splits(digits=9, samples=200).x_train) == 140


def test_the_info_follows_the_settings_without_loading() -> None:
    info = dataset_info(DataSpec("addition", digits=3))
    assert info.input_shape == (9,) == info.target_shape
    assert (info.task, info.input_dtype, info.num_outputs) == ("classification", "int64", 10)
    assert dataset_info(DataSpec("addition")).input_shape == (6,)
    assert dataset_info(DataSpec("moons")).target_shape == ()


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(UserError, match=r"^addition of 1-digit numbers has 100 distinct "):
        dataset_info(DataSpec("addition", digits=1, samples=101))
    with pytest.raises(UserError, match=r"^data.digits is a setting of generated tasks "
                       r"\(addition\); dataset 'moons' has none$"):  # fmt: skip
        dataset_info(DataSpec("moons", digits=2))
    with pytest.raises(UserError, match=r"data.digits must be in \[1, 9\], got 0"):
        load_spec("mlp-moons", {"data.digits": 0})
    with pytest.raises(UserError, match=r"data.seed must be in \[0, 2\*\*31\), got -1"):
        load_spec("mlp-moons", {"data.seed": -1})


def _adder(**changes: object) -> RunSpec:
    """A recurrent decoder on `addition`: embedding, an LSTM over positions, logits at each."""
    spec = load_spec("lstm-digits", {"data.dataset": "addition", "data.seed": 7})
    layers = (
        LayerSpec("embedding", (("input_dim", 10), ("output_dim", 8))),
        LayerSpec("lstm", (("units", 16), ("return_sequences", True))),
        LayerSpec("dense", (("units", "auto"),)),
    )
    train = dataclasses.replace(spec.train, metrics=("exact_match",))
    return dataclasses.replace(spec, layers=layers, train=train, **changes)


def test_a_model_with_logits_at_each_position_validates() -> None:
    info, summary = check(_adder())
    assert summary.rows[-1].output_shape == (6, 10) == (*info.target_shape, info.num_outputs)


def test_per_sample_scores_and_shapes_are_refused_on_per_position_labels() -> None:
    spec = _adder()
    accuracy = dataclasses.replace(
        spec, train=dataclasses.replace(spec.train, metrics=("accuracy",))
    )
    with pytest.raises(UserError, match=r"^dataset 'addition' is labelled at each position; "
                       r"accuracy scores one label per sample; valid here: cross_entropy, "
                       r"exact_match, perplexity$"):  # fmt: skip
        check(accuracy)
    flat = dataclasses.replace(spec, layers=(*spec.layers[:1], LayerSpec("flatten", ()),
                                             spec.layers[2]))  # fmt: skip
    with pytest.raises(UserError, match=r"the model ends in shape \(10,\) but loss "
                       r"'cross_entropy' on this dataset needs \(6, 10\)"):  # fmt: skip
        check(flat)
