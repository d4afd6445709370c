"""The setup screen in the real app (Pilot, 160x48): presets fill the fields and the model
summary, choices fit the task, invalid values are marked at their field and Start is
refused, device detection fills the device list, and Start hands a RunSpec to the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_runs import aio, quiet_env, record_notes, until
from textual.widgets import Input, RadioButton, Select

from tuitrain import backends
from tuitrain.core import launch
from tuitrain.core.overrides_check import check_overrides
from tuitrain.core.presets import list_presets
from tuitrain.core.rundir import list_runs
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.dashboard import DashboardScreen
from tuitrain.ui.screens.setup import SetupScreen, default_preset, short_reason
from tuitrain.ui.widgets.device_picker import DevicePicker, device_label
from tuitrain.ui.widgets.field_row import FieldRow
from tuitrain.ui.widgets.model_summary import ModelSummary
from tuitrain.ui.widgets.preset_list import PresetList

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    quiet_env(monkeypatch, tmp_path)


def setup_of(app: TuitrainApp) -> SetupScreen:
    screen = app.screen
    assert isinstance(screen, SetupScreen), screen
    return screen


def value(screen: SetupScreen, name: str) -> Any:
    widget = screen.query_one(f"#f-{name}")
    return widget.value if isinstance(widget, (Input, Select)) else None


def summary_text(screen: SetupScreen) -> str:
    """The model summary as plain text."""
    from rich.console import Console

    console = Console(width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(screen.query_one(ModelSummary).content)
    return console.export_text()


async def settled(pilot: Any, screen: SetupScreen, timeout: float = 10.0) -> None:
    """Wait until edits stop and the check of the latest one has come back."""
    await until(pilot, lambda: screen.result is not None, timeout)
    for _ in range(int(timeout / 0.1)):
        generation = screen.generation
        await pilot.pause(0.1)
        checking = any(w.group == "setup-check" and not w.is_finished
                       for w in screen.app.workers)
        if generation == screen.generation and not checking and screen.shown == generation:
            return
    raise AssertionError("the setup screen did not settle")


async def choose_preset(pilot: Any, screen: SetupScreen, name: str) -> None:
    presets = screen.query_one(PresetList)
    presets.focus()
    presets.highlighted = presets.names.index(name)
    await until(pilot, lambda: screen.preset == name)
    await settled(pilot, screen)


async def type_into(pilot: Any, screen: SetupScreen, name: str, text: str) -> None:
    """Focus a field, replace its text by typing, as a person would."""
    field = screen.query_one(f"#f-{name}", Input)
    field.focus()
    await pilot.pause()
    field.value = ""
    await pilot.press(*text)
    await settled(pilot, screen)


# --- presets, fields and the summary ------------------------------------------------------


@aio
async def test_choosing_a_preset_fills_fields_and_summary(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "mlp-moons")
        assert value(screen, "dataset") == "moons"
        assert value(screen, "loss") == "cross_entropy"
        assert value(screen, "metric") == "accuracy"
        assert value(screen, "optimizer") == "adam"
        assert value(screen, "lr") == "0.01"
        assert value(screen, "epochs") == "20"
        assert value(screen, "batch_size") == "32"
        assert value(screen, "precision") == "32"
        assert value(screen, "seed") == "0"
        text = summary_text(screen)
        assert "dense_2" in text and "total trainable params: 1,218" in text
        assert "ready: mlp-moons with PyTorch" in str(screen.query_one("#setup-message").content)

        await choose_preset(pilot, screen, "lstm-sine")
        assert value(screen, "dataset") == "sine"
        assert value(screen, "loss") == "mse"
        assert value(screen, "metric") == "mae"
        text = summary_text(screen)
        assert "lstm_0" in text and "4,385" in text
        assert "PyTorch: 4,513" in text and "second bias" in text


@aio
async def test_choices_fit_the_task(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        form = screen.form
        await choose_preset(pilot, screen, "mlp-regression")
        assert form.choices("loss") == {"mse", "mae", "huber"}
        datasets = {v for _, v in form.dataset_options()}
        assert "diabetes" in datasets and "sine" in datasets and "moons" not in datasets
        await choose_preset(pilot, screen, "mlp-digits")
        assert form.choices("loss") == {"cross_entropy", "binary_cross_entropy"}
        assert "accuracy" in form.choices("metric")


@aio
async def test_framework_choice_changes_the_summary_total(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "lstm-sine")
        screen.query_one("#fw-keras", RadioButton).value = True
        await until(pilot, lambda: screen.framework == "keras")
        await settled(pilot, screen)
        assert "Model for Keras" in summary_text(screen)
        assert not screen.query_one("#keras-backend", Select).disabled
        assert "with Keras (tensorflow)" in str(screen.query_one("#setup-message").content)


@aio
async def test_not_installed_framework_is_marked_and_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = backends.is_installed
    monkeypatch.setattr(backends, "is_installed", lambda fw: fw != "tensorflow" and real(fw))
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        button = screen.query_one("#fw-tensorflow", RadioButton)
        assert "(not installed)" in str(button.label)
        assert "(not installed)" not in str(screen.query_one("#fw-torch", RadioButton).label)
        await choose_preset(pilot, screen, "mlp-moons")
        button.value = True
        await until(pilot, lambda: screen.framework == "tensorflow")
        await settled(pilot, screen)
        assert "TensorFlow is not installed" in str(screen.query_one("#setup-message").content)
        screen.action_start()
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        assert list_runs(tmp_path / "runs") == []


# --- invalid values -----------------------------------------------------------------------


@aio
async def test_invalid_value_is_marked_at_the_field_and_start_refused(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "mlp-moons")
        await type_into(pilot, screen, "epochs", "0")
        row = screen.query_one("#row-epochs", FieldRow)
        assert row.has_class("-invalid")
        assert row.error == "train.epochs must be >= 1, got 0"
        assert not screen.query_one("#row-lr", FieldRow).has_class("-invalid")
        message = screen.query_one("#setup-message")
        assert "cannot start" in str(message.content) and message.has_class("-error")

        await pilot.press("enter")  # Enter in the field asks to start: refused
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        assert list_runs(tmp_path / "runs") == []
        assert any("cannot start" in n and "epochs" in n for n in notes)

        await type_into(pilot, screen, "lr", "0")
        assert "optimizer.lr must be > 0" in screen.query_one("#row-lr", FieldRow).error
        await type_into(pilot, screen, "epochs", "3")
        await type_into(pilot, screen, "lr", "0.02")
        assert not row.has_class("-invalid")
        assert screen.problem(screen.result) == ""


@aio
async def test_a_loss_that_does_not_fit_the_data_is_marked_at_the_loss(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "mlp-digits")
        screen.query_one("#f-loss", Select).value = "binary_cross_entropy"
        await until(pilot, lambda: screen.form.query_one("#row-loss", FieldRow).error)
        error = screen.query_one("#row-loss", FieldRow).error
        assert "needs 2 classes" in error and "digits" in error
        assert "No model summary" in summary_text(screen)


@aio
async def test_cli_prefill_shows_and_marks_given_values(tmp_path: Path) -> None:
    overrides = {"train.epochs": 0, "optimizer.lr": 0.05, "run.framework": "keras",
                 "run.device": "cuda:1"}
    app = TuitrainApp(tmp_path / "runs", preset="mlp-spirals", overrides=overrides)
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        assert screen.preset == "mlp-spirals" and screen.framework == "keras"
        assert value(screen, "lr") == "0.05"
        assert screen.query_one("#row-epochs", FieldRow).has_class("-invalid")
        assert screen.query_one(DevicePicker).value == "cuda:1"


def test_field_errors_drop_the_file_prefix() -> None:
    assert short_reason("/x/presets/mlp.toml:23: optimizer.lr must be > 0") == \
        "optimizer.lr must be > 0"
    assert short_reason("a.toml:3 model.layers[1]: rate must be") == "rate must be"
    assert short_reason("plain message") == "plain message"


def test_check_overrides_names_the_wrong_key() -> None:
    result = check_overrides("mlp-moons", {"optimizer.lr": 0.0, "train.epochs": 3})
    assert set(result.errors) == {"optimizer.lr"} and result.summary is not None
    result = check_overrides("mlp-moons", {"data.dataset": "sine"})
    assert "regression" in result.errors["data.dataset"]
    assert check_overrides("mlp-moons", {"train.epochs": 2}).ok


# --- devices ------------------------------------------------------------------------------


@aio
async def test_device_list_fills_in_from_detection(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        picker = screen.query_one(DevicePicker)
        await until(pilot, lambda: picker.detected)
        labels = [label for label, _ in picker.device_options()]
        assert "cuda:0  NVIDIA H100 80GB HBM3 · 75.0/80.0 GiB free" in labels
        assert labels[0] == "auto (best available)"
        picker.value = "cuda:0"
        await settled(pilot, screen)
        assert screen.current_spec().run.device == "cuda:0"


def test_device_label_without_memory() -> None:
    assert device_label({"id": "mps", "name": "Apple M3"}) == "mps  Apple M3"


# --- start ---------------------------------------------------------------------------------


@aio
async def test_start_creates_the_run_and_opens_its_dashboard(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[Path, bool]] = []

    def fake_start(run: Any, resume: bool = False) -> subprocess.Popen[bytes]:
        started.append((run.path, resume))
        return subprocess.Popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(launch, "start_runner", fake_start)
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "mlp-moons")
        await type_into(pilot, screen, "epochs", "3")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        (run,) = list_runs(tmp_path / "runs")
        spec = run.read_spec()
        assert (spec.name, spec.train.epochs, spec.run.framework) == ("mlp-moons", 3, "torch")
        assert started == [(run.path, False)]


def test_the_first_preset_shown_needs_no_download() -> None:
    presets = list_presets()
    assert presets[0].name == "cnn-cifar10"  # alphabetical; its data is a download
    assert default_preset(presets) == "cnn-digits"
