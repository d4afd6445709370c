"""The setup screen with a person's own photos and model file (Pilot, 160x48): the preset's
dataset swapped for an image folder typed as a path, the model for a file found in the
working directory, and Start hands the run both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_runs import aio, until
from test_ui_setup import SIZE, choose_preset, go_to, settled, setup_of, summary_text, type_into

from tuitrain.core import launch
from tuitrain.core.rundir import list_runs
from tuitrain.ui.app import TuitrainApp
from tuitrain.ui.screens.choice import ChoiceScreen
from tuitrain.ui.screens.dashboard import DashboardScreen
from tuitrain.ui.settings import PATH_CHOICE

Image = pytest.importorskip("PIL.Image")

MODEL = """
from torch import nn

def build_model(input_shape, num_outputs):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_outputs))
"""


async def pick(pilot: Any, app: TuitrainApp, screen: Any, name: str, wanted: str) -> None:
    """Open a setting's list and move down to `wanted`, as a person would."""
    await go_to(pilot, screen, name)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
    for _ in range(40):
        if screen.table.settings[name].value == wanted:
            break
        await pilot.press("down", "enter")
        await until(pilot, lambda: app.screen is screen)
        if screen.table.settings[name].value == wanted:
            break
        await go_to(pilot, screen, name)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
    if isinstance(app.screen, ChoiceScreen):
        await pilot.press("escape")
    assert screen.table.settings[name].value == wanted


@aio
async def test_own_photos_and_model_from_the_setup_screen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    for name in ("apples", "plums"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{i}.jpg")
    (tmp_path / "my_model.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    started: list[Path] = []
    monkeypatch.setattr(launch, "start_runner", lambda run, resume=False: (
        started.append(run.path), subprocess.Popen([sys.executable, "-c", "pass"]))[1])
    app = TuitrainApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        screen = setup_of(app)
        await choose_preset(pilot, screen, "resnet20-cifar10")
        await pick(pilot, app, screen, "dataset", PATH_CHOICE)
        await type_into(pilot, screen, "data_path", "photos")
        assert "image folder, 6 samples" in summary_text(screen)
        assert "(32, 32, 3)" in summary_text(screen)  # several sizes: resized to 32x32
        await pick(pilot, app, screen, "model", "my_model.py")
        await settled(pilot, screen)
        assert "ready: resnet20-cifar10" in str(screen.query_one("#setup-message").content)
        await pilot.click("#start", offset=(3, 0))
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    (run,) = list_runs(tmp_path / "runs")
    spec = run.read_spec()
    assert spec.data.dataset == str(tmp_path / "photos")  # found from any directory
    assert spec.data.augment == ("crop", "flip")
    assert spec.model_file is not None and Path(spec.model_file.file).read_text() == MODEL
    assert started == [run.path]
