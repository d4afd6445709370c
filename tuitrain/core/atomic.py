"""Crash-safe file writes: temp file in the same folder, fsync, rename, fsync the folder."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def fsync_dir(folder: Path) -> None:
    """Make a rename or new file in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync a file, or every file under a folder (multi-file checkpoint formats)."""
    paths = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for p in paths:
        with open(p, "rb") as f:
            os.fsync(f.fileno())


@contextlib.contextmanager
def staged(target: Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success it atomically becomes `target`.

    Whatever the body writes there (a file, or a folder if `is_dir`) is fsynced and renamed
    into place, with any companion file a format writes beside it under its name (ONNX keeps
    large weights in `NAME.data`), those first; on any exception the temp path is removed and
    `target` is untouched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    )
    work = tmp / target.name if not is_dir else tmp / "d"
    try:
        yield work
        fsync_tree(tmp)
        for companion in tmp.glob(f"{glob.escape(work.name)}.*"):
            os.replace(companion, target.parent / companion.name)
        if is_dir and target.exists():
            _swap_dir(work, target)
        else:
            os.replace(work, target)
        fsync_dir(target.parent)
    finally:
        remove_path(tmp)


def _swap_dir(new: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    remove_path(old)
    os.replace(target, old)
    os.replace(new, target)
    remove_path(old)


def remove_path(path: Path) -> None:
    """Delete a file or a folder tree; a missing path is fine."""
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            remove_path(child)
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_atomic(target: Path, data: bytes | str) -> None:
    """Replace `target` with `data` so readers see the old or the new file, never half."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with staged(target) as tmp:
        tmp.write_bytes(payload)


def write_with(target: Path, writer: Callable[[Path], T], is_dir: bool = False) -> T:
    """Let `writer` produce the file (or folder) at a temp path, then move it into place;
    returns what `writer` returns."""
    with staged(target, is_dir=is_dir) as tmp:
        return writer(tmp)
