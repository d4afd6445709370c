"""The dashboard: one run's live plots, progress, epoch table, device use and log.

The first frame comes before anything heavy is imported: numpy (the history), the plots and
the watcher load right after it, and the plot placeholders are swapped for plots.

A thread worker (`watcher.follow`) tails the run folder and posts typed messages; handlers
update the `RunState` and mark what changed; a 10 Hz timer repaints only what is marked, and
the plots at most `PLOT_INTERVAL` apart (each plot repaints only when its picture changed).
Control keys write commands to the run's control file; the runner acts on them."""

from __future__ import annotations

import gc
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import MountError
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from tuitrain.core import control, launch
from tuitrain.core.errors import UserError
from tuitrain.core.rundir import RunDir
from tuitrain.ui.fit_width import shorten
from tuitrain.ui.live_keys import LiveKeys
from tuitrain.ui.messages import (
    CheckpointDone,
    EpochDone,
    HistoryGrew,
    Loaded,
    RunAlert,
    RunEnd,
    RunInfo,
    RunLog,
    StatusChange,
)
from tuitrain.ui.state import RunState
from tuitrain.ui.widgets.progress_panel import ProgressPanel
from tuitrain.ui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from tuitrain.core.history import RunHistory
    from tuitrain.ui.charts import Chart, ChartOptions
    from tuitrain.ui.watcher import RunWatcher
    from tuitrain.ui.widgets.device_panel import DevicePanel
    from tuitrain.ui.widgets.epoch_table import EpochTable
    from tuitrain.ui.widgets.log_pane import LogPane

    ChartBuilder = Callable[[RunHistory, int, ChartOptions], Chart]

SMOOTHING_LEVELS: tuple[float, ...] = (0.6, 0.9, 0.0)  # cycled by `m`; 0 = off
PLOTS = (  # id, chart builder in tuitrain.ui.charts, name in notes; most important first
    ("plot-loss", "loss_chart", "loss"),
    ("plot-metric", "metric_chart", "metric"),
    ("plot-lr", "lr_chart", "lr"),
    ("plot-speed", "throughput_chart", "throughput"),
)
PLOT_MIN = (30, 9)  # columns, rows: a plot smaller than this is hidden, not drawn empty
CHROME_ROWS = 4  # status line, two progress bars, footer
BOTTOM_ROWS = (8, 14)  # epoch table and side panels: below / from TALL_FROM rows
TALL_FROM = 36
PlotsView = Literal["both", "table", "plots"]
TICK = 0.1  # the repaint timer: nothing repaints more than 10 times a second
PANEL_INTERVAL = 0.25  # status line and progress bars of a live run: 4 times a second
TABLE_INTERVAL = 1.0  # new epoch rows of a live run join the table once a second
PLOT_INTERVAL = 1.0  # plots of a live run redraw at most once a second...
PLOT_BUDGET = 0.05  # ...and less often if drawing them would take over 5% of a core,
PLOT_MAX_INTERVAL = 4.0  # but at least every 4 seconds
START_FALLBACK = 0.5  # seconds: load the rest even if the app never says it is ready
LOADING_PLOT_INTERVAL = 1.0  # while a long log is read, leave the CPU to the reading
LOADING_PANEL_INTERVAL = 0.5


_FROZEN_FOR: weakref.WeakSet[DashboardScreen] = weakref.WeakSet()


def freeze_long_lived(owner: DashboardScreen) -> None:
    """Keep the garbage collector's full collections short: they scan every tracked object,
    and a dashboard holds many for good (modules, widgets, styles, epoch rows): 80k at start,
    growing with the epoch table. On a loaded 2-core machine each full collection held the
    event loop for 30-160 ms, a few times a minute, longer as the run went on: the worst key
    latencies. So the objects alive now (young garbage collected first), and from then on
    the survivors of every full collection, are frozen: never scanned again. The price: a
    frozen object that later becomes part of a reference cycle is not reclaimed until
    `thaw` (objects without cycles still are, by reference counting): an unmounted dashboard
    thaws, so a replaced dashboard, or a closed app in the tests, is freed."""
    _FROZEN_FOR.add(owner)
    gc.collect(1)
    gc.freeze()
    if _freeze_after_full not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full)


