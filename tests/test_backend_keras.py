"""The Keras backend (`model.compile` + `model.fit`): the scenarios every Keras-family backend
passes (from test_backend_tensorflow, including a refused `.keras` file holding a lambda), and
the same model and hooks on Keras' torch backend.

As there, nothing here imports TensorFlow or Keras into the pytest process."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from test_backend_tensorflow import (
    BackendScenarios,
    assert_parity,
    assert_refusals,
    checks_in_child,
    neutral_params,
    train,
)

pytestmark = [
    pytest.mark.tensorflow,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                       reason="tensorflow is not installed"),
]


class TestKeras(BackendScenarios):
    framework = "keras"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
class TestKerasOnTorch:
    """`--keras-backend torch`: the same model and hooks on Keras' torch backend."""

    def test_trains_mlp_digits(self, tmp_path: Path) -> None:
        run = train(tmp_path, "keras", "mlp-digits", "--epochs", "1", "--keras-backend", "torch")
        s = run.summary()
        assert s["status"] == "completed"
        assert s["versions"]["keras_backend"] == "torch"
        assert s["params"] == neutral_params("mlp-digits")
        assert s["metrics"]["val_accuracy"] > 0.5

    @pytest.mark.slow  # another ~8 s child (torch, TensorFlow and Keras imports)
    def test_param_parity_and_refusals(self) -> None:
        checks = checks_in_child(("keras",), keras_backend="torch")["keras"]
        assert_parity(checks)
        assert_refusals(checks)
