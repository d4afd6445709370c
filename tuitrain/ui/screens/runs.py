"""The runs screen: every run in the runs folder, refreshed every few seconds from the
summaries alone. Open one (its dashboard), mark two or more to overlay their curves,
continue a stopped run, evaluate one (a `tuitrain eval` child process, then the evaluation
screen), delete one after confirmation (never a live one), and start a framework comparison
(a `tuitrain compare` child process) whose table shows when it is done.

File reads and child processes run in thread workers that post typed messages; widgets are
touched only in the handlers, on the UI thread."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from tuitrain.core.errors import UserError
from tuitrain.core.events import LIVE_STATUSES
from tuitrain.core.locations import default_runs_dir
from tuitrain.core.run_listing import (
    COLUMNS,
    RunsIndex,
    Term,
    matches,
    parse_filter,
    parse_sort,
    sort_rows,
)
from tuitrain.core.run_meta import read_meta, write_meta
from tuitrain.core.rundir import RunDir, queued_note
from tuitrain.core.runs_index import epoch_curves
from tuitrain.ui import jobs
from tuitrain.ui.queue_view import queue_pane, unqueue
from tuitrain.ui.screens.compare_dialog import CompareDialog, CompareRequest
from tuitrain.ui.screens.confirm import ConfirmScreen
from tuitrain.ui.screens.evaluation import EvaluationScreen
from tuitrain.ui.screens.prompt import PromptScreen
from tuitrain.ui.widgets.compare_panel import ComparePanel
from tuitrain.ui.widgets.overlay_plot import (
    MIN_HEIGHT,
    OverlayPlot,
    Series,
    color_of,
    legend_text,
)
from tuitrain.ui.widgets.runs_table import RunsTable

if TYPE_CHECKING:
    from tuitrain.ui.app import TuitrainApp

REFRESH_SECONDS = 2.0
MAX_SHOWN = 200  # rows in the table at most: the filter (/) finds the others
SORTS = ("-id", "-best", "best", "status", "preset", "framework", "sweep")  # `o` cycles
TABLE_MIN = 6  # the runs table's header and five runs stay in view under an overlay
OVERLAY_HIDDEN = "overlay plots hidden: terminal too small — enlarge it to compare curves"


def host(screen: Screen[Any]) -> TuitrainApp:
    """The app, typed: it opens dashboards and resumes runs (see `tuitrain.ui.app`)."""
    return cast("TuitrainApp", screen.app)


def series_label(row: dict[str, Any]) -> str:
    """A legend label: the run's time stamp (its id starts with it) and its framework."""
    run_id = str(row.get("id", ""))
    stamp = run_id[9:15] if re.match(r"^\d{8}-\d{6}", run_id) else run_id[:12]
    return f"{stamp} {row.get('preset', '')} {row.get('framework', '')}".strip()


# --- messages from the workers ------------------------------------------------------------


class RunsScanned(Message):
    """A fresh listing of the runs folder."""

    def __init__(self, rows: list[dict[str, Any]], queue: str = "") -> None:
        super().__init__()
        self.rows = rows
        self.queue = queue  # the run queue's pane, "" when nothing is queued or running


class CurvesLoaded(Message):
    """Per-epoch curves of the marked runs, by run id."""

    def __init__(self, curves: dict[str, dict[str, list[tuple[int, float]]]]) -> None:
        super().__init__()
        self.curves = curves


class EvalFinished(Message):
    """`tuitrain eval` ended: the report from `eval.json`, or the error."""

    def __init__(self, run_id: str, report: dict[str, Any] | None, error: str = "") -> None:
        super().__init__()
        self.run_id = run_id
        self.report = report
        self.error = error


