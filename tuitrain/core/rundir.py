"""The run folder, the source of truth for every run: `config.toml`, `metrics.jsonl`,
`summary.json`, `preprocessing.json`, `splits.npz`, `checkpoints/`, the control file, the
runner's lock and, for a person's own model, the copy of its file (`model.py`). Creating,
reading and listing runs, and a run's status as every reader shows it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import tomli_w

from tuitrain.core import model_file
from tuitrain.core.atomic import fsync_dir, remove_path, write_atomic
from tuitrain.core.datasets import own_data_name, pinned
from tuitrain.core.errors import UserError
from tuitrain.core.events import FINAL_STATUSES, Event, RunStatus, parse_event
from tuitrain.core.liveness import Lock, is_held
from tuitrain.core.preprocessing import FILE as PREPROCESSING
from tuitrain.core.spec import RunSpec
from tuitrain.core.split_index import FILE as SPLITS

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CONTROL = "control.jsonl"
PIDFILE = "runner.pid"
LOCKFILE = "runner.lock"
RUNNER_LOG = "runner.log"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-") or "run"


@dataclass
class RunDir:
    """Paths and readers for one run folder."""

    path: Path
    _appender: TextIO | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def control(self) -> Path:
        return self.path / CONTROL

    @property
    def pidfile(self) -> Path:
        return self.path / PIDFILE

    @property
    def runner_log(self) -> Path:
        """The runner's own output (and frameworks' start-up noise), never the terminal."""
        return self.path / RUNNER_LOG

    @property
    def preprocessing(self) -> Path:
        """The data's standardization statistics, saved when the run starts."""
        return self.path / PREPROCESSING

    @property
    def splits(self) -> Path:
        """Which rows of the data are in each split, recorded when the run starts."""
        return self.path / SPLITS

    @property
    def lockfile(self) -> Path:
        return self.path / LOCKFILE

    def lock(self) -> Lock:
        """The runner's lock, not yet taken: whoever holds it is the run's live runner."""
        return Lock(self.lockfile)

    @classmethod
    def create(cls, runs_dir: Path, spec: RunSpec) -> RunDir:
        """A new, never-used folder: `<time>-<preset>-<framework>[-N]`, created exclusively;
        a run on a person's own data is named after the data file instead of the preset, one
        with their own model after the model file. A person's own data is recorded by its
        absolute path."""
        try:
            return cls._create(runs_dir, spec)
        except OSError as exc:  # a file in the way, no permission, disk full
            raise UserError(f"{runs_dir}: cannot create a run folder there ({exc.strerror or exc})"
                            ) from None

    @classmethod
    def _create(cls, runs_dir: Path, spec: RunSpec) -> RunDir:
        runs_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        own = Path(spec.model_file.file).stem if spec.model_file else ""
        name = own_data_name(spec.data) or own or spec.name
        base = f"{stamp}-{_slug(name)}-{spec.run.framework}"
        for n in range(1, 10_000):
            path = runs_dir / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            run = cls(path)
            try:
                run.checkpoints.mkdir()
                own = replace(spec, data=pinned(spec.data))
                run.write_spec(model_file.copy_into(path, own))
            except BaseException:  # nothing half-written: no folder without its spec
                remove_path(path)
                raise
            from tuitrain.core import provenance  # git, packages: only when a run is made

            provenance.record(path)
            fsync_dir(runs_dir)
            return run
        raise UserError(f"{runs_dir}: could not create a new run folder")

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run folder, or a clear error."""
        p = Path(path)
        if not (p / CONFIG).is_file():
            raise UserError(f"{p}: not a run folder (no {CONFIG}); see `tuitrain runs`")
        return cls(p)

    def write_spec(self, spec: RunSpec) -> None:
        """`config.toml`; a model file inside the folder (its copy) is named relative to it."""
        own = spec.model_file
        if own is not None and Path(own.file).is_relative_to(self.path):
            own = replace(own, file=str(Path(own.file).relative_to(self.path)))
            spec = replace(spec, model_file=own)
        text = tomli_w.dumps(spec.to_document(), indent=2)
        # Undecodable command-line bytes arrive as lone surrogates, which UTF-8 cannot hold.
        write_atomic(self.config, text.encode("utf-8", "replace"))

    def read_spec(self) -> RunSpec:
        from tuitrain.core.presets import read_document, read_source, spec_from_document

        text = read_source(self.config)
        doc = read_document(self.config, text)
        spec = spec_from_document(doc, source=str(self.config), text=text)
        own = spec.model_file
        if own is not None and not Path(own.file).is_absolute():  # the run's copy
            spec = replace(spec, model_file=replace(own, file=str(self.path / own.file)))
        return spec

    def append(self, event: Event) -> None:
        """Append one event line and flush it to the OS (readers tail the file). The file
        stays open for the writer's next events: opening it for each line cost 0.25 ms, a
        share of a small model's training time."""
        if self._appender is None:
            self._appender = open(self.metrics, "a", encoding="utf-8")  # noqa: SIM115
        self._appender.write(event.to_json() + "\n")
        self._appender.flush()

    def end_cut_line(self) -> None:
        """End a last line cut by a killed writer, so the next event starts on its own line."""
        try:
            with open(self.metrics, "rb+") as f:
                if f.seek(0, os.SEEK_END) == 0:
                    return
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
        except FileNotFoundError:
            pass

    def events(self) -> list[Event]:
        """Every complete, parseable event so far."""
        return list(EventTail(self.metrics).read())

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_atomic(self.summary_path, json.dumps(summary, indent=2, allow_nan=True))

    def summary(self) -> dict[str, Any]:
        """The summary, `{}` if there is none yet; a corrupt one raises UserError."""
        try:
            summary = json.loads(self.summary_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (ValueError, OSError) as exc:
            raise UserError(f"{self.summary_path}: unreadable summary ({exc})") from None
        if not isinstance(summary, dict):
            raise UserError(f"{self.summary_path}: unreadable summary (not a JSON object)")
        return summary

    def runner_pid(self) -> int | None:
        """The live runner's pid, None when no runner lives. `runner.pid` is written by the
        runner's launcher while it holds the lock; once the lock is free, the pid is only a
        record (another process may have it by now) and is not returned."""
        if not self.is_alive():
            return None
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):  # being written by a launcher this very moment
            return None

    def is_alive(self) -> bool:
        """Whether a runner holds the run's lock: true exactly while that process lives."""
        return is_held(self.lockfile)

    def status(self, summary: dict[str, Any] | None = None) -> RunStatus:
        """The run's status as every reader shows it. While a runner holds the lock the run is
        `paused` or `running` (a resumed run's folder may still say how it last ended); with
        no runner, a final status or `queued` stands and anything else means it died
        unannounced: `crashed`. Folders written by older versions read the same way.
        `summary`: the one just read, if the caller has it."""
        return status_of((self.summary() if summary is None else summary).get("status"),
                         self.is_alive())

    def status_or(self, default: RunStatus) -> RunStatus:
        """`status()`, or `default` when the summary is damaged."""
        try:
            return self.status()
        except UserError:
            return default


