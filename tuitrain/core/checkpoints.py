"""Checkpoint bookkeeping shared by every backend: atomic writes, a checksummed manifest
written last (a checkpoint without one is incomplete), the last k kept plus the best, and
clean-up of partial files left by a kill. A save hashes the one file it wrote; checksums are
verified when a checkpoint is used (`latest()`, `best()`), never on the training path."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuitrain.core.atomic import remove_path, write_atomic, write_with

BEST = "best.json"


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint: its file (or folder) and what it holds."""

    name: str
    epoch: int  # epochs fully completed when it was written
    global_step: int
    step_in_epoch: int  # > 0 for a mid-epoch checkpoint
    metrics: dict[str, float]
    sha256: str
    created: float
    folder: str
    state: dict[str, Any] = field(default_factory=dict)  # the driver's loop state (schedule, sums)

    @property
    def path(self) -> Path:
        return Path(self.folder) / self.name

    def size(self) -> int:
        """Bytes on disk (a file, or a folder's files)."""
        path = self.path
        total = 0
        for file in path.rglob("*") if path.is_dir() else (path,):
            with contextlib.suppress(OSError):  # pruned meanwhile
                total += file.stat().st_size if file.is_file() else 0
        return total


def digest(path: Path) -> str:
    """sha256 over a file, or over every file of a folder in name order."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        h.update(p.relative_to(path).as_posix().encode() if p != path else b"")
        with open(p, "rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


class CheckpointStore:
    """The `checkpoints/` folder of one run."""

    def __init__(self, folder: Path, suffix: str, keep: int = 3, is_dir: bool = False) -> None:
        self.folder = folder
        self.suffix = suffix
        self.keep = keep
        self.is_dir = is_dir
        folder.mkdir(parents=True, exist_ok=True)

    def clean_partials(self) -> list[Path]:
        """Remove temp files and checkpoint files whose manifest never got written."""
        removed = []
        for p in self.folder.iterdir():
            is_tmp = p.name.startswith(".") and p.name.endswith((".tmp", ".old"))
            orphan = (p.name.startswith("ckpt-") and p.suffix != ".json"
                      and not self._manifest(p.name).exists())
            if is_tmp or orphan:
                remove_path(p)
                removed.append(p)
        return removed

    def _manifest(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def save(
        self,
        writer: Callable[[Path], None],
        epoch: int,
        global_step: int,
        metrics: dict[str, float],
        best: bool,
        step_in_epoch: int = 0,
        state: dict[str, Any] | None = None,
    ) -> Checkpoint:
        """Write via `writer(tmp_path)`, then the manifest; prune; update the best pointer."""
        name = f"ckpt-e{epoch:04d}-s{global_step:09d}{self.suffix}"
        path = self.folder / name
        write_with(path, writer, is_dir=self.is_dir)
        ckpt = Checkpoint(name, epoch, global_step, step_in_epoch, dict(metrics), digest(path),
                          time.time(), str(self.folder), dict(state or {}))
        write_atomic(self._manifest(name), json.dumps(asdict(ckpt), allow_nan=True))
        if best:
            write_atomic(self.folder / BEST, json.dumps({"name": name}))
        self._prune()
        return ckpt

    def _load(self, manifest: Path, verify: bool) -> Checkpoint | None:
        try:
            ckpt = Checkpoint(**json.loads(manifest.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        ckpt = Checkpoint(**{**asdict(ckpt), "folder": str(self.folder)})
        if not ckpt.path.exists() or (verify and digest(ckpt.path) != ckpt.sha256):
            return None
        return ckpt

    def complete(self, verify: bool = False) -> list[Checkpoint]:
        """Complete checkpoints, oldest first."""
        found = (self._load(m, verify) for m in sorted(self.folder.glob("ckpt-*.json")))
        return sorted((c for c in found if c is not None), key=lambda c: c.global_step)

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint whose checksum still matches."""
        for ckpt in reversed(self.complete()):
            if digest(ckpt.path) == ckpt.sha256:
                return ckpt
        return None

    def best_name(self) -> str | None:
        """The best checkpoint's name, unverified (None when there is none)."""
        try:
            return str(json.loads((self.folder / BEST).read_text())["name"])
        except (OSError, ValueError, KeyError, TypeError):  # TypeError: not a JSON object
            return None

    def best(self) -> Checkpoint | None:
        """The best checkpoint, verified against its checksum (for eval, export, resume)."""
        name = self.best_name()
        return None if name is None else self._load(self._manifest(name), verify=True)

    def remove(self, ckpt: Checkpoint) -> None:
        """Delete one checkpoint: its manifest first, so it is never listed half-removed."""
        self._manifest(ckpt.name).unlink(missing_ok=True)
        remove_path(ckpt.path)

    def _prune(self) -> None:
        """Keep the last `keep` and the best. Nothing is re-read or re-hashed here: on a real
        model that would be gigabytes per save; checksums are verified where a checkpoint
        is used (resume, eval, export)."""
        best = self.best_name()
        for old in self.complete()[: -self.keep]:
            if old.name != best:
                self.remove(old)
