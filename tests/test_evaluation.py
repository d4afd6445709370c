"""Regression reports (pure NumPy): metrics of the outputs given, the units stated, and the
loss replaced by its value in the data's units only where that means something."""

from __future__ import annotations

import numpy as np
import pytest

from tuitrain.core.evaluation import REAL_UNITS, STANDARDIZED_UNITS, regression_report, render

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