def thaw(owner: DashboardScreen) -> None:
    """The next full collection scans everything again (and frees what `owner` left); while
    other dashboards watch, its survivors are frozen again."""
    _FROZEN_FOR.discard(owner)
    gc.unfreeze()
    if not _FROZEN_FOR and _freeze_after_full in gc.callbacks:
        gc.callbacks.remove(_freeze_after_full)


def _freeze_after_full(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()  # the collection is over: what is left is alive


def plot_grid(width: int, height: int) -> tuple[int, int]:
    """(columns, rows) of plots, up to 2 x 2, that fit in `width` x `height` cells with each
    at least `PLOT_MIN`; (0, 0) when not even one does."""
    columns = min(2, (width + 1) // (PLOT_MIN[0] + 1))  # a one-column gutter between
    rows = min(2, height // PLOT_MIN[1])
    return (columns, rows) if columns and rows else (0, 0)


def bottom_rows(height: int) -> int:
    """Rows of the epoch table and the side panels in a terminal `height` rows tall."""
    return BOTTOM_ROWS[height >= TALL_FROM]


def all_plots_fit(width: int, height: int) -> bool:
    """Whether every plot fits beside the epoch table."""
    columns, rows = plot_grid(width, height - CHROME_ROWS - bottom_rows(height))
    return columns * rows >= len(PLOTS)


def plots_layout(width: int, height: int, alternative: bool) -> tuple[PlotsView, int, int, str]:
    """What the dashboard shows in a `width` x `height` terminal: the view, the plot grid
    (columns, rows; 0 rows: no plot) and a note (empty: none). The default view is the plots
    that fit beside the epoch table, with a note naming those left out; `alternative` (the
    `t` key) is the table alone when every plot fits, else the plots in place of the table."""
    body = height - CHROME_ROWS
    if alternative and all_plots_fit(width, height):
        return "table", 0, 0, ""
    if alternative:
        columns, rows = plot_grid(width, body - 1)  # the note takes a row
        return "plots", max(columns, 1), max(rows, 1), "epoch table hidden: press t to show it"
    if all_plots_fit(width, height):
        columns, rows = plot_grid(width, body - bottom_rows(height))
        return "both", columns, rows, ""
    columns, rows = plot_grid(width, body - bottom_rows(height) - 1)
    hidden = [name for _, _, name in PLOTS[columns * rows:]]
    names = ", ".join(hidden[:-1]) + " and " + hidden[-1] if len(hidden) > 1 else hidden[0]
    what = f"{names} plots" if rows else "plots"
    return "both", columns, rows, f"{what} hidden: terminal too small — enlarge it or press t"


class DashboardFooter(Footer):
    """Textual's footer rebuilds all its key widgets whenever the screen's bindings may have
    changed, which includes another screen (help) being pushed over the dashboard or popped:
    20-40 ms of a loaded machine on each `?` and `escape`. The dashboard's keys never change,
    so this one rebuilds only when the keys it would show differ from those it shows."""

    _shown: tuple[tuple[str, str, bool, str], ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if not self.is_attached or screen is not self.screen or screen is not self.app.screen:
            self._bindings_ready = True  # hidden under another screen: nothing to redo now
            return
        shown = tuple((binding.key, binding.description, enabled, tooltip)
                      for _, binding, enabled, tooltip in screen.active_bindings.values()
                      if binding.show)
        if shown != self._shown or not self._bindings_ready:
            super().bindings_changed(screen)
            if screen.app.app_focus:  # Footer recomposes only then
                self._shown = shown


class DashboardScreen(LiveKeys, Screen[None]):
    """Watches one run folder; `proc` is the runner when this app started it."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012
    BINDINGS = [  # noqa: RUF012
        Binding("p", "pause", "Pause"),
        Binding("s", "stop", "Stop"),
        Binding("c", "checkpoint", "Ckpt"),
        Binding("t", "toggle_plots", "Plots"),
        Binding("l", "log_scale", "Log"),
        Binding("m", "smoothing", "Smooth"),
        # Live settings: in the help (?) and the command palette; the footer has no room.
        Binding("left_square_bracket", "lr_scale(0.5)", "LR ×½", show=False),
        Binding("right_square_bracket", "lr_scale(2)", "LR ×2", show=False),
        Binding("L", "set_lr", "Set LR", show=False),
        Binding("e", "stop_after_epoch", "End epoch", show=False),
        Binding("E", "early_stopping", "Early stop", show=False),
    ]

    def __init__(self, run: RunDir, proc: subprocess.Popen[bytes] | None = None,
                 poll_interval: float = 0.1) -> None:
        super().__init__(name=f"run:{run.id}")
        self.run = run
        self.proc = proc
        self.poll_interval = poll_interval
        self.history: RunHistory | None = None  # made after the first frame, with the watcher
        self.watcher: RunWatcher | None = None
        self.lock = threading.Lock()
        self.state = RunState(run_id=run.id, status=run.status_or("running"))
        self.log_scale = False
        self.smoothing = SMOOTHING_LEVELS[0]
        self.stopping = False
        self._checkpoint_asked = False
        self._best_checkpoint = ""
        self.load_seconds: float | None = None
        self._dirty = {"status", "progress"}
        self._drawn_version = -1
        self._last_plot = 0.0
        self._last_status = 0.0
        self._last_panels = 0.0
        self._started = False
        self.watching = False  # widgets mounted and the watcher running
        self._table_subtitle = ""
        self._last_table = 0.0
        self._plot_interval = PLOT_INTERVAL
        self._plot_round: list[Any] = []  # plots of a live redraw still to build, one per tick
        self.alternative = False  # `t`: the other view (see `plots_layout`)
        self.view: PlotsView = "both"
        self._everything_fits: bool | None = None
        self._round_cost = 0.0
        self._read_config()

    # ----- setup -----------------------------------------------------------------------
    def _read_config(self) -> None:
        try:
            spec = self.run.read_spec()
        except (UserError, OSError, ValueError):
            return
        self.state.metric = spec.main_metric
        self.state.preset = spec.name
        self.state.framework = spec.run.framework
        self.state.epochs = spec.train.epochs

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield ProgressPanel(id="progress")
        yield Static("", id="plots-note", markup=False)
        with Grid(id="plots"):
            for plot_id, _, _ in PLOTS:
                yield Static("", id=f"slot-{plot_id}", classes="plot-slot")
        with Horizontal(id="bottom"):
            yield Static("", id="slot-epochs", classes="panel-slot")
            yield Vertical(Static("", classes="panel-slot"), id="side")
        yield DashboardFooter(compact=True)

    @property
    def table(self) -> EpochTable:
        return self.query_one("#epochs")  # type: ignore[return-value]

    @property
    def log_pane(self) -> LogPane:
        return self.query_one("#log")  # type: ignore[return-value]

    @property
    def device_panel(self) -> DevicePanel:
        return self.query_one("#device")  # type: ignore[return-value]

    def chart_options(self) -> ChartOptions:
        from tuitrain.ui.charts import ChartOptions

        return ChartOptions(self.log_scale, self.smoothing)

    def _source(self, name: str) -> Callable[[int], Chart]:
        from tuitrain.ui import charts

        def source(columns: int) -> Chart:
            assert self.history is not None
            opts = self.chart_options()
            with self.lock:
                if name == "metric_chart":
                    return charts.metric_chart(self.history, self.state.metric, columns, opts)
                build: ChartBuilder = getattr(charts, name)
                return build(self.history, columns, opts)

        return source

    def on_mount(self) -> None:
        self.query_one("#status", StatusBar).show(self.state)
        self.query_one("#progress", ProgressPanel).show(self.state)
        if getattr(self.app, "dom_ready", False):  # opened later: the app is painting already
            self.call_after_refresh(self._start)
        else:  # the app calls `start` once its first frame is out; this is a safety net
            self.set_timer(START_FALLBACK, self._start)

    def on_unmount(self) -> None:
        thaw(self)

    def start(self) -> None:
        """Load the rest after the frame being painted now (the app calls this when ready)."""
        self.call_after_refresh(self._start)

    async def _start(self) -> None:
        """After the first frame: load the history, the watcher and the plots; start watching."""
        if self._started:
            return
        self._started = True
        from tuitrain.core.history import RunHistory
        from tuitrain.ui.watcher import RunWatcher
        from tuitrain.ui.widgets.device_panel import DevicePanel
        from tuitrain.ui.widgets.epoch_table import EpochTable
        from tuitrain.ui.widgets.log_pane import LogPane
        from tuitrain.ui.widgets.metric_plot import MetricPlot

        self.history = RunHistory()
        self.watcher = RunWatcher(self.run, self.history, self.lock, is_alive=self.runner_alive)
        table = EpochTable(self.state.metric, id="epochs")
        try:
            await self.query_one("#slot-epochs").remove()
            await self.query_one("#bottom", Horizontal).mount(table, before=0)
            side = self.query_one("#side", Vertical)
            await side.remove_children()
            await side.mount_all([DevicePanel(id="device"), LogPane(id="log")])
            grid = self.query_one("#plots", Grid)
            await grid.remove_children()
            await grid.mount_all([MetricPlot(self._source(name), id=plot_id)
                                  for plot_id, name, _ in PLOTS])
        except (MountError, NoMatches):  # the app is closing before it finished opening
            return
        self.fit_layout()
        self.watching = True
        freeze_long_lived(self)
        self._watch()
        self.set_interval(TICK, self._tick)

    @work(thread=True, exclusive=True, group="watch", name="run watcher")
    def _watch(self) -> None:
        from tuitrain.ui.watcher import follow

        worker = get_current_worker()
        assert self.watcher is not None
        follow(self, self.watcher, lambda: worker.is_cancelled, self.poll_interval)

    @work(thread=True, exclusive=True, group="reap", name="runner reaper")
    def _reap(self) -> None:
        """Wait for a runner this app started to exit after its last event (no zombie)."""
        worker = get_current_worker()
        while self.proc is not None and self.proc.poll() is None and not worker.is_cancelled:
            time.sleep(0.2)

    def runner_alive(self) -> bool:
        """Whether the runner runs; reaps it when this app started it (no zombie)."""
        if self.proc is not None:
            return self.proc.poll() is None
        return self.run.is_alive()

    @property
    def settled(self) -> bool:
        """Everything read so far is on screen (tests and snapshots wait for this)."""
        return (self.watching and self.history is not None and self.state.loaded >= 1
                and not self._dirty
                and not self.table.queued and self._drawn_version == self.history.version
                and not self._plot_round
                and self.table.border_subtitle == self._table_subtitle)

    @property
    def live(self) -> bool:
        """Whether the run is training (or about to): what quit and the control keys ask."""
        if self.watcher is None or self.state.loaded < 1:  # still reading: ask the process
            return self.runner_alive()
        return self.state.live and self.watcher.live

    # ----- repaint ---------------------------------------------------------------------
    def _tick(self) -> None:
        """The repaint clock: panels, table rows and plots, each at its own capped rate, and
        only what changed."""
        now = time.monotonic()
        loading = self.state.loaded < 1
        live = self.state.live
        if live and self.state.first_time is not None and now - self._last_status >= 1:
            self._dirty.add("status")  # the elapsed clock
        gap = LOADING_PANEL_INTERVAL if loading else (PANEL_INTERVAL if live else 0.0)
        if self._dirty and now - self._last_panels >= gap:
            self._last_panels = now
            if "status" in self._dirty:
                self._last_status = now
                self.query_one("#status", StatusBar).show(self.state)
            if "progress" in self._dirty:
                self.query_one("#progress", ProgressPanel).show(self.state)
            self._dirty.clear()
        gap = TABLE_INTERVAL if (live or loading) else 0.0
        table_changed = self.table.queued or self._table_subtitle != self.table.border_subtitle
        if table_changed and now - self._last_table >= gap:
            self._last_table = now
            self.table.flush()
            self.table.border_subtitle = self._table_subtitle
        if self._plot_round:
            self._draw_next_plot()
            return
        if self.history is None or self.history.version == self._drawn_version:
            return
        gap = LOADING_PLOT_INTERVAL if loading else (self._plot_interval if live else 0.0)
        if now - self._last_plot >= gap:
            self._drawn_version = self.history.version
            self._last_plot = now
            if live and not loading:
                # One plot per tick: building all four at once held the event loop (and every
                # key press) for 100-400 ms on a loaded 2-core machine; one is a quarter.
                self._plot_round = self._visible_plots()
                self._round_cost = 0.0
                if self._plot_round:
                    self._draw_next_plot()
                return
            started = time.perf_counter()
            self.redraw_plots()
            cost = time.perf_counter() - started  # painting costs about as much again
            self._plot_interval = min(PLOT_MAX_INTERVAL,
                                      max(PLOT_INTERVAL, 2 * cost / PLOT_BUDGET))

    def _visible_plots(self) -> list[Any]:
        if self.view == "table" or self.history is None:
            return []
        from tuitrain.ui.widgets.metric_plot import MetricPlot

        return [plot for plot in self.query(MetricPlot) if plot.display]

    def _draw_next_plot(self) -> None:
        """Build the next plot of the current round; the round's cost sets the next gap."""
        plot = self._plot_round.pop(0)
        started = time.perf_counter()
        if plot.is_mounted and plot.display:
            plot.redraw()
        self._round_cost += time.perf_counter() - started
        if not self._plot_round:
            self._plot_interval = min(PLOT_MAX_INTERVAL,
                                      max(PLOT_INTERVAL, 2 * self._round_cost / PLOT_BUDGET))

    def redraw_plots(self) -> None:
        """Redraw the visible plots (each repaints only when its picture changed)."""
        for plot in self._visible_plots():
            plot.redraw()

    def on_resize(self) -> None:
        self.fit_layout()
        self._drawn_version = -1  # plots rebuild at their new size on the next tick

    def fit_layout(self) -> None:
        """Show the plots that fit (see `plots_layout`), a note about those that do not,
        and the epoch table unless the plots took its place."""
        width, height = self.size
        everything = all_plots_fit(width, height)
        if everything != self._everything_fits:
            self.alternative = False  # `t` means the other thing on this side: start afresh
            self._everything_fits = everything
        view, columns, rows, note = plots_layout(width, height, self.alternative)
        self.view = view
        self.set_class(view == "table" or not rows, "-no-plots")
        self.set_class(view == "plots", "-plots-only")
        self.set_class(bool(note), "-plots-note")
        self.query_one("#plots-note", Static).update(shorten(note, max(1, width - 2)))
        grid = self.query_one("#plots", Grid)
        grid.styles.grid_size_columns = max(columns, 1)
        grid.styles.grid_size_rows = max(rows, 1)
        for n, plot in enumerate(grid.children):
            plot.display = n < columns * rows
        self.query_one("#bottom").styles.height = "1fr" if not rows else bottom_rows(height)

    # ----- messages from the watcher ------------------------------------------------------
    def on_run_info(self, message: RunInfo) -> None:
        self.state.start(message.started)
        if self.state.loaded >= 1:
            self._sample_device()
        self._dirty.update(("status", "progress"))

    def _sample_device(self) -> None:
        """Sample the runner's CPU/RAM/GPU while the run is live (after the log is read)."""
        from tuitrain.ui.widgets.device_panel import gpu_indices

        device = self.state.started.device if self.state.started else ""
        panel = self.device_panel
        if self.live:
            try:  # the GPUs the runner was placed on, written before it started training
                placed = self.run.summary().get("gpus")
            except UserError:
                placed = None
            panel.watch_runner(self.proc.pid if self.proc else self.run.runner_pid(), device,
                               gpu_indices(device, placed))
        else:
            panel.stop(device)

    def on_history_grew(self, message: HistoryGrew) -> None:
        self.state.position = message.position
        self._dirty.add("progress")

    def on_epoch_done(self, message: EpochDone) -> None:
        e = message.event
        self.state.epochs_done = max(self.state.epochs_done, e.epoch + 1)
        self.state.epoch_seconds.append(e.seconds)
        from tuitrain.core.history import EpochRow

        row = EpochRow(e.epoch + 1, e.global_step, dict(e.metrics), e.seconds, e.is_best)
        self.table.queue(row)  # it shows them in batches (see _tick)
        self._dirty.add("progress")

    def on_checkpoint_done(self, message: CheckpointDone) -> None:
        """Every checkpoint shows under the table; the log gets the ones a person asked for
        (c, stop) and those saved mid-epoch, not one line per epoch."""
        e = message.event
        if e.best:
            self._best_checkpoint = e.path
        name = e.path.rsplit("/", 1)[-1]
        best = self._best_checkpoint.rsplit("/", 1)[-1] if self._best_checkpoint else "-"
        self._table_subtitle = f"last checkpoint {name} · best {best}"  # shown by _tick
        spe = self.state.steps_per_epoch
        mid_epoch = bool(spe) and e.global_step % spe != 0
        if self._checkpoint_asked or self.stopping or mid_epoch:
            self._checkpoint_asked = False
            self.log_pane.add("info", f"checkpoint saved: {e.path}", e.time)

    def on_status_change(self, message: StatusChange) -> None:
        previous = self.state.status
        self.state.status = message.status
        self._dirty.update(("status", "progress"))
        if message.status == "crashed":
            self.state.error = "runner exited without a final status"
            self.device_panel.stop()
            if self.state.loaded >= 1:
                self._tell("crashed", self.state.error)
        elif self.state.loaded >= 1 and previous != message.status:
            self.notify(f"training {message.status}", timeout=3)

    def on_run_log(self, message: RunLog) -> None:
        self.log_pane.add(message.level, message.text, message.time)

    def on_run_alert(self, message: RunAlert) -> None:
        """An alert goes to the log; one raised now (not read back from the log) also to a
        toast, the bell and a desktop notification."""
        self.log_pane.add("warning", f"alert ({message.alert}): {message.text}", message.time)
        if self.state.loaded >= 1:
            self.notify(message.text, title=f"alert: {message.alert}", severity="warning",
                        timeout=10)
            self._tell(f"alert: {message.alert}", message.text)

    def on_run_end(self, message: RunEnd) -> None:
        e = message.event
        self.state.end(e)
        self.stopping = False
        self.device_panel.stop()
        if self.proc is not None:
            self._reap()
        text = f"run {e.status} after {e.epochs_completed} epochs, {e.global_step:,} steps"
        level = "error" if e.status == "failed" else "info"
        if e.error:
            text += f": {e.error}"
        self.log_pane.add(level, text, e.time)
        self._dirty.update(("status", "progress"))
        if self.state.loaded >= 1:
            severity = "error" if e.status == "failed" else "information"
            self.notify(text, title=self.run.id, severity=severity, timeout=6)
            self._tell(e.status, text)

    def on_loaded(self, message: Loaded) -> None:
        self.state.loaded = message.fraction
        if message.fraction >= 1:
            self.load_seconds = message.seconds
            self._drawn_version = -1
            freeze_long_lived(self)
            self._sample_device()
        self._dirty.add("status")

    # ----- actions ---------------------------------------------------------------------------
    def _require_live(self, what: str) -> bool:
        if not self.live:
            self.notify(f"cannot {what}: the run is {self.state.status}", severity="warning")
            return False
        return True

    def action_pause(self) -> None:
        if not self._require_live("pause"):
            return
        command = "resume" if self.state.status == "paused" else "pause"
        control.send(self.run.control, command)
        self.notify("resuming…" if command == "resume" else "pausing after this step…", timeout=2)

    def action_stop(self) -> None:
        if not self._require_live("stop"):
            return
        if self.stopping:
            self.notify("already stopping: saving a checkpoint", timeout=3)
            return
        self.stopping = True
        launch.request_stop(self.run)
        self.notify("stopping: finishing the step and saving a checkpoint…", timeout=4)

    def action_checkpoint(self) -> None:
        if not self._require_live("checkpoint"):
            return
        control.send(self.run.control, "checkpoint")
        self._checkpoint_asked = True
        self.notify("checkpoint requested", timeout=2)

    def action_toggle_plots(self) -> None:
        """Hide the plots; where not every plot fits beside the table: plots instead of it."""
        self.alternative = not self.alternative
        self.fit_layout()
        self._drawn_version = -1

    def action_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self._drawn_version = -1
        self._last_plot = 0.0

    def action_smoothing(self) -> None:
        levels = SMOOTHING_LEVELS
        i = levels.index(self.smoothing) if self.smoothing in levels else -1
        self.smoothing = levels[(i + 1) % len(levels)]
        self._drawn_version = -1
        self._last_plot = 0.0
        label = f"{self.smoothing:g}" if self.smoothing else "off"
        self.notify(f"smoothing {label}", timeout=2)
