"""The registry of losses and metrics (core/measures.py), pure: accumulating sums and counts
over uneven batches gives each value over the whole set, directions pick the best epoch,
and an unknown name is a one-line error naming the valid ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tuitrain.core.errors import UserError
from tuitrain.core.measures import LOSSES, METRICS, Measure, direction, lookup
from tuitrain.core.presets import load_spec
from tuitrain.core.recorder import monitor_of

RNG = np.random.default_rng(7)
N = 101
LOGITS = RNG.normal(0, 2, (N, 4))
CLASSES = RNG.integers(0, 4, N)
LOGIT = RNG.normal(0, 2, (N, 1))
BINARY = RNG.integers(0, 2, N)
OUTPUTS = RNG.normal(0, 1.5, (N, 3))  # errors on both sides of huber's delta
TARGETS = RNG.normal(0, 1, (N, 3))
ERR = OUTPUTS - TARGETS
# A sequence task: 5 positions, the first 2 asking nothing (-1); about half the samples have
# their last answer wrong, so some match exactly and some do not.
SEQ_LOGITS = RNG.normal(0, 2, (N, 5, 4))
SEQ_TARGETS = SEQ_LOGITS.argmax(axis=-1)
SEQ_TARGETS[:, 4] = np.where(RNG.random(N) < 0.5, (SEQ_TARGETS[:, 4] + 1) % 4, SEQ_TARGETS[:, 4])
SEQ_TARGETS[:, :2] = -1
SEQ_TARGETS[::3, 2] = -1  # some samples answer 2 positions, others 3


def _exact_matches() -> float:
    hits = 0
    for logits, targets in zip(SEQ_LOGITS, SEQ_TARGETS, strict=True):
        asked = [(row, t) for row, t in zip(logits, targets, strict=True) if t >= 0]
        hits += all(int(np.argmax(row)) == t for row, t in asked)
    return hits / N


def _perplexity() -> float:
    """e to the mean over samples of each sample's mean cross-entropy over its answers."""
    per_sample = []
    for logits, targets in zip(SEQ_LOGITS, SEQ_TARGETS, strict=True):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        per_sample.append(np.mean([-np.log(p[i, t]) for i, t in enumerate(targets) if t >= 0]))
    return float(np.exp(np.mean(per_sample)))


def _softmax_ce() -> float:
    p = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(N), CLASSES]).mean())


def _bce() -> float:
    p = 1 / (1 + np.exp(-LOGIT[:, 0]))
    return float(-(BINARY * np.log(p) + (1 - BINARY) * np.log(1 - p)).mean())


# name -> (outputs, targets, the value over the whole set, written out independently)
WHOLE: dict[str, tuple[np.ndarray, np.ndarray, float]] = {
    "cross_entropy": (LOGITS, CLASSES, _softmax_ce()),
    "binary_cross_entropy": (LOGIT, BINARY, _bce()),
    "mse": (OUTPUTS, TARGETS, float((ERR**2).mean())),
    "mae": (OUTPUTS, TARGETS, float(np.abs(ERR).mean())),
    "huber": (
        OUTPUTS,
        TARGETS,
        float(np.where(np.abs(ERR) < 1, 0.5 * ERR**2, np.abs(ERR) - 0.5).mean()),
    ),
    "accuracy": (LOGITS, CLASSES, float((LOGITS.argmax(axis=1) == CLASSES).mean())),
    "rmse": (OUTPUTS, TARGETS, float(np.sqrt((ERR**2).mean()))),
    "exact_match": (SEQ_LOGITS, SEQ_TARGETS, _exact_matches()),
    "perplexity": (SEQ_LOGITS, SEQ_TARGETS, _perplexity()),
}
BINARY_ACCURACY = float(((LOGIT[:, 0] > 0) == BINARY).mean())


def _accumulated(measure: Measure, outputs: np.ndarray, targets: np.ndarray) -> float:
    """Sums and counts of uneven batches (sizes 1, 7, 30, 63), added up, then finished."""
    total, count = 0.0, 0
    for part in np.split(np.arange(N), [1, 8, 38]):
        batch_total, batch_count = measure.sums(outputs[part], targets[part])
        total, count = total + batch_total, count + batch_count
    return float(measure.finish(np.array(total), np.array(count)))


