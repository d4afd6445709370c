"""The setup screen in the real app (Pilot, 160x48): presets fill the settings and the model
summary, choices fit the task, keys edit the settings table as a person would (arrows,
typing, a choice's list), invalid values are marked under their setting and Start is
refused, device detection fills the device list, and Start hands a RunSpec to the app."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_runs import aio, fake_gpus, quiet_env, record_notes, until
from textual.widgets import Static

from tuitrain import backends
from tuitrain.core import launch
from tuitrain.core.errors import UserError
from tuitrain.core.overrides_check import check_overrides
from tuitrain.core.presets import list_presets, load_spec
from tuitrain.core.rundir import list_runs
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.choice import ChoiceScreen
from tuitrain.ui.screens.dashboard import DashboardScreen
from tuitrain.ui.screens.setup import SetupScreen, default_preset, short_reason
from tuitrain.ui.settings import device_label
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


def value(screen: SetupScreen, name: str) -> str:
    return screen.table.settings[name].value


def plain(renderable: Any, width: int = 100) -> str:
    """A renderable as the plain text a terminal would show."""
    from rich.console import Console

    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def summary_text(screen: SetupScreen) -> str:
    """The model summary as plain text."""
    return plain(screen.query_one(ModelSummary).content)


def table_lines(screen: SetupScreen) -> list[str]:
    """The settings table as the lines it shows."""
    table = screen.table
    return [line.rstrip() for line in plain(table.render(), table.content_region.width)
            .splitlines()]


async def go_to(pilot: Any, screen: SetupScreen, name: str) -> None:
    """Focus the settings table and move its cursor to `name` with the arrow keys."""
    table = screen.table
    table.focus()
    await pilot.pause()
    names = [f.name for f in table.settings.shown]
    steps = names.index(name) - names.index(table.cursor)
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps))
    assert table.cursor == name


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
    """Go to a setting, clear it (Ctrl+U) and type `text`, as a person would."""
    await go_to(pilot, screen, name)
    await pilot.press("ctrl+u", *text)
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
async def test_a_resnet_summary_is_a_tree_that_fits_a_small_terminal(tmp_path: Path) -> None:
    """ResNet-20 at 80x24: each block's layers on branches under it, the projection's own
    params under the block, and no line cut short at the width the summary has there."""
    app = TuitrainApp(tmp_path / "runs", preset="resnet20-cifar10")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        summary = screen.query_one(ModelSummary)
        lines = plain(summary.content, summary.content_region.width).splitlines()
        tree = [line.split()[0] for line in lines if line.startswith(("├─", "└─"))]
        assert tree[:5] == ["├─", "├─", "├─", "├─", "└─"] and len(tree) == 9 * 5
        assert any(
            line.startswith("│  1x1 conv shortcut, stride 2, 2,048 params") for line in lines
        )
        assert not [line for line in lines if "…" in line]


@aio
async def test_browsing_presets_keeps_each_presets_edits(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="mlp-digits", overrides={"train.epochs": 2})
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        await choose_preset(pilot, screen, "mlp-moons")
        assert value(screen, "epochs") == "20", "mlp-moons' own default"
        await type_into(pilot, screen, "lr", "0.5")
        await choose_preset(pilot, screen, "mlp-digits")
        assert value(screen, "epochs") == "2", "the command line's value is still there"
        await choose_preset(pilot, screen, "mlp-moons")
        assert value(screen, "lr") == "0.5"
        assert screen.current_spec().optimizer.lr == 0.5


@aio
async def test_choices_fit_the_task(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        settings = screen.table.settings
        await choose_preset(pilot, screen, "mlp-regression")
        assert settings.choices("loss") == {"mse", "mae", "huber"}
        datasets = settings.choices("dataset")
        assert "diabetes" in datasets and "sine" in datasets and "moons" not in datasets
        await choose_preset(pilot, screen, "mlp-digits")
        assert settings.choices("loss") == {"cross_entropy", "binary_cross_entropy"}
        assert "accuracy" in settings.choices("metric")


@aio
async def test_framework_choice_changes_the_summary_total(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "lstm-sine")
        assert not any(line.startswith("Keras backend") for line in table_lines(screen))
        await go_to(pilot, screen, "framework")
        await pilot.press("enter")  # the framework's list, under the setting
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("down", "down", "enter")  # PyTorch -> TensorFlow -> Keras
        await until(pilot, lambda: screen.framework == "keras")
        await settled(pilot, screen)
        assert app.screen is screen
        assert "Model for Keras" in summary_text(screen)
        assert any(line.startswith("Keras backend  tensorflow") for line in table_lines(screen))
        assert "with Keras (tensorflow)" in str(screen.query_one("#setup-message").content)
        await go_to(pilot, screen, "keras_backend")
        await pilot.press("right")  # tensorflow -> torch, in place
        await until(pilot, lambda: screen.keras_backend == "torch")
        await settled(pilot, screen)
        assert "with Keras (torch)" in str(screen.query_one("#setup-message").content)


@aio
async def test_not_installed_framework_is_marked_and_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = backends.is_installed
    monkeypatch.setattr(backends, "is_installed", lambda fw: fw != "tensorflow" and real(fw))
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        labels = dict((v, label) for label, v in screen.table.settings["framework"].options)
        assert labels["tensorflow"] == "TensorFlow (not installed)"
        assert labels["torch"] == "PyTorch"
        await choose_preset(pilot, screen, "mlp-moons")
        await go_to(pilot, screen, "framework")
        await pilot.press("right")
        await until(pilot, lambda: screen.framework == "tensorflow")
        await settled(pilot, screen)
        assert "TensorFlow is not installed" in str(screen.query_one("#setup-message").content)
        screen.action_start()
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        assert list_runs(tmp_path / "runs") == []


def hide_jax(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine as one without jax (whether or not it has it), with every framework."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jax" else real(name, *a))
    monkeypatch.setattr(backends, "is_installed", lambda fw: True)


def test_preflight_refuses_a_keras_backend_that_is_not_installed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hide_jax(monkeypatch)
    spec = load_spec("mlp-moons", {"run.framework": "keras", "run.keras_backend": "jax"})
    with pytest.raises(UserError, match="Keras' jax backend is not installed; install it "
                                        "with: pip install jax"):
        backends.preflight(spec, probe_device=False)


@aio
async def test_a_keras_backend_that_is_not_installed_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hide_jax(monkeypatch)
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons", overrides={"run.framework": "keras"})
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        labels = {v: label for label, v in screen.table.settings["keras_backend"].options}
        assert labels["jax"] == "jax (not installed)"
        await go_to(pilot, screen, "keras_backend")
        await pilot.press("left")  # tensorflow -> jax, wrapping
        await until(pilot, lambda: screen.keras_backend == "jax")
        await settled(pilot, screen)
        message = str(screen.query_one("#setup-message").content)
        assert message.startswith("cannot start: Keras' jax backend is not installed")
        await pilot.press("enter")  # opens the list; escape, then Start: refused
        await pilot.press("escape")
        screen.action_start()
        await pilot.pause()
        assert app.screen is screen and list_runs(tmp_path / "runs") == []


# --- invalid values -----------------------------------------------------------------------


@aio
async def test_invalid_value_is_marked_at_the_field_and_start_refused(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "mlp-moons")
        await type_into(pilot, screen, "epochs", "0")
        settings = screen.table.settings
        assert settings["epochs"].error == "train.epochs must be >= 1, got 0"
        assert not settings["lr"].error
        lines = table_lines(screen)
        at = lines.index("epochs         0")
        assert lines[at + 1].strip() == "train.epochs must be >= 1, got 0", "under the setting"
        message = screen.query_one("#setup-message")
        assert "cannot start" in str(message.content) and message.has_class("-error")

        await pilot.press("enter")  # Enter on a number asks to start: refused
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
        assert list_runs(tmp_path / "runs") == []
        assert any("cannot start" in n and "epochs" in n for n in notes)

        await type_into(pilot, screen, "lr", "0")
        assert "optimizer.lr must be > 0" in settings["lr"].error
        await go_to(pilot, screen, "seed")
        screen.action_start()  # refused: the cursor goes to the first wrong setting
        await pilot.pause()
        assert screen.table.cursor == "lr" and screen.table.has_focus
        await type_into(pilot, screen, "epochs", "3")
        await type_into(pilot, screen, "lr", "0.02")
        assert not settings["epochs"].error and not settings["lr"].error
        assert "epochs         3" in table_lines(screen)
        assert screen.problem(screen.result) == ""


@aio
async def test_a_loss_that_does_not_fit_the_data_is_marked_at_the_loss(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "mlp-digits")
        await go_to(pilot, screen, "loss")
        await pilot.press("right")  # cross_entropy -> binary_cross_entropy
        settings = screen.table.settings
        await until(pilot, lambda: settings["loss"].error)
        error = settings["loss"].error
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
        assert screen.table.settings["epochs"].error
        assert screen.table.settings.device == "cuda:1"


def test_field_errors_drop_the_file_prefix() -> None:
    assert short_reason("/x/presets/mlp.toml:23: optimizer.lr must be > 0") == \
        "optimizer.lr must be > 0"
    assert short_reason("a.toml:3 model.layers[1]: rate must be") == "rate must be"
    assert short_reason("a.toml:4 model.layers[1].layers[0]: rate must be") == "rate must be"
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
        settings = screen.table.settings
        await until(pilot, lambda: settings.detected)
        labels = [label for label, _ in settings["device"].options]
        assert "cuda:0  NVIDIA H100 80GB HBM3 · 75.0/80.0 GiB free" in labels
        assert labels[0] == "auto (best available)"
        await go_to(pilot, screen, "device")
        await pilot.press("right")
        await settled(pilot, screen)
        assert screen.current_spec().run.device == "cuda:0"


@aio
async def test_each_gpu_says_how_busy_it_is_and_who_uses_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As nvitop shows them: the GPU's load and the processes on it (NVML), so a person on a
    shared server sees which GPU `auto` would leave alone."""
    fake_gpus(monkeypatch, tmp_path, [{
        "index": 0, "uuid": "GPU-0", "name": "NVIDIA H100 80GB HBM3",
        "memory_total": 80 * 2**30, "memory_used": 5 * 2**30, "utilization": 87,
        "processes": [{"pid": 4242, "user": "alice", "name": "python",
                       "memory_used": 5 * 2**30}]}])
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        settings = setup_of(app).table.settings
        await until(pilot, lambda: settings.detected)
        labels = [label for label, _ in settings["device"].options]
    assert labels[0] == "auto (the free GPU with the most free memory)"
    assert ("cuda:0  NVIDIA H100 80GB HBM3 · 75.0/80.0 GiB free · 87% util · in use by alice "
            "(pid 4242 python, 5.0 GiB)") in labels


