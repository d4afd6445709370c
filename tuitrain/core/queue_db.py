"""The run queue: an SQLite database (the standard library's, in WAL mode) of the runs waiting
for their devices, started, and ended, shared by every `tuitrain queue` command and the
scheduler process.

Each entry names a run folder made when it was queued (its spec written, its status
`queued`), what devices it asks for and whether it resumes. An entry moves `queued` →
`started` → `ended` by single-statement updates inside `BEGIN IMMEDIATE` transactions, so
processes that add, remove and start entries at the same moment never lose one or start
one twice: `start` succeeds for exactly one caller, and `remove` only while still queued.

WAL needs a local disk: its shared memory does not work on network file systems (NFS,
Lustre, GPFS, CIFS), where SQLite may corrupt the file. The queue lives in
`$TUITRAIN_QUEUE_DIR`, else the user's local state folder (`$XDG_STATE_HOME/tuitrain`,
`~/.local/state/tuitrain`); when that folder is on a network file system (home folders on a
cluster often are), in `/var/tmp/tuitrain-<uid>` instead, which is always local. Run folders
may be anywhere: the queue holds their absolute paths."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tuitrain.core.errors import UserError

QUEUE_DIR_ENV = "TUITRAIN_QUEUE_DIR"
NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs",
                                 "beegfs", "glusterfs", "ceph", "fuse.sshfs", "9p", "afs"})
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another's transaction (they last microseconds)
DEFAULT_MAX_PARALLEL = 1

EntryState = Literal["queued", "started", "ended"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL UNIQUE,
    device TEXT NOT NULL,
    devices TEXT NOT NULL,
    resume INTEGER NOT NULL DEFAULT 0,
    sweep TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'queued',
    status TEXT NOT NULL DEFAULT '',
    added REAL NOT NULL,
    started REAL,
    ended REAL
);
CREATE INDEX IF NOT EXISTS entries_state ON entries (state, id);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Entry:
    """One queued run."""

    id: int
    run: Path
    device: str  # as the run's spec says: auto, cpu, cuda, cuda:N, mps
    devices: str  # how many or which (core/placement.py)
    resume: bool
    sweep: str
    state: EntryState
    status: str  # the run's final status once ended
    added: float
    started: float | None
    ended: float | None


def filesystem_type(path: Path) -> str:
    """The type of the file system holding `path` (Linux's mount table), '' when unknown."""
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    best, kind = -1, ""
    resolved = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, kind = len(point), parts[2]
    return kind


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def queue_dir() -> tuple[Path, str]:
    """The queue's folder, and why it is there when it is not the usual place ('' if it is)."""
    given = os.environ.get(QUEUE_DIR_ENV)
    if given:
        return Path(given), ""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    folder = Path(state) / "tuitrain"
    kind = filesystem_type(_existing_parent(folder))
    if kind in NETWORK_FILESYSTEMS:
        return (Path("/var/tmp") / f"tuitrain-{os.getuid()}",
                f"{folder} is on {kind}, where SQLite's WAL is unsafe")
    return folder, ""


class Queue:
    """The queue database; one connection per process (or thread)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else queue_dir()[0]
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.db = sqlite3.connect(self.folder / "queue.db", timeout=BUSY_TIMEOUT,
                                      isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent on power loss
            with self._write():
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"{self.folder}: cannot open the run queue there ({exc}); set "
                            f"{QUEUE_DIR_ENV} to a folder on a local disk") from None

    @property
    def lockfile(self) -> Path:
        """The scheduler's lock: whoever holds it is the queue's one live scheduler."""
        return self.folder / "scheduler.lock"

    @property
    def log(self) -> Path:
        return self.folder / "scheduler.log"

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken up front (BEGIN IMMEDIATE): readers go on, a second
        writer waits for it instead of failing halfway through."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # busy past the timeout, disk full, read-only
            raise UserError(f"{self.folder / 'queue.db'}: {exc}") from None
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise UserError(f"{self.folder / 'queue.db'}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    # --- adding and removing -------------------------------------------------------

    def add(self, run: Path, device: str, devices: str, resume: bool = False,
            sweep: str = "") -> Entry:
        with self._write():
            row = self.db.execute(
                "INSERT INTO entries (run, device, devices, resume, sweep, added) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (str(run.resolve()), device, devices, int(resume), sweep, time.time()),
            ).fetchone()
        return _entry(row)

    def remove(self, entry_id: int) -> Entry:
        """Take a queued entry off the queue; a one-line error for one started or ended."""
        with self._write():
            row = self.db.execute("DELETE FROM entries WHERE id = ? AND state = 'queued' "
                                  "RETURNING *", (entry_id,)).fetchone()
        if row is not None:
            return _entry(row)
        entry = self.get(entry_id)
        if entry is None:
            raise UserError(f"no queue entry {entry_id}; see `tuitrain queue`")
        if entry.state == "started":
            raise UserError(f"entry {entry_id} is running ({entry.run.name}); stop it with "
                            f"`tuitrain stop {entry.run.name}`")
        raise UserError(f"entry {entry_id} has ended ({entry.status}); it is in `tuitrain runs`")

    # --- the scheduler's moves -------------------------------------------------------

    def start(self, entry_id: int) -> bool:
        """Mark a queued entry started; False if another process started or removed it."""
        with self._write():
            row = self.db.execute("UPDATE entries SET state = 'started', started = ? "
                                  "WHERE id = ? AND state = 'queued' RETURNING id",
                                  (time.time(), entry_id)).fetchone()
        return row is not None

    def end(self, entry_id: int, status: str) -> None:
        with self._write():
            self.db.execute("UPDATE entries SET state = 'ended', status = ?, ended = ? "
                            "WHERE id = ? AND state = 'started'", (status, time.time(), entry_id))

    def requeue(self, entry_id: int, resume: bool | None = None) -> None:
        """Put a started entry back in line (its runner never started, or it will resume)."""
        with self._write():
            self.db.execute("UPDATE entries SET state = 'queued', started = NULL, "
                            "resume = COALESCE(?, resume) WHERE id = ?",
                            (None if resume is None else int(resume), entry_id))

    def idle_release(self, release: Callable[[], None]) -> bool:
        """When nothing is queued or started, call `release()` (the scheduler letting go of
        its lock) inside the same write transaction and return True: an entry added from
        now on finds no scheduler and starts one, and none added before goes unseen."""
        with self._write():
            busy = self.db.execute("SELECT 1 FROM entries WHERE state != 'ended' LIMIT 1"
                                   ).fetchone()
            if busy is None:
                release()
        return busy is None

    # --- reading -----------------------------------------------------------------------

    def get(self, entry_id: int) -> Entry | None:
        row = self.db.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
        return _entry(row) if row is not None else None

    def entries(self, states: tuple[EntryState, ...] = ("queued", "started", "ended"),
                sweep: str | None = None) -> list[Entry]:
        """Entries in the given states, in queue order (sweep: only that sweep's)."""
        marks = ",".join("?" * len(states))
        query = f"SELECT * FROM entries WHERE state IN ({marks})"
        params: list[object] = list(states)
        if sweep is not None:
            query += " AND sweep = ?"
            params.append(sweep)
        return [_entry(r) for r in self.db.execute(query + " ORDER BY id", params)]

    def entry_for(self, run: Path) -> Entry | None:
        """The entry of a run folder, None when it was never queued here."""
        row = self.db.execute("SELECT * FROM entries WHERE run = ?", (str(run.resolve()),)
                              ).fetchone()
        return _entry(row) if row is not None else None

    def pending(self) -> int:
        """Entries queued or started (what `queue wait` waits for)."""
        return self.db.execute("SELECT COUNT(*) FROM entries WHERE state != 'ended'"
                               ).fetchone()[0]

    # --- settings ----------------------------------------------------------------------

    @property
    def max_parallel(self) -> int:
        row = self.db.execute("SELECT value FROM settings WHERE key = 'max_parallel'").fetchone()
        return int(row[0]) if row is not None else DEFAULT_MAX_PARALLEL

    @max_parallel.setter
    def max_parallel(self, value: int) -> None:
        if value < 1:
            raise UserError(f"--max-parallel {value}: must be 1 or more (runs at a time)")
        with self._write():
            self.db.execute("INSERT INTO settings VALUES ('max_parallel', ?) ON CONFLICT(key) "
                            "DO UPDATE SET value = excluded.value", (str(value),))


QUEUE_HEADER = ("id", "state", "run", "devices", "sweep", "for")


def entry_row(entry: Entry, now: float) -> list[str]:
    """The entry as `tuitrain queue` and the runs screen list it (QUEUE_HEADER): a running
    or queued entry's time so far in that state, an ended one's time training."""
    state = {"queued": "queued", "started": "running"}.get(entry.state, entry.status)
    since = entry.added if entry.state == "queued" else entry.started
    devices = entry.device + (f" x{entry.devices}" if entry.devices != "1" else "")
    return [f"#{entry.id}", state, entry.run.name, devices, entry.sweep,
            _duration(since, entry.ended or now)]


def _duration(since: float | None, until: float) -> str:
    if since is None:
        return ""
    seconds = max(0, int(until - since))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _entry(row: tuple[object, ...]) -> Entry:
    eid, run, device, devices, resume, sweep, state, status, added, started, ended = row
    return Entry(int(eid), Path(str(run)), str(device), str(devices), bool(resume), str(sweep),
                 state, str(status), float(added), started, ended)  # type: ignore[arg-type]