@pytest.mark.parametrize(
    "measure", [*LOSSES.values(), *METRICS.values()], ids=lambda m: f"{m.task}-{m.name}"
)
def test_sums_over_uneven_batches_give_the_whole_set_value(measure: Measure) -> None:
    outputs, targets, whole = WHOLE[measure.name]
    assert _accumulated(measure, outputs, targets) == pytest.approx(whole, rel=1e-12)


@pytest.mark.parametrize(
    "measure", [*LOSSES.values(), *METRICS.values()], ids=lambda m: f"{m.task}-{m.name}"
)
def test_finished_values_of_batches_add_up_through_their_totals(measure: Measure) -> None:
    """What the driver does with each step's value: back to its sums, added, finished."""
    outputs, targets, whole = WHOLE[measure.name]
    values, counts = [], []
    for part in np.split(np.arange(N), [1, 8, 38]):
        total, count = measure.sums(outputs[part], targets[part])
        values.append(float(measure.finish(np.array(total), np.array(count))))
        counts.append(count)
    totals = measure.totals(np.array(values), np.array(counts, dtype=float))
    assert measure.finish(totals.sum(), N) == pytest.approx(whole, rel=1e-9)


def test_accuracy_of_one_logit_is_whether_it_is_above_zero() -> None:
    accuracy = METRICS["accuracy"]
    assert _accumulated(accuracy, LOGIT, BINARY) == pytest.approx(BINARY_ACCURACY, rel=1e-12)


def test_cross_entropy_per_position_is_each_samples_mean_over_its_answers() -> None:
    losses = []
    for logits, targets in zip(SEQ_LOGITS, SEQ_TARGETS, strict=True):
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        losses.append(np.mean([-np.log(p[i, t]) for i, t in enumerate(targets) if t >= 0]))
    whole = float(np.mean(losses))
    assert _accumulated(LOSSES["cross_entropy"], SEQ_LOGITS, SEQ_TARGETS) == pytest.approx(
        whole, rel=1e-12
    )


def test_exact_match_of_one_label_per_sample_is_accuracy() -> None:
    exact_match, accuracy = METRICS["exact_match"], METRICS["accuracy"]
    assert 0 < _exact_matches() < 1
    assert _accumulated(exact_match, LOGITS, CLASSES) == _accumulated(accuracy, LOGITS, CLASSES)
    assert _accumulated(exact_match, LOGIT, BINARY) == pytest.approx(BINARY_ACCURACY, rel=1e-12)


def test_every_loss_and_metric_fits_one_task_and_is_named_as_registered() -> None:
    for table in (LOSSES, METRICS):
        for name, measure in table.items():
            assert measure.name == name
            assert measure.task in ("classification", "regression")
    assert {n for n, m in LOSSES.items() if m.direction == "higher"} == set()


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("loss", "lower"),
        ("accuracy", "higher"),
        ("exact_match", "higher"),
        ("perplexity", "lower"),
        ("mae", "lower"),
        ("rmse", "lower"),
    ],
)
def test_direction(metric: str, expected: str) -> None:
    assert direction(metric) == expected


@pytest.mark.parametrize(
    ("preset", "metrics", "monitor"),
    [
        ("mlp-moons", ("accuracy",), ("val_accuracy", "max")),
        ("mlp-moons", (), ("val_loss", "min")),
        ("mlp-regression", ("rmse",), ("val_rmse", "min")),
    ],
)
def test_the_recorder_takes_the_direction_from_the_registry(
    preset: str, metrics: tuple[str, ...], monitor: tuple[str, str]
) -> None:
    spec = load_spec(preset)
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, metrics=metrics))
    assert monitor_of(spec) == monitor


def test_an_unknown_name_is_a_one_line_error_with_the_valid_names() -> None:
    with pytest.raises(UserError) as caught:
        lookup(LOSSES, "xent", "torch loss")
    assert str(caught.value) == (
        "unknown torch loss 'xent'; valid: binary_cross_entropy, cross_entropy, huber, mae, mse"
    )
    with pytest.raises(
        UserError, match="unknown metric 'f1'; valid: accuracy, exact_match, mae, perplexity, rmse"
    ):
        direction("f1")