@aio
async def test_devices_offers_data_parallel_training_for_torch(tmp_path: Path) -> None:
    """One GPU detected: PyTorch offers 2 processes over gloo, TensorFlow 2 logical CPUs
    (MirroredStrategy), Keras on JAX 2 host devices (DataParallel), Keras on torch only one
    device; the choice goes into the spec and the ready line."""
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        settings = screen.table.settings
        await choose_preset(pilot, screen, "mlp-digits")
        await until(pilot, lambda: settings.detected)
        assert [v for _, v in settings["devices"].options] == ["1", "2"]
        await go_to(pilot, screen, "devices")
        await pilot.press("right")
        await settled(pilot, screen)
        assert screen.current_spec().run.devices == "2"
        message = str(screen.query_one("#setup-message").content)
        assert "auto, 2 devices (DDP)" in message
        settings.choose("framework", "tensorflow")
        assert settings["devices"].options[1] == ("2 logical CPUs (Mirrored)", "2")
        assert "auto, 2 devices (Mirrored)" in screen.ready_text(screen.current_spec())
        settings.choose("framework", "keras")
        settings.choose("keras_backend", "jax")
        assert settings["devices"].options[1] == ("2 logical CPUs (DataParallel)", "2")
        settings.choose("keras_backend", "torch")
        assert [v for _, v in settings["devices"].options] == ["1", "2"]  # as asked, listed
        assert settings["devices"].options[1][0] == "2 (as asked)"