class ExportFinished(Message):
    """`tuitrain export` ended: what it wrote, or the error."""

    def __init__(self, run_id: str, ok: bool, text: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.ok = ok
        self.text = text


class Deleted(Message):
    """A run folder was removed (or could not be: `error`)."""

    def __init__(self, run_id: str, error: str = "") -> None:
        super().__init__()
        self.run_id = run_id
        self.error = error


# --- the screen ---------------------------------------------------------------------------


class RunsScreen(Screen[None]):
    """The runs folder as a table, an overlay of marked runs, and a comparison panel."""

    BINDINGS = [  # noqa: RUF012
        Binding("c", "resume", "Continue"),
        Binding("e", "evaluate", "Evaluate"),
        Binding("x", "export", "Export"),
        Binding("d,delete", "delete", "Delete"),
        Binding("f", "compare", "Compare frameworks"),
        Binding("slash", "filter", "Filter"),
        Binding("o", "sort", "Sort"),
        Binding("T", "tag", "Tag", show=False),
        Binding("N", "note", "Note", show=False),
        Binding("escape", "clear_marks", "Unmark / back", show=False),
    ]

    def __init__(self, runs_dir: Path | None = None,
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        super().__init__(id="runs")
        self._runs_dir = runs_dir
        self.refresh_seconds = refresh_seconds
        self.rows: dict[str, dict[str, Any]] = {}
        self.curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
        self.busy: set[str] = set()  # runs being evaluated or deleted
        self.index: RunsIndex | None = None  # the runs folder's rows, kept between looks
        self.terms: list[Term] = []  # the filter (`/`)
        self.sort = SORTS[0]
        self.refresh_timer: Timer | None = None

    @property
    def runs_dir(self) -> Path:
        if self._runs_dir is not None:
            return self._runs_dir
        return Path(getattr(self.app, "runs_dir", None) or default_runs_dir())

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="runs-body"):
            yield Static("", id="runs-heading", markup=False)
            yield Input(placeholder="filter: preset=cnn-digits status=completed tag=baseline "
                        "best>0.9, or any word", id="runs-filter")
            yield RunsTable(id="runs-table")
            yield Static("", id="run-detail", markup=False)
            yield Static("", id="queue-pane", markup=False)
            with Vertical(id="runs-overlay"):
                with Horizontal(id="overlay-plots"):
                    yield OverlayPlot("validation loss", id="overlay-loss")
                    yield OverlayPlot("main metric", id="overlay-metric")
                yield Static("", id="overlay-legend", markup=False)
                yield Static(OVERLAY_HIDDEN, id="overlay-note", markup=False)
            yield ComparePanel(self.runs_dir, id="compare-panel")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "runs"
        self.query_one("#runs-overlay").display = False
        self.query_one("#queue-pane").display = False
        self.query_one("#runs-filter").display = False
        self.query_one(RunsTable).focus()
        self.scan()
        self.refresh_timer = self.set_interval(self.refresh_seconds, self.scan)

    def on_screen_resume(self) -> None:
        if self.refresh_timer is not None:
            self.scan()
            self.refresh_timer.resume()

    def on_screen_suspend(self) -> None:
        if self.refresh_timer is not None:
            self.refresh_timer.pause()  # another screen is showing: no need to keep listing

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    # --- listing ------------------------------------------------------------------------

    def scan(self) -> None:
        """Re-read the summaries in a worker (cheap: no logs are read)."""
        self._scan(self.runs_dir)

    @work(thread=True, exclusive=True, group="runs-scan")
    def _scan(self, runs_dir: Path) -> None:
        if self.index is None or self.index.runs_dir != runs_dir:
            self.index = RunsIndex(runs_dir)  # keeps parsed summaries: later looks are cheap
        rows = self.index.rows()
        if not get_current_worker().is_cancelled:
            self.post_message(RunsScanned(rows, queue_pane()))

    def on_runs_scanned(self, message: RunsScanned) -> None:
        self.rows = {str(r["id"]): r for r in message.rows}
        self.show_view()
        pane = self.query_one("#queue-pane", Static)
        pane.update(message.queue)
        pane.display = bool(message.queue)
        self.show_detail(self.table.current)
        if self.table.marked and any(self._is_live(i) for i in self.table.marked):
            self.load_curves(self.table.marked_in_order())
        panel = self.query_one(ComparePanel)
        if panel.run_ids:
            panel.show()
            self.call_after_refresh(self.fit_overlay)  # the comparison's table may have grown

    def summary_of(self, run_id: str) -> dict[str, Any]:
        """The run's summary, as the listing read it (`{}` before the first look)."""
        return self.index.summary(run_id) if self.index is not None else {}

    def show_view(self) -> None:
        """The table as the filter and sort say, at most MAX_SHOWN rows, and the heading."""
        rows = list(self.rows.values())
        shown = [r for r in rows if matches(r, self.terms)] if self.terms else rows
        shown = sort_rows(shown, *parse_sort(self.sort))
        self.table.show_rows(shown[:MAX_SHOWN])
        live = sum(1 for r in rows if r.get("status") in LIVE_STATUSES)
        count = len(rows)
        heading = f"{count:,} run{'s' if count != 1 else ''} in {self.runs_dir.resolve()}"
        if live:
            heading += f" · {live} live"
        if self.terms:
            heading += f" · {len(shown):,} match"
        if len(shown) > MAX_SHOWN:
            heading += f" · showing the first {MAX_SHOWN:,}: / filters"
        heading += f" · sorted by {self.sort}"
        if not count:
            heading = f"no runs in {self.runs_dir.resolve()} — press n to set up a run"
        self.query_one("#runs-heading", Static).update(heading)

    # --- filter, sort, tags and notes --------------------------------------------------

    def action_filter(self) -> None:
        """`/`: the filter line, applied as it is typed."""
        field = self.query_one("#runs-filter", Input)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "runs-filter":
            return
        event.stop()
        detail = self.query_one("#run-detail", Static)
        try:
            self.terms = parse_filter(event.value)
        except UserError as exc:  # the last good filter stays while the text is worked on
            detail.update(str(exc))
            detail.set_class(True, "-error")
            return
        self.show_view()
        self.show_detail(self.table.current)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "runs-filter":
            event.stop()
            self.table.focus()

    def action_sort(self) -> None:
        """`o`: the next sort order (newest first, the best main metric first, ...)."""
        i = SORTS.index(self.sort) if self.sort in SORTS else -1
        self.sort = SORTS[(i + 1) % len(SORTS)]
        self.show_view()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column's header sorts by it; again: the other way."""
        event.stop()
        key = {"tags": "tag"}.get(str(event.column_key.value), str(event.column_key.value))
        if key not in COLUMNS:
            return
        self.sort = key if self.sort == f"-{key}" else f"-{key}"
        self.show_view()

    def action_tag(self) -> None:
        """`T`: the run's tags, comma-separated."""
        self._edit_meta("Tags (comma-separated; empty: none)", "tags")

    def action_note(self) -> None:
        """`N`: a one-line note on the run."""
        self._edit_meta("Note (one line; empty: none)", "note")

    def _edit_meta(self, question: str, what: str) -> None:
        run = self.current_run("annotat")
        if run is None:
            return
        meta = read_meta(run.path)
        current = ",".join(meta.tags) if what == "tags" else meta.note

        def check(text: str) -> str | None:
            if what == "tags" and any(" " in t.strip() for t in text.split(",")):
                return "a tag is one word; separate tags with commas"
            return None

        def answer(text: str | None) -> None:
            if text is None:
                return
            fresh = read_meta(run.path)
            if what == "tags":
                tags = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
                write_meta(run.path, fresh.with_changes(tags=tags))
            else:
                write_meta(run.path, fresh.with_changes(note=" ".join(text.split())))
            self.scan()

        self.app.push_screen(PromptScreen(question, current, check, run.id), answer)

    def _is_live(self, run_id: str) -> bool:
        return self.rows.get(run_id, {}).get("status") in LIVE_STATUSES

    def show_detail(self, run_id: str | None) -> None:
        """One line about the run under the cursor: its folder, or why it failed."""
        detail = self.query_one("#run-detail", Static)
        row = self.rows.get(run_id or "")
        if row is None:
            detail.update("")
            return
        text = str(self.runs_dir.resolve() / row["id"])
        if row.get("status") == "damaged":
            text = f"damaged: {row.get('error', '')}"
        elif row.get("error"):
            text += f" — {row['error']}"
        elif row.get("last_alert"):
            text += f" — ⚠ {row['last_alert']}"
        elif run_id in self.busy:
            text += " — working…"
        elif row.get("note"):
            text += f" — {row['note']}"
        detail.update(text)
        detail.set_class(bool(row.get("error")), "-error")

    def on_runs_table_highlighted(self, message: RunsTable.Highlighted) -> None:
        self.show_detail(message.run_id)

    # --- the overlay --------------------------------------------------------------------

    def on_runs_table_marks_changed(self, message: RunsTable.MarksChanged) -> None:
        overlay = self.query_one("#runs-overlay")
        overlay.display = len(message.marked) >= 2
        self.fit_overlay()
        if len(message.marked) >= 2:
            self.load_curves(message.marked)
        elif len(message.marked) == 1:
            self.notify("mark one more run to overlay their curves", timeout=3)

    def load_curves(self, run_ids: list[str]) -> None:
        self._load_curves(self.runs_dir, list(run_ids))

    @work(thread=True, exclusive=True, group="runs-curves")
    def _load_curves(self, runs_dir: Path, run_ids: list[str]) -> None:
        curves = {run_id: epoch_curves(RunDir(runs_dir / run_id)) for run_id in run_ids}
        if not get_current_worker().is_cancelled:
            self.post_message(CurvesLoaded(curves))

    def on_curves_loaded(self, message: CurvesLoaded) -> None:
        self.curves = message.curves
        self.draw_overlay()

    def draw_overlay(self) -> None:
        """Validation loss and each run's main metric, one line per marked run, in the
        run's colour; the legend under both plots."""
        ids = [i for i in self.table.marked_in_order() if i in self.curves]
        losses, metrics, names = [], [], set()
        for n, run_id in enumerate(ids):
            row = self.rows.get(run_id, {"id": run_id})
            label, color = series_label(row), color_of(n)
            curves = self.curves[run_id]
            loss_key = "val_loss" if "val_loss" in curves else "loss"
            losses.append(Series(label, tuple(curves.get(loss_key, ())), color))
            monitor = str(self.summary_of(run_id).get("monitor") or "")
            if monitor and monitor != loss_key and monitor in curves:
                names.add(monitor)
                metrics.append(Series(label, tuple(curves[monitor]), color))
        self.query_one("#overlay-loss", OverlayPlot).set_series("validation loss", losses)
        title = names.pop() if len(names) == 1 else "main metric"
        self.query_one("#overlay-metric", OverlayPlot).set_series(title, metrics)
        self.query_one("#overlay-legend", Static).update(legend_text(losses))
        self.call_after_refresh(self.fit_overlay)  # the legend may wrap to another line

    def fit_overlay(self) -> None:
        """Overlay plots only when they get `MIN_HEIGHT` rows and the table keeps
        `TABLE_MIN`; otherwise a one-line note in their place."""
        overlay = self.query_one("#runs-overlay")
        if not overlay.display:
            return
        taken = sum(w.outer_size.height for w in self.query_one("#runs-body").children
                    if w.display and w.id not in ("runs-table", "runs-overlay"))
        chrome = self.size.height - self.query_one("#runs-body").size.height  # header, footer
        legend = self.query_one("#overlay-legend").outer_size.height or 1
        room = self.size.height - chrome - taken - TABLE_MIN - legend
        self.set_class(room < MIN_HEIGHT, "-overlay-hidden")

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_overlay)

    def action_clear_marks(self) -> None:
        """Escape: in the filter, clear it (again: close it); else unmark the marked runs;
        with none marked, back to the last dashboard."""
        field = self.query_one("#runs-filter", Input)
        if field.has_focus:
            if field.value:
                field.value = ""
            else:
                field.display = False
                self.table.focus()
        elif self.table.marked:
            self.table.set_marks([])
        else:
            host(self).action_back()

    # --- open, resume -------------------------------------------------------------------

    def current_run(self, action: str) -> RunDir | None:
        """The run under the cursor, or None (with a note) when there is none or it is damaged."""
        run_id = self.table.current
        if run_id is None:
            self.notify(f"no run to {action}", severity="warning")
            return None
        status = self.rows.get(run_id, {}).get("status")
        if status == "damaged":
            self.notify(f"{run_id} is damaged and cannot be {action}ed: "
                        f"{self.rows[run_id].get('error', '')}", severity="error", timeout=8)
            return None
        if status == "queued":
            self.notify(queued_note(run_id), severity="warning", timeout=6)
            return None
        return RunDir(self.runs_dir / run_id)

    def on_runs_table_opened(self, message: RunsTable.Opened) -> None:
        self.action_open()

    def action_open(self) -> None:
        run = self.current_run("open")
        if run is not None:
            host(self).open_run(run)

    def action_resume(self) -> None:
        run = self.current_run("resum")
        if run is None:
            return
        if run.is_alive():
            self.notify(f"{run.id} is still running; opening it", timeout=4)
            host(self).open_run(run)
            return
        host(self).resume_run(run)

    # --- evaluate -----------------------------------------------------------------------

    def action_evaluate(self) -> None:
        run = self.current_run("evaluat")
        if run is None:
            return
        summary = self.summary_of(run.id)
        if not (summary.get("best_checkpoint") or summary.get("last_checkpoint")):
            self.notify(f"{run.id} has no checkpoint to evaluate yet", severity="warning")
            return
        if run.id in self.busy:
            return
        self.busy.add(run.id)
        self.show_detail(self.table.current)
        self.notify(f"evaluating {run.id} on its test split…", timeout=4)
        self._evaluate(run)

    @work(thread=True, group="runs-eval")
    def _evaluate(self, run: RunDir) -> None:
        report, error = jobs.evaluate(run)
        self.post_message(EvalFinished(run.id, report, error))

    def on_eval_finished(self, message: EvalFinished) -> None:
        self.busy.discard(message.run_id)
        self.show_detail(self.table.current)
        if message.report is None:
            self.notify(f"{message.run_id}: {message.error}", title="Evaluation failed",
                        severity="error", timeout=10)
            return
        self.app.push_screen(EvaluationScreen(message.run_id, message.report))

    # --- export -------------------------------------------------------------------------
    def action_export(self) -> None:
        run = self.current_run("export")
        if run is None:
            return
        summary = self.summary_of(run.id)
        if not (summary.get("best_checkpoint") or summary.get("last_checkpoint")):
            self.notify(f"{run.id} has no checkpoint to export yet", severity="warning")
            return
        self.notify(f"exporting {run.id}…", timeout=4)
        self._export(run)

    @work(thread=True, group="runs-export")
    def _export(self, run: RunDir) -> None:
        ok, text = jobs.export(run)
        self.post_message(ExportFinished(run.id, ok, text))

    def on_export_finished(self, message: ExportFinished) -> None:
        if message.ok:
            self.notify(message.text, title="Exported", timeout=10)
        else:
            self.notify(f"{message.run_id}: {message.text}", title="Export failed",
                        severity="error", timeout=10)

    # --- delete -------------------------------------------------------------------------

    def action_delete(self) -> None:
        run_id = self.table.current
        if run_id is None:
            self.notify("no run to delete", severity="warning")
            return
        run = RunDir(self.runs_dir / run_id)
        if run.is_alive():
            self.notify(f"{run_id} is still running; stop it before deleting it",
                        severity="error", timeout=6)
            return
        detail = f"Its folder {run.path.resolve()} — config, log, checkpoints — will be removed."
        if self.rows.get(run_id, {}).get("status") == "queued":
            detail += " It leaves the run queue."
        question = f"Delete run {run_id}?"

        def answer(yes: bool | None) -> None:
            if yes:
                self.busy.add(run_id)
                self._delete(run)

        self.app.push_screen(ConfirmScreen(question, detail, yes="Delete", danger=True), answer)

    @work(thread=True, group="runs-delete")
    def _delete(self, run: RunDir) -> None:
        if run.is_alive():
            self.post_message(Deleted(run.id, "it started running again; not deleted"))
            return
        try:
            if run.status() == "queued":
                unqueue(run)
            shutil.rmtree(run.path)
        except (OSError, UserError) as exc:
            self.post_message(Deleted(run.id, str(exc)))
            return
        self.post_message(Deleted(run.id))

    def on_deleted(self, message: Deleted) -> None:
        self.busy.discard(message.run_id)
        if message.error:
            self.notify(f"{message.run_id}: {message.error}", title="Not deleted",
                        severity="error", timeout=8)
        else:
            self.notify(f"deleted {message.run_id}", timeout=3)
        self.scan()

    # --- compare ------------------------------------------------------------------------

    def action_compare(self) -> None:
        if self.query_one(ComparePanel).running:
            self.notify("a comparison is already running", severity="warning")
            return
        preset = self.rows.get(self.table.current or "", {}).get("preset")

        def chosen(request: CompareRequest | None) -> None:
            if request is not None:
                self.start_compare(request)

        self.app.push_screen(CompareDialog(preset), chosen)

    def start_compare(self, request: CompareRequest) -> None:
        """Start `tuitrain compare` (it goes on if the app closes) and follow it."""
        try:
            job = jobs.start_compare(self.runs_dir, request.preset, request.frameworks,
                                     request.epochs)
        except OSError as exc:
            self.notify(str(exc), title="Comparison not started", severity="error")
            return
        self.query_one(ComparePanel).follow(job)
        self.call_after_refresh(self.fit_overlay)
        self.notify(f"comparing {request.preset} in {', '.join(request.frameworks)}; "
                    f"output in {job.log.name}", timeout=5)

    def on_compare_panel_finished(self, message: ComparePanel.Finished) -> None:
        self.notify(f"comparison of {message.preset} {message.note}",
                    severity="information" if message.ok else "warning", timeout=8)
        self.scan()
        if len(message.run_ids) >= 2:
            self.table.set_marks(message.run_ids)
