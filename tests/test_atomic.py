"""Crash-safe writes: readers see the old or the new file, never half; a failure or a kill
midway leaves the previous file intact; everything is fsynced before the rename."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tuitrain.core import atomic
from tuitrain.core.atomic import remove_path, write_atomic, write_with


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_atomic_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "summary.json"
    write_atomic(target, "one")
    write_atomic(target, b"two")
    assert target.read_text() == "two"
    assert leftovers(target.parent) == []


def test_a_failing_writer_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    write_atomic(target, b"old" * 1000)

    def half_then_fail(path: Path) -> None:
        path.write_bytes(b"new" * 10)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_with(target, half_then_fail)
    assert target.read_bytes() == b"old" * 1000
    assert leftovers(tmp_path) == []


def test_a_writer_that_writes_nothing_fails_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "x"
    write_atomic(target, "old")
    with pytest.raises(FileNotFoundError):
        write_with(target, lambda path: None)
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_folder_targets_swap_whole(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"

    def writer(version: str, fail: bool = False):
        def write(path: Path) -> None:
            path.mkdir()
            (path / "a").write_text(version)
            (path / "deep").mkdir()
            (path / "deep" / "b").write_text(version)
            if fail:
                raise RuntimeError("killed midway")

        return write

    write_with(target, writer("v1"), is_dir=True)
    write_with(target, writer("v2"), is_dir=True)
    assert (target / "a").read_text() == "v2" and (target / "deep" / "b").read_text() == "v2"
    with pytest.raises(RuntimeError):
        write_with(target, writer("v3", fail=True), is_dir=True)
    assert (target / "a").read_text() == "v2"
    assert leftovers(tmp_path) == []


def test_everything_is_fsynced_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: object, dst: object) -> None:
        calls.append("replace")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    write_atomic(tmp_path / "f", "data")
    # the file's data, then the rename, then the folder entry
    assert calls == ["fsync", "replace", "fsync"]


def test_readers_never_see_half_a_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    versions = [bytes([65 + i]) * 200_000 for i in range(4)]
    write_atomic(target, versions[0])
    stop = threading.Event()
    seen: set[bytes] = set()

    def reader() -> None:
        while not stop.is_set():
            data = target.read_bytes()
            seen.add(data[:1] if data in versions else b"TORN")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            write_atomic(target, versions[i % 4])
    finally:
        stop.set()
        thread.join()
    assert b"TORN" not in seen


def test_a_kill_during_a_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    write_atomic(target, b"old")
    pid = os.fork()
    if pid == 0:  # child: a slow writer, killed midway

        def slow(path: Path) -> None:
            with open(path, "wb") as f:
                for _ in range(1000):
                    f.write(b"new" * 1000)
                    f.flush()
                    time.sleep(0.01)

        try:
            write_with(target, slow)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while not leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path)  # the temp folder a kill leaves; checkpoints clean these up


def test_remove_path(tmp_path: Path) -> None:
    remove_path(tmp_path / "missing")
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "d")
    remove_path(tmp_path / "link")
    assert (tmp_path / "d" / "e" / "f").exists()  # a link is removed, not followed
    remove_path(tmp_path / "d")
    assert list(tmp_path.iterdir()) == []


def test_a_writer_s_companion_file_moves_with_it(tmp_path: Path) -> None:
    """Formats that keep part of a file beside it under its name (ONNX's `NAME.data`)."""
    target = tmp_path / "model.onnx"

    def with_data(path: Path) -> str:
        path.write_bytes(b"graph")
        path.with_name(f"{path.name}.data").write_bytes(b"weights")
        return "written"

    assert write_with(target, with_data) == "written"
    assert target.read_bytes() == b"graph"
    assert (tmp_path / "model.onnx.data").read_bytes() == b"weights"
    assert leftovers(tmp_path) == []
