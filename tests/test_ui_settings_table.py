"""The settings behind the setup screen (`ui.settings`, no Textual) and the table that edits
them (`SettingsTable`, driven by keys and clicks in the real app)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_runs import aio, quiet_env, until
from test_ui_setup import go_to, settled, setup_of, table_lines

from tuitrain.core.presets import load_spec
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.choice import ChoiceScreen
from tuitrain.ui.screens.runs import RunsScreen
from tuitrain.ui.settings import NO_METRIC, PATH_CHOICE, Settings, parse_field
from tuitrain.ui.widgets.settings_table import SettingsTable


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    quiet_env(monkeypatch, tmp_path)


# --- the settings as data ------------------------------------------------------------------


def loaded(preset: str = "mlp-moons") -> Settings:
    settings = Settings()
    settings.load(load_spec(preset))
    return settings


def test_values_are_the_presets_defaults() -> None:
    values, errors = loaded().values()
    assert errors == {}
    assert values["data.dataset"] == "moons" and values["optimizer.lr"] == 0.01
    assert values["train.epochs"] == 20 and values["train.metrics"] == ["accuracy"]
    assert loaded().picked() == {"run.framework": "torch", "run.keras_backend": "tensorflow",
                                 "run.device": "auto", "run.devices": "1"}


def test_cycling_wraps_and_only_offers_the_tasks_choices() -> None:
    settings = loaded("mlp-regression")
    losses = [value for _, value in settings["loss"].options]
    assert losses == ["mse", "mae", "huber"] and settings["loss"].value == "mse"
    assert settings.cycle("loss", -1) and settings["loss"].value == "huber"
    assert settings.cycle("loss", 1) and settings["loss"].value == "mse"
    assert not settings.choose("loss", "cross_entropy"), "not a regression loss"


def test_the_keras_backend_and_the_data_path_show_only_when_they_apply() -> None:
    settings = loaded()
    names = [f.name for f in settings.shown]
    assert "keras_backend" not in names and "data_path" not in names
    settings.choose("framework", "keras")
    settings.choose("dataset", PATH_CHOICE)
    names = [f.name for f in settings.shown]
    assert names.index("keras_backend") == names.index("framework") + 1
    assert names.index("data_path") == names.index("dataset") + 1
    values, errors = settings.values()
    assert "data.dataset" not in values and "enter the path" in errors["data.dataset"]
    assert ".npy" in errors["data.dataset"]
    settings.choose("data_path", "mine.csv")
    assert settings.values()[0]["data.dataset"] == "mine.csv"


def test_an_error_goes_to_the_setting_that_was_typed() -> None:
    settings = loaded()
    settings.mark({"data.dataset": "no such file"})
    assert settings["dataset"].error == "no such file" and not settings["data_path"].error
    settings.choose("dataset", PATH_CHOICE)
    settings.mark({"data.dataset": "no such file"})
    assert settings["data_path"].error == "no such file" and not settings["dataset"].error
    assert not settings.mark({"data.dataset": "no such file"}), "unchanged: nothing to redraw"


def test_numbers_that_are_not_numbers_are_errors_at_their_setting() -> None:
    settings = loaded()
    settings.choose("lr", "0.0.1")
    settings.choose("epochs", "")
    errors = settings.values()[1]
    assert errors == {"optimizer.lr": "enter a number, e.g. 0.001",
                      "train.epochs": "enter a whole number"}
    assert parse_field("number", "1e-3") == (0.001, "")
    assert parse_field("integer", " 12 ") == (12, "")


def test_cli_prefill_keeps_extra_metrics_and_own_data() -> None:
    settings = loaded("mlp-regression")
    assert settings.set_value("train.metrics", ["rmse", "mae"])
    assert settings["metric"].value == "rmse"
    assert settings.values()[0]["train.metrics"] == ["rmse", "mae"]
    assert settings.set_value("train.metrics", [])
    assert settings["metric"].value == NO_METRIC
    assert settings.set_value("data.dataset", "/data/mine.npz")
    assert settings["dataset"].value == PATH_CHOICE
    assert settings["data_path"].value == "/data/mine.npz"
    assert not settings.set_value("model.layers", []), "no setting for it"
    assert not settings.set_value("optimizer.name", "lbfgs"), "not offered"


def test_devices_follow_the_framework_and_keep_an_undetected_choice() -> None:
    settings = loaded()
    assert [v for _, v in settings["device"].options] == ["auto", "cpu"]
    settings.choose_device("cuda:1")
    settings.set_devices("torch", {"devices": [{"id": "cuda:0", "name": "GPU"},
                                               {"id": "cpu", "name": "CPU"}]})
    options = settings["device"].options
    assert [v for _, v in options] == ["auto", "cuda:0", "cpu", "cuda:1"]
    assert options[-1][0] == "cuda:1 (not detected)" and settings.device == "cuda:1"
    settings.set_devices("tensorflow", {"devices": [], "error": "not installed"})
    settings.choose("framework", "tensorflow")
    assert settings["device"].options[0] == ("auto (not installed)", "auto")


# --- the table, by keys and clicks ---------------------------------------------------------


@aio
async def test_typing_edits_numbers_and_leaves_other_keys_to_the_app(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        settings = screen.table.settings
        await go_to(pilot, screen, "batch_size")
        await pilot.press("backspace", "backspace", "6", ".", "4")  # '.' is not a whole number
        assert settings["batch_size"].value == "64"
        await settled(pilot, screen)
        assert screen.current_spec().train.batch_size == 64
        await pilot.press("r")  # not part of a number: the app's key for the runs screen
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))


@aio
async def test_a_path_takes_every_printable_key(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        table = screen.table
        table.choose("dataset", PATH_CHOICE)
        await go_to(pilot, screen, "data_path")
        await pilot.press(*"runs/q.csv")  # 'r', 'n' and 'q' are app keys elsewhere
        assert app.screen is screen
        assert table.settings["data_path"].value == "runs/q.csv"
        await settled(pilot, screen)
        assert "runs/q.csv" in table.settings["data_path"].error
        assert any(line.startswith("data path      runs/q.csv") for line in table_lines(screen))
        message = str(screen.query_one("#setup-message").content)
        assert message.endswith("1 field to fix (data path)"), message
        await pilot.press(*"/" + "x" * 60 + "/end.csv")  # longer than the line
        line = next(li for li in table_lines(screen) if li.startswith("data path"))
        assert line.endswith("xx/end.csv") and "…" in line, "the end stays in view: " + line
        table.choose("dataset", "moons")  # the path's line goes; the cursor moves up a line
        assert table.cursor == "dataset"
        assert not any(line.startswith("data path") for line in table_lines(screen))


@aio
async def test_a_choice_list_opens_under_its_setting_and_escape_keeps_the_value(
        tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        table = screen.query_one(SettingsTable)
        names = [f.name for f in table.settings.shown]
        row = names.index("optimizer")
        await pilot.click(SettingsTable, offset=(20, row))
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        choices = app.screen.query_one("#choice-list")
        assert choices.region.y == table.content_region.y + row + 1, "just under the setting"
        assert choices.highlighted == [v for _, v in table.settings["optimizer"].options].index(
            "adam")
        await pilot.press("down", "escape")
        await until(pilot, lambda: app.screen is screen)
        assert table.settings["optimizer"].value == "adam" and table.cursor == "optimizer"
        await pilot.press("enter", "down", "enter")
        await until(pilot, lambda: app.screen is screen)
        assert table.settings["optimizer"].value != "adam"
        await settled(pilot, screen)
        assert screen.current_spec().optimizer.name == table.settings["optimizer"].value


@aio
async def test_the_cursor_stays_in_view_on_a_small_terminal(tmp_path: Path) -> None:
    app = TuitrainApp(tmp_path / "runs", preset="mlp-moons")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = setup_of(app)
        await settled(pilot, screen)
        await go_to(pilot, screen, "device")
        await pilot.pause()
        table = screen.table
        y = table.content_region.y + [f.name for f in table.settings.shown].index("device")
        scroller = screen.query_one("#setup-right")
        assert scroller.region.y <= y < scroller.region.bottom


def test_every_setting_has_a_label_that_fits() -> None:
    from tuitrain.ui.widgets.settings_table import LABEL_WIDTH

    assert all(len(f.label) < LABEL_WIDTH for f in Settings().fields.values())