def status_of(written: object, alive: bool) -> RunStatus:
    """A run's status from the one its folder records and whether a runner holds its lock
    (see `RunDir.status`)."""
    if alive:
        return "paused" if written == "paused" else "running"
    return written if written in (*FINAL_STATUSES, "queued") else "crashed"  # type: ignore[return-value]


def queued_note(run_id: str) -> str:
    """Why a queued run cannot be watched, resumed or stopped yet."""
    return (f"{run_id} is queued and has not started: it starts when its devices are free "
            "(`tuitrain queue` lists the queue, `tuitrain queue rm ID` takes it off)")


@dataclass
class EventTail:
    """Reads new complete lines of a growing log; a cut last line waits for its end."""

    path: Path
    offset: int = 0
    _partial: bytes = field(default=b"", repr=False)

    def read(self) -> Iterator[Event]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self.offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            event = parse_event(line.decode("utf-8", errors="replace"))
            if event is not None:
                yield event


def list_runs(runs_dir: Path) -> list[RunDir]:
    """Run folders under `runs_dir`, oldest first."""
    if not runs_dir.is_dir():
        return []
    runs = (RunDir(p) for p in runs_dir.iterdir() if (p / CONFIG).is_file())
    return sorted(runs, key=lambda r: r.id)


def find_run(ref: str, runs_dir: Path) -> RunDir:
    """A run by path, by id in the runs folder, or by a unique id prefix/suffix."""
    if Path(ref).is_dir():
        return RunDir.open(ref)
    runs = list_runs(runs_dir)
    matches = [r for r in runs if r.id == ref] or [r for r in runs if ref in r.id]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UserError(f"no run {ref!r} in {runs_dir}; see `tuitrain runs`")
    raise UserError(f"{ref!r} matches {len(matches)} runs: " + ", ".join(r.id for r in matches[:5]))
