"""The setup screen: pick a preset, adjust the settings (framework, data, loss, optimizer,
numbers, device), see the model summary, and start training.

Every change is checked in a thread worker (`core.overrides_check`, no framework import) and
the result comes back as a typed message; device detection runs one child process per
framework, also in a worker, and fills the device choice in when it reports. Start refuses,
with the reason, anything the check rejects."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Static

from tuitrain import backends
from tuitrain.core.catalog import FRAMEWORK_TITLES, parallel_strategy
from tuitrain.core.datainfo import dataset_info
from tuitrain.core.errors import UserError
from tuitrain.core.presets import PresetFile, list_presets, load_spec
from tuitrain.core.spec import DataSpec, RunSpec
from tuitrain.ui.widgets.model_summary import ModelSummary
from tuitrain.ui.widgets.preset_list import PresetList
from tuitrain.ui.widgets.settings_table import SettingsTable

if TYPE_CHECKING:  # the check and device detection are imported by their workers
    from tuitrain.core.lr_find import Sweep
    from tuitrain.core.overrides_check import CheckResult
    from tuitrain.ui.app import TuitrainApp

# "presets/mlp-moons.toml:23: " and "--set x: " prefixes name the file; the field says where.
_WHERE = re.compile(r"^(\S+\.toml(:\d+)?(\s+model(\.layers\[\d+\])+)?|--set \S+):\s*")


def short_reason(message: str) -> str:
    """A UserError's text without the preset file's path, for showing at a field."""
    return _WHERE.sub("", message, count=1)


def default_preset(presets: list[PresetFile]) -> str:
    """The first preset whose data is here already (a new user's Enter trains offline)."""
    for preset in presets:
        try:
            info = dataset_info(DataSpec(preset.dataset), task=preset.task)  # type: ignore[arg-type]
        except UserError:
            continue
        if not info.needs_download:
            return preset.name
    return presets[0].name


class Checked(Message):
    """The check of the current settings finished (`generation` says which edit it was for)."""

    def __init__(self, generation: int, result: CheckResult) -> None:
        super().__init__()
        self.generation = generation
        self.result = result


class LrFound(Message):
    """The learning-rate finder ended: its sweep and plot, or why it failed."""

    def __init__(self, sweep: Sweep | None, plot: str, error: str) -> None:
        super().__init__()
        self.sweep = sweep
        self.plot = plot
        self.error = error


class DevicesFound(Message):
    """One framework's device detection finished: {'devices': [...]} or {'error': ...}."""

    def __init__(self, framework: str, result: dict[str, Any]) -> None:
        super().__init__()
        self.framework = framework
        self.result = result


class SetupScreen(Screen[None]):
    """Preset, settings and device; Enter starts a run through the app."""

    AUTO_FOCUS = "#presets"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012
    BINDINGS = [  # noqa: RUF012
        Binding("enter", "start", "Start"),
        Binding("ctrl+l", "lr_find", "LR finder"),
    ]

    def __init__(self, preset: str | None = None, overrides: dict[str, Any] | None = None,
                 framework: str | None = None) -> None:
        super().__init__(id="setup")
        self.presets = list_presets()
        self.initial_preset = preset
        overrides = dict(overrides or {})
        self.initial_framework = framework or overrides.pop("run.framework", None) or "torch"
        self.initial_backend = overrides.pop("run.keras_backend", None) or "tensorflow"
        self.initial_overrides = overrides
        self.extra: dict[str, Any] = {}  # --set keys the table has no setting for
        # Each preset's settings as the person left them (with its extra keys), put back
        # when the preset is chosen again: browsing the list loses no edit.
        self.kept: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.preset: str | None = None
        self.generation = 0  # counts checks asked for; `shown` is the one on screen
        self.shown = 0
        self.last_edited: str | None = None
        self.result: CheckResult | None = None
        self._probing: set[str] = set()

    # --- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The width class now, before any child exists: set by the first resize instead, it
        # would restyle, relayout and repaint every widget right after the first frame.
        width_class = self._breakpoint_class(self.app.size.width)
        if width_class:
            self.add_class(width_class, update=False)
        yield Header()
        with Horizontal(id="setup-body"):
            with Vertical(id="setup-left"):
                yield Label("Preset", classes="section-title")
                yield PresetList(self.presets, id="presets")
            with ScrollableContainer(id="setup-right", can_focus=False):
                with VerticalScroll(id="setup-form-col", can_focus=False):
                    yield Label("Settings", classes="section-title")
                    yield SettingsTable(self.initial_framework, self.initial_backend,
                                        id="settings")
                with VerticalScroll(id="setup-summary-col"):
                    yield ModelSummary("", id="summary")
        with Horizontal(id="setup-actions"):
            yield Static("", id="setup-message", markup=False)
            # A link, not a Button: a Button's widget and stylesheet cost the first frame
            # several milliseconds (figure 8), and Enter starts from anywhere anyway.
            yield Static("[@click=screen.start]Start ⏎[/]", id="start")
        yield Footer()

    def _breakpoint_class(self, width: int) -> str:
        """The class Textual's `HORIZONTAL_BREAKPOINTS` gives a screen `width` cells wide."""
        fitting = [(limit, name) for limit, name in self.HORIZONTAL_BREAKPOINTS if width >= limit]
        return max(fitting)[1] if fitting else ""

    def on_mount(self) -> None:
        self.title = "tuitrain"
        self.sub_title = "new run"
        if not self.presets:
            self._say("no presets found; see `tuitrain presets`", error=True)
            return
        names = [p.name for p in self.presets]
        start = self.initial_preset if self.initial_preset in names else default_preset(
            self.presets)
        if self.initial_preset and self.initial_preset not in names:
            self.notify(f"unknown preset {self.initial_preset!r}; showing {start}",
                        severity="warning", timeout=8)
        self.load_preset(start, self.initial_overrides, check=False)
        self.query_one(PresetList).select_name(start)
        # The check (a thread) and device detection (a child process per framework, seconds
        # of CPU) start after the first frame, so that they do not compete with drawing it.
        self._say(self.problem(None))
        self.call_after_refresh(self.revalidate)
        self.call_after_refresh(self.detect, self.framework)

    # --- presets and fields -------------------------------------------------------------

    @property
    def table(self) -> SettingsTable:
        return self.query_one(SettingsTable)

    @property
    def framework(self) -> str:
        return self.table.settings.framework

    @property
    def keras_backend(self) -> str:
        return self.table.settings.keras_backend

    def load_preset(self, name: str, overrides: dict[str, Any] | None = None,
                    check: bool = True) -> None:
        """Fill the settings from a preset's defaults, then apply pre-set overrides one by
        one; then check them (in a worker) unless `check` is False."""
        self.preset = name
        try:
            spec = load_spec(name)
        except UserError as exc:
            self.query_one(ModelSummary).show_error(str(exc))
            self._say(str(exc), error=True)
            return
        self.table.load(spec)
        self.extra = {}
        for key, value in (overrides or {}).items():
            if key == "run.device":
                self.table.choose_device(str(value))
            elif key == "run.devices":
                self.table.choose_device(self.table.settings.wanted_device, str(value))
            elif not self.table.set_value(key, value):
                self.extra[key] = value
        if name in self.kept:
            snapshot, self.extra = self.kept[name]
            self.table.restore(snapshot)
        if check:
            self.revalidate()

    def on_preset_list_chosen(self, event: PresetList.Chosen) -> None:
        # Only the preset under the cursor now counts (not one highlighted before mount).
        if event.preset != self.preset and event.preset == self.query_one(PresetList).current:
            if self.preset is not None:
                self.kept[self.preset] = (self.table.settings.snapshot(), self.extra)
            self.last_edited = None
            self.load_preset(event.preset)

    def on_preset_list_confirmed(self, event: PresetList.Confirmed) -> None:
        self.action_start()

    def on_settings_table_edited(self, event: SettingsTable.Edited) -> None:
        if event.name == "framework":
            self.detect(self.framework)
        self.last_edited = event.key
        self.revalidate()

    def on_settings_table_submitted(self, event: SettingsTable.Submitted) -> None:
        event.stop()
        self.action_start()

    # --- checking -----------------------------------------------------------------------

    def fixed(self) -> dict[str, Any]:
        """Values picked from lists, never wrong alone, applied to every trial."""
        return {**self.extra, **self.table.settings.picked()}

    def revalidate(self) -> None:
        """Check the current settings in a worker; the newest result wins."""
        if self.preset is None:
            return
        self.generation += 1
        values, local = self.table.settings.values()
        self._check(self.generation, self.preset, values, local, self.fixed(), self.last_edited)

    @work(thread=True, exclusive=True, group="setup-check")
    def _check(self, generation: int, preset: str, values: dict[str, Any],
               local: dict[str, str], fixed: dict[str, Any], last: str | None) -> None:
        result = self.compute(preset, values, local, fixed, last)
        self.post_message(Checked(generation, result))

    @staticmethod
    def compute(preset: str, values: dict[str, Any], local: dict[str, str],
                fixed: dict[str, Any], last: str | None) -> CheckResult:
        """The check itself: local parse errors first, then the preset with the overrides."""
        from tuitrain.core.overrides_check import CheckResult, check_overrides

        result = check_overrides(preset, values, fixed, last)
        if not local:
            return result
        errors = {**result.errors, **local}
        return CheckResult(None, result.info, result.summary, result.summary_error, errors,
                           result.general)

    def on_checked(self, message: Checked) -> None:
        if message.generation == self.generation:
            self.shown = message.generation
            self.show_result(message.result)

    def show_result(self, result: CheckResult) -> None:
        """Mark fields, update the summary and the message line."""
        self.result = result
        self.table.mark({k: short_reason(v) for k, v in result.errors.items()})
        summary = self.query_one(ModelSummary)
        if result.summary is not None:
            summary.show(result.summary, result.info, self.framework)
        elif result.spec is not None and result.info is not None:  # a person's own model
            summary.show_own(result.spec, result.info)
        else:
            summary.show_error(short_reason(result.summary_error or result.general))
        problem = self.problem(result)
        if problem:
            self._say(problem, error=True)
        else:
            assert result.spec is not None
            self._say(self.ready_text(result.spec))

    def problem(self, result: CheckResult | None) -> str:
        """Why Start would be refused now, '' when it would not."""
        if result is None:
            return "checking the settings…"
        if result.general:
            return f"cannot start: {short_reason(result.general)}"
        if result.errors:
            count = len(result.errors)
            names = ", ".join(self.table.settings.label_of(k) for k in result.errors)
            return f"cannot start: {count} field{'s' if count > 1 else ''} to fix ({names})"
        missing = backends.not_installed(self.framework, self.keras_backend)
        if missing:
            return f"cannot start: {missing}"
        return ""

    def ready_text(self, spec: RunSpec) -> str:
        title = FRAMEWORK_TITLES[spec.run.framework]
        if spec.run.framework == "keras":
            title += f" ({spec.run.keras_backend})"
        where = spec.run.device if spec.run.devices == "1" else (
            f"{spec.run.device}, {spec.run.devices} devices "
            f"({parallel_strategy(spec.run.framework, spec.run.keras_backend)})")
        return (f"ready: {spec.name} with {title} on {where}, "
                f"{spec.train.epochs} epochs — Enter starts")

    def _say(self, text: str, error: bool = False) -> None:
        message = self.query_one("#setup-message", Static)
        message.update(text)
        message.set_class(error, "-error")

    # --- devices ------------------------------------------------------------------------

    def detect(self, framework: str) -> None:
        """Ask `framework` which devices it sees (once), in a child process."""
        if framework in self._probing:
            return
        self._probing.add(framework)
        if not backends.is_installed(framework):
            self.table.set_devices(framework, {"devices": [], "error": "not installed"})
            return
        self._probe(framework)

    @work(thread=True, group="setup-devices")
    def _probe(self, framework: str) -> None:
        from tuitrain.core import devices

        found = devices.probe(framework)  # and who uses each GPU, as NVML sees it
        use = {f"cuda:{c.number}": devices.use_line(c) for c in devices.gpu_use()}
        self.post_message(DevicesFound(framework, {**found, "use": use}))

    def on_devices_found(self, message: DevicesFound) -> None:
        self.table.set_devices(message.framework, message.result)

    # --- start --------------------------------------------------------------------------

    def current_spec(self) -> RunSpec:
        """The run the screen would start now, checked again here; UserError says why not."""
        if self.preset is None:
            raise UserError("choose a preset first")
        values, local = self.table.settings.values()
        result = self.compute(self.preset, values, local, self.fixed(), self.last_edited)
        self.generation += 1
        self.shown = self.generation
        self.show_result(result)
        problem = self.problem(result)
        if problem:
            raise UserError(problem)
        assert result.spec is not None
        return result.spec

    def action_lr_find(self) -> None:
        """`ctrl+l`: the learning-rate range test on these settings, in the background; its
        plot and suggestion then, and the suggestion into the settings if wanted."""
        try:
            spec = self.current_spec()
        except UserError as exc:
            self.notify(str(exc), title="No range test", severity="error")
            return
        self.notify("learning-rate range test: 200 steps on these settings, in the "
                    "background…", timeout=6)
        self._lr_find(spec)

    @work(thread=True, exclusive=True, group="setup-lr-find")
    def _lr_find(self, spec: RunSpec) -> None:
        from tuitrain.core import lr_find

        try:
            sweep = lr_find.find(spec)
        except UserError as exc:
            self.post_message(LrFound(None, "", str(exc)))
            return
        size = self.app.size  # the dialog's room: its border and padding take 10 columns
        text = lr_find.plot_text(sweep, max(40, min(76, size.width - 12)),
                                 max(10, min(18, size.height - 10)))
        self.post_message(LrFound(sweep, text, ""))

    def on_lr_found(self, message: LrFound) -> None:
        from tuitrain.ui.screens.lr_plot import LrPlotScreen

        if message.sweep is None:
            self.notify(message.error, title="Range test failed", severity="error",
                        timeout=10)
            return
        suggested = message.sweep.suggested

        def answer(use: bool | None) -> None:
            if use and suggested is not None:
                self.table.set_value("optimizer.lr", f"{suggested:.3g}")
                self.notify(f"learning rate {suggested:.3g}", timeout=3)

        self.app.push_screen(LrPlotScreen(message.sweep, message.plot), answer)

    def action_start(self) -> None:
        """Build the RunSpec and hand it to the app, or say why not."""
        try:
            spec = self.current_spec()
        except UserError as exc:
            self.notify(str(exc), title="Not started", severity="error")
            self._focus_first_error()
            return
        cast("TuitrainApp", self.app).start_run(spec)

    def _focus_first_error(self) -> None:
        wrong = next((f for f in self.table.settings.shown if f.error), None)
        if wrong is not None:
            self.table.move_to(wrong.name)
