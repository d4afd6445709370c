"""The tuitrain Textual app: screen routing, app-wide keys, command palette entries, the quit
flow for live runs, and signals: SIGHUP (the terminal is gone) leaves every run training;
SIGTERM and SIGINT stop the runs this app started, then leave.

How other screens use it (public API):
- `app.start_run(spec)`: validate a `RunSpec`, create its run folder, start the runner process
  and show its dashboard. The setup screen calls this on Start. Returns the `RunDir`, or None
  after telling the person why not (a notification; never raises for a user mistake).
- `app.open_run(run)`: show the dashboard of an existing run folder (live or finished).
- `app.resume_run(run)`: continue a stopped or crashed run from its last checkpoint.
- `app.show("setup" | "runs")`: show a named screen. Screens are registered by name in
  `SCREENS` as (module, class) and imported lazily; the setup screen is built as
  `SetupScreen(preset=app.launch_preset, overrides=app.launch_overrides)` and the runs screen
  as `RunsScreen()` (it reads `app.runs_dir`). Each is installed once and kept.
- `app.runs_dir`: the folder of run folders.

Only the runner imports a framework; nothing on this path does, so the first frame is fast."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tuitrain.backends import preflight
from tuitrain.core import finetune, launch
from tuitrain.core.errors import UserError
from tuitrain.core.spec import RunSpec
from tuitrain.ui.screens.quit import QuitChoice, QuitScreen

if TYPE_CHECKING:  # imported when first needed: the first frame does not wait for them
    from tuitrain.core.rundir import RunDir
    from tuitrain.ui.screens.dashboard import DashboardScreen

STOP_WAIT = 30.0  # seconds "stop and save" waits for the runners before leaving anyway
HANGUP_GRACE = 0.5  # seconds a hung-up app may take to exit cleanly before it is forced:
# the UI process only reads the run folder, so ending it abruptly loses nothing


class TuitrainApp(App[int]):
    """Setup, dashboard and runs screens over one runs folder."""

    CSS_PATH = Path(__file__).with_name("tuitrain.tcss")
    TITLE = "tuitrain"
    SCREENS_BY_NAME: ClassVar[dict[str, tuple[str, str]]] = {
        "setup": ("tuitrain.ui.screens.setup", "SetupScreen"),
        "runs": ("tuitrain.ui.screens.runs", "RunsScreen"),
    }
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("r", "show('runs')", "Runs"),
        Binding("n", "show('setup')", "New"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, runs_dir: Path, *, watch: RunDir | None = None,
                 start: RunSpec | None = None, preset: str | None = None,
                 overrides: dict[str, Any] | None = None, poll_interval: float = 0.1) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.launch_preset = preset
        self.launch_overrides = dict(overrides or {})
        self.poll_interval = poll_interval
        self.dashboards: dict[str, DashboardScreen] = {}
        self._initial_watch = watch
        self._initial_start = start
        self.hung_up = False
        self.dom_ready = False  # the first frame is out (Textual's Ready event)
        self.last_dashboard: DashboardScreen | None = None

    # ----- start-up --------------------------------------------------------------------
    def on_mount(self) -> None:
        self._install_signal_handlers()
        if self._initial_start is not None:
            if self.start_run(self._initial_start) is None:
                self.show("setup")
        elif self._initial_watch is not None:
            self.open_run(self._initial_watch)
        else:
            self.show("setup")

    def on_ready(self) -> None:
        """The first frame is painted: garbage collection resumes (`cli.app` pauses it for
        the start-up), and the dashboard loads its plots and history now."""
        gc.enable()
        self.dom_ready = True
        dashboard = sys.modules.get("tuitrain.ui.screens.dashboard")
        if dashboard is not None and isinstance(self.screen, dashboard.DashboardScreen):
            self.screen.start()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        # The loop runs in the main thread (checked above); an event loop without signal
        # support (Windows' proactor: NotImplementedError) keeps Python's default handlers.
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGHUP, self.hang_up)
            for signum in (signal.SIGTERM, signal.SIGINT):
                if signal.getsignal(signum) is not signal.SIG_IGN:  # ignored: stays so
                    loop.add_signal_handler(signum, self.terminate, signum)

    def hang_up(self) -> None:
        """The terminal is gone (SSH drop): leave now, never touching a runner. If a clean
        exit cannot finish (the terminal write blocks), the process ends itself."""
        self.hung_up = True
        timer = threading.Timer(HANGUP_GRACE, os._exit, args=(129,))
        timer.daemon = True
        timer.start()
        self.exit(129)

    def terminate(self, signum: int) -> None:
        """Asked to stop (SIGTERM, or SIGINT from `kill`: in the terminal Ctrl+C is a key):
        the runs this app started stop gracefully, as `tuitrain train`'s would, and the app
        leaves at once; the runners finish their step and checkpoint on their own. Runs it
        only watches are left alone."""
        for dash in self.live_dashboards():
            if dash.proc is not None and not dash.stopping:
                dash.stopping = True
                launch.request_stop(dash.run)
        self.exit(128 + signum)

    # ----- screens -------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        """The setup screen, when the app opens on it. As the default screen it is composed
        and painted once, for the first frame; pushed from `on_mount` it would be painted
        inside Textual's start-up batch first, and that paint is thrown away."""
        if self._initial_start is None and self._initial_watch is None:
            screen = self.screen_named("setup")
            if screen is not None:
                return screen
        return super().get_default_screen()

    def screen_named(self, name: str) -> Screen[Any] | None:
        """The installed screen `name`, built on first use; None if it does not exist yet."""
        if self.is_screen_installed(name):
            return self.get_screen(name)
        module_name, class_name = self.SCREENS_BY_NAME[name]
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            return None
        if name == "setup":
            screen = cls(preset=self.launch_preset, overrides=self.launch_overrides)
        else:
            screen = cls()
        self.install_screen(screen, name)
        return screen

    def _switch_to(self, screen: Screen[Any]) -> None:
        if self.screen is screen:
            return
        while len(self.screen_stack) > 2 and self.screen.is_modal:
            self.pop_screen()
        if screen in self.screen_stack:  # the setup screen the app opened on, at the bottom
            while self.screen is not screen:
                self.pop_screen()
            return
        if len(self.screen_stack) <= 1:
            self.push_screen(screen)
        else:
            self.switch_screen(screen)

    def show(self, name: str) -> None:
        """Show the setup or runs screen."""
        screen = self.screen_named(name)
        if screen is None:
            self.notify(f"the {name} screen is not available", severity="warning")
            return
        self._switch_to(screen)

    def action_show(self, name: str) -> None:
        self.show(name)

    def open_run(self, run: RunDir, proc: subprocess.Popen[bytes] | None = None) -> DashboardScreen:
        """Show the dashboard of `run` (one dashboard per run, kept while the app runs)."""
        from tuitrain.ui.screens.dashboard import DashboardScreen

        dash = self.dashboards.get(run.id)
        if dash is None or (proc is not None and dash.proc is not proc):
            if dash is not None:
                self.uninstall_screen(dash)
            dash = DashboardScreen(run, proc, poll_interval=self.poll_interval)
            self.dashboards[run.id] = dash
            self.install_screen(dash, f"run:{run.id}")
        self._switch_to(dash)
        self.last_dashboard = dash
        return dash

    def start_run(self, spec: RunSpec) -> RunDir | None:
        """Validate `spec`, create its run folder, start the runner and show its dashboard.
        Returns the run, or None after a notification saying what was wrong."""
        from tuitrain.core.rundir import RunDir

        try:
            # The device came from detection (setup screen) or was probed by the CLI
            # (`--start`): no probe process here, which would freeze the UI for seconds.
            spec = preflight(finetune.resolve_init(spec, self.runs_dir), probe_device=False)
            run = RunDir.create(self.runs_dir, spec)
            proc = launch.start_runner(run)
        except (UserError, OSError) as exc:
            self.notify(str(exc), title="Cannot start", severity="error", timeout=8)
            return None
        self.open_run(run, proc)
        return run

    def resume_run(self, run: RunDir) -> bool:
        """Continue a stopped or crashed run from its last checkpoint, in its dashboard."""
        if run.is_alive():
            self.open_run(run)
            return True
        try:
            with launch.claim(run) as claimed:  # a runner started elsewhere meanwhile: refused
                summary = run.summary()
                spec = run.read_spec()
                preflight(spec, probe_device=False, resume=True)
                if summary.get("status") == "completed" and \
                        summary.get("epochs_completed", 0) >= spec.train.epochs:
                    raise UserError(f"{run.id} already completed; start a new run to train more")
                proc = launch.start_runner(run, resume=True, claimed=claimed)
        except (UserError, OSError) as exc:
            self.notify(str(exc), title="Cannot resume", severity="error", timeout=8)
            return False
        old = self.dashboards.pop(run.id, None)
        if old is not None and old is not self.screen:
            self.uninstall_screen(old)
        self.open_run(run, proc)
        return True

    # ----- keys --------------------------------------------------------------------------
    def action_back(self) -> None:
        """Escape on the setup or runs screen: back to the dashboard shown last, if any."""
        dash = self.last_dashboard
        if dash is not None and self.screen is not dash and not self.screen.is_modal \
                and dash.run.id in self.dashboards:
            self._switch_to(dash)

    def action_help(self) -> None:
        from tuitrain.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            # Installed once and kept: showing a new screen costs its first layout and
            # styling (about 28 ms of a loaded 2-core machine); a kept one is one repaint.
            if not self.is_screen_installed("help"):
                self.install_screen(HelpScreen(), "help")
            self.push_screen("help")

    def live_dashboards(self) -> list[DashboardScreen]:
        return [d for d in self.dashboards.values() if d.live]

    async def action_quit(self) -> None:
        """Quit; with a live run, ask: stop and save / keep training in background / cancel."""
        if isinstance(self.screen, QuitScreen):
            return
        live = self.live_dashboards()
        if not live:
            self.exit(0)
            return

        def chosen(choice: QuitChoice | None) -> None:
            if choice == "background":
                self.exit(0)
            elif choice == "stop":
                self.stop_and_exit(live)

        self.push_screen(QuitScreen([d.run.id for d in live]), chosen)

    def stop_and_exit(self, dashboards: list[DashboardScreen]) -> None:
        """Ask every live run to stop gracefully; leave once they ended (or after STOP_WAIT)."""
        for dash in dashboards:
            if not dash.stopping:
                dash.action_stop()
        self.notify("waiting for the runner to save a checkpoint and stop…", timeout=STOP_WAIT)
        waited = 0.0

        def check() -> None:
            nonlocal waited
            waited += 0.2
            if waited >= STOP_WAIT or not any(d.live for d in dashboards):
                self.exit(0)

        self.set_interval(0.2, check)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        dashboard = sys.modules.get("tuitrain.ui.screens.dashboard")
        if dashboard is not None and isinstance(screen, dashboard.DashboardScreen):
            yield SystemCommand("Pause / resume training", "Pause the run, or resume it (p)",
                                screen.action_pause)
            yield SystemCommand("Stop training", "Finish the step, save a checkpoint, stop (s)",
                                screen.action_stop)
            yield SystemCommand("Checkpoint now", "Save a checkpoint at the current step (c)",
                                screen.action_checkpoint)
            yield SystemCommand("Learning rate ×½", "Halve the scheduled learning rate from "
                                "the next block on (lr_scale, [)",
                                lambda: screen.action_lr_scale(0.5))
            yield SystemCommand("Learning rate ×2", "Double the scheduled learning rate from the "
                                "next block on (lr_scale, ])", lambda: screen.action_lr_scale(2))
            yield SystemCommand("Set learning rate…", "A new base learning rate that the "
                                "schedule scales (optimizer.lr, L)", screen.action_set_lr)
            yield SystemCommand("Stop after this epoch", "Stop gracefully when the current "
                                "epoch ends; again to cancel (e)", screen.action_stop_after_epoch)
            yield SystemCommand("Early stopping…", "End the run after K epochs without a "
                                "better monitored value; 0 = off (E)",
                                screen.action_early_stopping)
            yield SystemCommand("Toggle plots", "Hide the plots, or show them in place of the "
                                "epoch table in a small terminal (t)",
                                screen.action_toggle_plots)
            yield SystemCommand("Log scale", "Logarithmic y axis for loss and lr (l)",
                                screen.action_log_scale)
            yield SystemCommand("Smoothing", "Cycle the smoothing of train curves (m)",
                                screen.action_smoothing)
        yield SystemCommand("Runs", "Every run in the runs folder (r)", lambda: self.show("runs"))
        yield SystemCommand("New run", "Set up and start a run (n)", lambda: self.show("setup"))
        yield SystemCommand("Help", "Keys and what the dashboard shows (?)", self.action_help)
