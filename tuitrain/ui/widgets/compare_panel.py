"""The framework comparison started from the runs screen: it follows the `tuitrain compare`
child process in a thread worker and shows the comparison table from the summaries of its
runs as they appear; `Finished` tells the screen which runs it made."""

from __future__ import annotations

import time
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label
from textual.worker import get_current_worker

from tuitrain.core.rundir import RunDir
from tuitrain.core.runs_index import compare_rows
from tuitrain.ui import jobs
from tuitrain.ui.widgets.compare_table import CompareTable

POLL_SECONDS = 0.5


class ComparePanel(Vertical):
    """Title line and table of one comparison; hidden until one starts."""

    class Progress(Message):
        """From the worker: the comparison's runs so far, and its exit code once it ended."""

        def __init__(self, run_ids: list[str], code: int | None, error: str) -> None:
            super().__init__()
            self.run_ids = run_ids
            self.code = code
            self.error = error

    class Finished(Message):
        """The comparison ended (`ok` when every run completed)."""

        def __init__(self, preset: str, run_ids: list[str], ok: bool, note: str) -> None:
            super().__init__()
            self.preset = preset
            self.run_ids = run_ids
            self.ok = ok
            self.note = note

    def __init__(self, runs_dir: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runs_dir = runs_dir
        self.preset = ""
        self.run_ids: list[str] = []
        self.note = ""
        self.running = False

    def compose(self) -> ComposeResult:
        yield Label("", id="compare-title", markup=False)
        yield CompareTable(id="compare-table")

    def on_mount(self) -> None:
        self.display = False

    def follow(self, job: jobs.CompareJob) -> None:
        """Show `job` from now on."""
        self.preset, self.run_ids, self.running = job.preset, [], True
        self.note = f"starting {', '.join(job.frameworks)}…"
        self.display = True
        self.show()
        self._follow(job)

    @work(thread=True, group="runs-compare")
    def _follow(self, job: jobs.CompareJob) -> None:
        worker = get_current_worker()
        seen: list[str] | None = None
        while not worker.is_cancelled:
            code = job.proc.poll()
            ids, error = jobs.compare_state(job.log)
            if ids != seen or code is not None:
                seen = ids
                self.post_message(self.Progress(ids, code, error))
            if code is not None:
                return
            time.sleep(POLL_SECONDS)

    def on_compare_panel_progress(self, message: Progress) -> None:
        message.stop()
        self.run_ids = message.run_ids
        if message.code is None:
            current = self.run_ids[-1] if self.run_ids else ""
            self.note = f"training {current}…" if current else "starting…"
        else:
            self.running = False
            ok = message.code == 0
            problem = message.error or "see its log in the runs folder"
            self.note = "done" if ok else f"done with problems: {problem}"
            self.post_message(self.Finished(self.preset, self.run_ids, ok, self.note))
        self.show()

    def show(self) -> None:
        """The title and the table from the summaries of the comparison's runs so far."""
        runs = [RunDir(self.runs_dir / i) for i in self.run_ids if (self.runs_dir / i).is_dir()]
        self.query_one("#compare-title", Label).update(
            f"framework comparison · {self.preset} · {self.note}")
        self.query_one(CompareTable).show(compare_rows(runs))
