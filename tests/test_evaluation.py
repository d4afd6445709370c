"""Regression reports (pure NumPy): metrics of the outputs given, the units stated, and the
loss replaced by its value in the data's units only where that means something."""

from __future__ import annotations

import numpy as np
import pytest

from tuitrain.core.evaluation import (
    REAL_UNITS,
    STANDARDIZED_UNITS,
    WIDTH,
    classification_report,
    regression_report,
    render,
)

OUTPUTS = np.array([[110.0], [190.0], [150.0]], dtype=np.float32)
TARGETS = np.array([[100.0], [200.0], [150.0]], dtype=np.float32)


def test_real_units_recompute_mae_rmse_and_an_mse_loss() -> None:
    report = regression_report(OUTPUTS, TARGETS, {"loss": 0.02, "mae": 0.1}, "mse", True)
    assert report.metrics == {
        "loss": pytest.approx(200 / 3),
        "mae": pytest.approx(20 / 3),
        "rmse": pytest.approx(np.sqrt(200 / 3)),
    }
    assert report.units == REAL_UNITS and render(report)[1] == REAL_UNITS


def test_a_huber_loss_stays_standardized_and_says_so() -> None:
    report = regression_report(OUTPUTS, TARGETS, {"loss": 0.02}, "huber", True)
    assert report.metrics["loss"] == 0.02
    assert report.units == f"{REAL_UNITS}; the huber loss in standardized units"


def test_without_saved_statistics_the_units_are_standardized() -> None:
    report = regression_report(OUTPUTS / 100, TARGETS / 100, {"loss": 0.02}, "mse", False)
    assert report.metrics["loss"] == 0.02 and report.metrics["mae"] == pytest.approx(0.2 / 3)
    assert report.units == STANDARDIZED_UNITS


def test_a_small_confusion_matrix_is_shown_whole() -> None:
    targets = np.array([0, 1, 2, 2])
    outputs = np.eye(3)[[0, 2, 2, 1]]
    lines = render(classification_report(outputs, targets, ("cat", "dog", "eel"), {}))
    assert "confusion (rows: true, columns: predicted)" in lines
    assert lines[-1].split() == ["eel", "0", "1", "1"]


def test_many_classes_are_summarized_within_the_width() -> None:
    """A character-level model's 96 classes: the classes recalled worst and the pairs
    confused most, every line within WIDTH columns."""
    names = tuple(f"'{chr(33 + i)}'" for i in range(96))
    targets = np.repeat(np.arange(96), 5)
    predicted = targets.copy()
    predicted[targets == 7] = 8  # class 7 always read as 8
    predicted[:2] = 50  # two of class 0 read as 50
    lines = render(classification_report(np.eye(96)[predicted], targets, names, {}))
    assert max(len(line) for line in lines) <= WIDTH
    table = lines.index(next(line for line in lines if line.startswith("class")))
    assert "10 of 96 recalled worst" in lines[table]
    assert lines[table + 1].split() == [names[7], "0.000", "0.000"]  # recalled worst, first
    assert lines[table + 2].split() == [names[0], "1.000", "0.600"]
    assert any(line.split() == [names[7], "->", names[8], "5"] for line in lines)
    assert any(line.split() == [names[0], "->", names[50], "2"] for line in lines)
    assert not any(line.startswith("confusion") for line in lines)