def test_several_gpus_offer_counts_and_all() -> None:
    from tuitrain.ui.settings import Settings

    settings = Settings()
    cuda = [{"id": f"cuda:{i}", "kind": "cuda", "name": "H100"} for i in range(3)]
    settings.set_devices("torch", {"devices": [*cuda, {"id": "cpu", "kind": "cpu"}]})
    assert [v for _, v in settings["devices"].options] == ["1", "2", "3", "all"]
    settings.choose("device", "cpu")
    assert [v for _, v in settings["devices"].options] == ["1", "2"]


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


@aio
async def test_a_click_on_start_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch, "start_runner",
                        lambda run, resume=False: subprocess.Popen([sys.executable, "-c", "pass"]))
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        await pilot.click("#start", offset=(3, 0))  # on the words, not the padding
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert len(list_runs(tmp_path / "runs")) == 1


def test_the_first_preset_shown_needs_no_download() -> None:
    presets = list_presets()
    assert presets[0].name == "cnn-cifar10"  # alphabetical; its data is a download
    assert default_preset(presets) == "cnn-digits"


@aio
async def test_ctrl_l_runs_the_range_test_and_puts_its_suggestion_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitrain.core import lr_find
    from tuitrain.ui.screens.lr_plot import LrPlotScreen

    asked: list[float] = []

    def fake_find(spec: Any, *args: Any) -> lr_find.Sweep:
        asked.append(spec.optimizer.lr)
        lrs = tuple(float(x) for x in lr_find.rates(1e-5, 1.0, 40))
        losses = tuple(1.0 / (1.0 + (lr / 1e-3) ** 2) + 0.1 for lr in lrs)
        return lr_find.Sweep(lrs, losses, tuple(lr_find.smooth(list(losses))), 0.00123, False)

    monkeypatch.setattr(lr_find, "find", fake_find)
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "mlp-moons")
        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, LrPlotScreen))
        assert asked == [0.01]  # on the settings as they stand
        text = str(app.screen.query_one("#prompt-hint", Static).render())
        assert "suggested: 0.00123" in text
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen)
        assert value(screen, "lr") == "0.00123"
        await settled(pilot, screen)
        assert screen.current_spec().optimizer.lr == pytest.approx(0.00123)
