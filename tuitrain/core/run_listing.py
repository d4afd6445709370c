"""The runs folder as listing rows, kept current cheaply, and the filter and sort a person
types (`tuitrain runs --filter ... --sort ...`, the runs screen's `/`).

`RunsIndex` keeps each run's row with the modification time of its folder, which changes
whenever `summary.json` or `meta.json` is replaced (both are written atomically, by rename):
a look at a folder of 10,000 runs stats each run folder once, asks each run's lock whether
it is live (its status), and parses only the summaries that changed, and those of runs not
yet ended; the rows are kept on disk between processes too (`.tuitrain-index.json` in the
runs folder).

A filter is words separated by spaces, all of which must hold: `KEY=VALUE` (the column's
text equals VALUE; `*` matches anything, so `preset=cnn*`), `KEY!=VALUE`, `KEY~TEXT` (the
column contains TEXT), `KEY>N`, `KEY<N`, `KEY>=N`, `KEY<=N` (numbers: `best`, `epochs`,
`alerts`), and bare words, which one of the columns must contain. Case is ignored. `tag=X`
holds when X is one of the run's tags. A sort is a column name, `-` before it for descending:
`-best` puts the highest main metric first; runs without a value go last either way."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitrain.core.atomic import write_atomic
from tuitrain.core.errors import UserError
from tuitrain.core.events import FINAL_STATUSES
from tuitrain.core.liveness import is_held
from tuitrain.core.run_meta import read_meta
from tuitrain.core.rundir import CONFIG, LOCKFILE, RunDir, status_of
from tuitrain.core.runs_index import run_row

COLUMNS = ("id", "preset", "framework", "status", "epochs", "best", "device", "started", "tag",
           "note", "sweep", "settings", "alerts", "error")
NUMERIC = {"best": "best_value", "alerts": "alerts", "epochs": "epochs"}
_TERM = re.compile(r"^([a-z_]+)(!=|>=|<=|=|~|>|<)(.*)$")


INDEX_FILE = ".tuitrain-index.json"
INDEX_VERSION = 3  # of the rows kept in it: a new version reads every run again
WRITE_EVERY = 30.0  # seconds between writes of the index while runs change


@dataclass
class RunsIndex:
    """The rows of one runs folder; `rows()` brings them up to date.

    What it parsed is also kept on disk, in the runs folder's INDEX_FILE (written atomically,
    every WRITE_EVERY seconds at most while runs change, never when the folder is read-only),
    so that the next process that lists the folder parses only what changed since."""

    runs_dir: Path
    _cache: dict[str, tuple[list[int], dict[str, Any]]] = field(default_factory=dict)
    _summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    _loaded: bool = False
    _dirty: int = 0
    _written: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        """Every run's row, oldest first."""
        if not self._loaded:
            self._load()
        try:
            entries = sorted((e for e in os.scandir(self.runs_dir) if e.is_dir()),
                             key=lambda e: e.name)
        except OSError:
            return []
        out, seen = [], set()
        for entry in entries:
            name = entry.name
            # The folder's own time changes whenever summary.json or meta.json is replaced
            # (both are written to a temporary file and renamed): one stat tells.
            try:
                key = [entry.stat().st_mtime_ns]
            except OSError:  # removed while listed
                continue
            cached = self._cache.get(name)
            # A run not yet ended is read each time: its summary may change within one tick
            # of the file system's clock, which the folder's time would not show.
            if cached is None or cached[0] != key or (
                    cached[1].get("summary_status") not in FINAL_STATUSES):
                row = self._parse(self.runs_dir / name, key)
                if row is None:
                    continue
                if row.get("status") == "damaged":
                    out.append(row)
                    continue
                cached = (key, row)
            seen.add(name)
            row = cached[1]  # shared with the cache: only its status is set here
            row["status"] = status_of(row.get("summary_status"),
                                      is_held(f"{entry.path}{os.sep}{LOCKFILE}"))
            out.append(row)
        for gone in set(self._cache) - seen:
            del self._cache[gone]
        self._save()
        return out

    def _parse(self, path: Path, key: list[int]) -> dict[str, Any] | None:
        """A run's row read from its files, cached; None for a folder that is not a run."""
        if not (path / CONFIG).is_file():
            return None  # sweeps/, a stray folder
        run = RunDir(path)
        try:
            summary = run.summary()
        except UserError:
            self._cache.pop(path.name, None)
            return run_row(run)  # the damaged row says why
        meta = read_meta(path)
        row = {**run_row(run, summary, meta), "summary_status": summary.get("status")}
        self._cache[path.name] = (key, row)
        self._summaries[path.name] = summary
        self._dirty += 1
        return row

    def summary(self, run_id: str) -> dict[str, Any]:
        """The run's summary (`{}` when it has none or it is damaged)."""
        if run_id not in self._summaries:
            try:
                self._summaries[run_id] = RunDir(self.runs_dir / run_id).summary()
            except UserError:
                return {}
        return self._summaries[run_id]

    def _load(self) -> None:
        self._loaded = True
        try:
            saved = json.loads((self.runs_dir / INDEX_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(saved, dict) and saved.get("version") == INDEX_VERSION:
            try:
                self._cache = {name: (list(key), dict(row))
                               for name, (key, row) in saved["runs"].items()}
            except (TypeError, ValueError, KeyError, AttributeError):  # damaged: read anew
                self._cache = {}
            self._written = time.monotonic()

    def _save(self) -> None:
        if not self._dirty or time.monotonic() - self._written < WRITE_EVERY:
            return
        self._dirty, self._written = 0, time.monotonic()
        text = json.dumps({"version": INDEX_VERSION, "runs": self._cache})
        with contextlib.suppress(OSError):  # a folder this user may not write: no cache
            write_atomic(self.runs_dir / INDEX_FILE, text)


def _number(row: dict[str, Any], key: str) -> float | None:
    value = row.get(NUMERIC[key])
    if key == "epochs" and isinstance(value, str):
        value = value.partition("/")[0]
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _text(row: dict[str, Any], key: str) -> str:
    value = row.get("tags" if key == "tag" else key, "")
    return " ".join(value) if isinstance(value, list) else str(value)


@dataclass(frozen=True)
class Term:
    key: str  # "" for a bare word
    op: str
    value: str

    def holds(self, row: dict[str, Any]) -> bool:
        if not self.key:
            return any(self.value in _text(row, k).lower() for k in COLUMNS)
        if self.op in (">", "<", ">=", "<="):
            number = _number(row, self.key)
            bound = float(self.value)
            return number is not None and {">": number > bound, "<": number < bound,
                                           ">=": number >= bound, "<=": number <= bound}[self.op]
        if self.key == "tag":
            tags = [t.lower() for t in row.get("tags", [])]
            found = any(fnmatch.fnmatchcase(t, self.value) for t in tags)
            return found if self.op == "=" else (not found if self.op == "!=" else
                                                 any(self.value in t for t in tags))
        text = _text(row, self.key).lower()
        if self.op == "~":
            return self.value in text
        matched = fnmatch.fnmatchcase(text, self.value)
        return matched if self.op == "=" else not matched


def parse_filter(text: str) -> list[Term]:
    """The terms of a filter, or a one-line error naming the word and what is valid."""
    terms = []
    for word in text.lower().split():
        match = _TERM.match(word)
        if match is None:
            terms.append(Term("", "~", word))
            continue
        key, op, value = match.groups()
        if key not in COLUMNS:
            raise UserError(f"filter {word!r}: no column {key!r}; columns: {', '.join(COLUMNS)}")
        if op in (">", "<", ">=", "<="):
            if key not in NUMERIC:
                raise UserError(f"filter {word!r}: {op} compares numbers: "
                                f"{', '.join(NUMERIC)}")
            try:
                float(value)
            except ValueError:
                raise UserError(f"filter {word!r}: {value!r} is not a number") from None
        terms.append(Term(key, op, value))
    return terms


def matches(row: dict[str, Any], terms: list[Term]) -> bool:
    return all(term.holds(row) for term in terms)


def parse_sort(text: str) -> tuple[str, bool]:
    """'-best' -> ('best', descending)."""
    key = text.strip().lower()
    descending = key.startswith("-")
    key = key.lstrip("-+")
    if key not in COLUMNS:
        raise UserError(f"sort {text!r}: no column {key!r}; columns: {', '.join(COLUMNS)} "
                        "(- before one: descending)")
    return key, descending


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows ordered by a column (numbers as numbers); those without a value last."""
    def value(row: dict[str, Any]) -> Any:
        return _number(row, key) if key in NUMERIC else _text(row, key).lower()

    keyed = [(value(r), r) for r in rows]
    present = [pair for pair in keyed if pair[0] not in (None, "")]
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [r for _, r in present] + [r for v, r in keyed if v in (None, "")]
