"""The run folder: unique creation under concurrency, tailing a log that grows or was cut by
a kill, damaged summaries, and `tuitrain runs` surviving one damaged run."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import requires_torch, run_cli, run_folders

from tuitrain.core import launch
from tuitrain.core.errors import UserError
from tuitrain.core.events import BatchMetrics, EpochEnd, RunEnded, parse_event
from tuitrain.core.locations import default_runs_dir
from tuitrain.core.presets import load_spec
from tuitrain.core.recorder import Recorder
from tuitrain.core.rundir import EventTail, RunDir, find_run, list_runs

SPEC = load_spec("mlp-moons")


def _create(runs_dir: str) -> str:
    return str(RunDir.create(Path(runs_dir), SPEC).path)


def _create_many(runs_dir: str, barrier: object, n: int, out: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    for _ in range(n):
        out.put(_create(runs_dir))  # type: ignore[attr-defined]


def test_unique_folders_from_threads(tmp_path: Path) -> None:
    with ThreadPoolExecutor(16) as pool:
        paths = list(pool.map(lambda _: _create(str(tmp_path)), range(64)))
    assert len(set(paths)) == 64
    assert len(list_runs(tmp_path)) == 64
    for p in paths:
        assert RunDir.open(p).read_spec() == SPEC


def test_unique_folders_from_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(6), ctx.Queue()
    procs = [
        ctx.Process(target=_create_many, args=(str(tmp_path), barrier, 8, queue)) for _ in range(6)
    ]
    for proc in procs:
        proc.start()
    paths = [queue.get(timeout=60) for _ in range(48)]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert len(paths) == len(set(paths)) == 48
    assert {r.id for r in list_runs(tmp_path)} == {Path(p).name for p in paths}


def test_folder_layout_and_id(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "nested" / "runs", SPEC)
    assert run.config.is_file() and run.checkpoints.is_dir()
    assert run.id.endswith("-mlp-moons-torch")
    assert run.summary() == {} and run.events() == []
    assert run.status() == "crashed"  # no summary and no runner alive


def test_default_runs_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TUITRAIN_RUNS_DIR", raising=False)
    assert default_runs_dir() == Path("runs")
    monkeypatch.setenv("TUITRAIN_RUNS_DIR", str(tmp_path))
    assert default_runs_dir() == tmp_path


def _line(step: int) -> bytes:
    event = BatchMetrics(
        epoch=0,
        step=step,
        global_step=step,
        metrics={"loss": 1.0 / step},
        lr=0.1,
        samples_per_sec=1.0,
    )
    return (event.to_json() + "\n").encode()


def test_event_tail_waits_for_a_cut_line_and_follows_growth(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    tail = EventTail(log)
    assert list(tail.read()) == []  # no file yet
    first, second = _line(1), _line(2)
    log.write_bytes(first + second[:10])
    assert [e.global_step for e in tail.read()] == [1]  # type: ignore[attr-defined]
    assert list(tail.read()) == []  # the cut line is held back
    with open(log, "ab") as f:
        f.write(second[10:] + _line(3))
    assert [e.global_step for e in tail.read()] == [2, 3]  # type: ignore[attr-defined]
    with open(log, "ab") as f:
        f.write(b"garbage that is not json\n" + b'{"event": "unknown"}\n' + _line(4))
    assert [e.global_step for e in tail.read()] == [4]  # type: ignore[attr-defined]


def test_event_tail_reads_a_log_while_it_is_written(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    done = threading.Event()

    def writer() -> None:
        with open(log, "ab", buffering=0) as f:
            for step in range(1, 2001):
                data = _line(step)
                f.write(data[:7])  # two writes per line: readers see cut lines
                f.write(data[7:])
        done.set()

    thread = threading.Thread(target=writer)
    tail, seen = EventTail(log), []
    thread.start()
    while not done.is_set():
        seen += [e.global_step for e in tail.read()]  # type: ignore[attr-defined]
    thread.join()
    seen += [e.global_step for e in tail.read()]  # type: ignore[attr-defined]
    assert seen == list(range(1, 2001))


def test_parse_event_round_trip_and_rejects() -> None:
    event = EpochEnd(
        epoch=3, global_step=40, metrics={"loss": float("nan")}, seconds=1.5, is_best=False
    )
    back = parse_event(event.to_json())
    assert isinstance(back, EpochEnd) and back.epoch == 3
    for bad in ("", "{", "[]", '{"event": "epoch"}', '{"event": "nope"}', "null", '"x"'):
        assert parse_event(bad) is None


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2]", b"null", b"\xff\xfe"])
def test_damaged_summary_is_a_user_error(tmp_path: Path, content: bytes) -> None:
    run = RunDir.create(tmp_path, SPEC)
    run.summary_path.write_bytes(content)
    with pytest.raises(UserError, match="unreadable summary"):
        run.summary()


def _runs(args: list[str]) -> tuple[int, str, str]:
    from tuitrain.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _finished(runs_dir: Path, status: str = "completed") -> RunDir:
    run = RunDir.create(runs_dir, SPEC)
    recorder = Recorder(run, SPEC)
    recorder.epoch_end(0, 10, {"loss": 0.5, "val_loss": 0.6, "val_accuracy": 0.9}, 1.0, 100)
    recorder.ended(status, 10)  # type: ignore[arg-type]
    return run


def test_runs_listing_survives_damaged_runs(tmp_path: Path) -> None:
    good = _finished(tmp_path)
    broken = _finished(tmp_path)
    broken.summary_path.write_text("{ cut by a kill")
    not_a_dict = _finished(tmp_path)
    not_a_dict.summary_path.write_text("[]")
    cut_log = _finished(tmp_path, "stopped")
    with open(cut_log.metrics, "a") as f:
        f.write('{"event": "batch", "epo')
    (tmp_path / "stray-file.txt").write_text("not a run")
    (tmp_path / "empty-folder").mkdir()

    code, out, err = _runs(["runs", "--runs-dir", str(tmp_path)])
    assert code == 0, err
    table = [line for line in out.splitlines()[1:] if not line.split()[0].endswith(":")]
    lines = {line.split()[0]: line for line in table}
    assert set(lines) == {good.id, broken.id, not_a_dict.id, cut_log.id}
    assert "completed" in lines[good.id] and "val_accuracy 0.9000" in lines[good.id]
    assert "damaged" in lines[broken.id] and "damaged" in lines[not_a_dict.id]
    assert "stopped" in lines[cut_log.id]

    code, out, _ = _runs(["runs", "--json", "--runs-dir", str(tmp_path)])
    rows = {r["id"]: r for r in json.loads(out)}
    assert (
        rows[broken.id]["status"] == "damaged" and "unreadable summary" in rows[broken.id]["error"]
    )
    assert rows[good.id]["status"] == "completed" and rows[good.id]["epochs"] == "1/20"

    assert _runs(["runs", "--runs-dir", str(tmp_path / "none")])[1].startswith("no runs in")


@pytest.mark.parametrize(("written", "live", "dead"), [
    ("running", "running", "crashed"),
    ("paused", "paused", "crashed"),
    ("completed", "running", "completed"),  # live: being resumed
    ("stopped", "running", "stopped"),
    ("failed", "running", "failed"),
    (None, "running", "crashed"),  # no summary yet
    ("starting", "running", "crashed"),  # names written by older versions
    ("interrupted", "running", "crashed"),
])
def test_status_comes_from_the_summary_and_the_runners_lock(
        tmp_path: Path, written: str | None, live: str, dead: str) -> None:
    run = RunDir.create(tmp_path, SPEC)
    if written is not None:
        run.write_summary({"status": written})
    assert run.status() == dead and not run.is_alive()
    with run.lock():
        assert run.status() == live and run.is_alive()
    assert run.status() == dead


def test_a_foreign_live_pid_in_a_dead_runs_pidfile_is_not_a_runner(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, SPEC)
    run.write_summary({"status": "running"})
    foreign = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.pidfile.write_text(str(foreign.pid))  # a reused pid: alive, but not the runner
        assert not run.is_alive() and run.runner_pid() is None
        assert run.status() == "crashed"
        launch.request_stop(run)  # never signals the foreign process
        time.sleep(0.2)
        assert foreign.poll() is None
    finally:
        foreign.kill()
        foreign.wait()


def test_find_run(tmp_path: Path) -> None:
    a, b = RunDir.create(tmp_path, SPEC), RunDir.create(tmp_path, SPEC)
    assert find_run(a.id, tmp_path).path == a.path
    assert find_run(str(b.path), tmp_path).path == b.path
    part = next(b.id[i:] for i in range(len(b.id) - 1, -1, -1) if b.id[i:] not in a.id)
    assert find_run(part, tmp_path).path == b.path  # a unique part of the id
    with pytest.raises(UserError, match="matches 2 runs"):
        find_run("mlp-moons", tmp_path)
    with pytest.raises(UserError, match="no run 'zzz'"):
        find_run("zzz", tmp_path)
    with pytest.raises(UserError, match="not a run folder"):
        find_run(str(tmp_path), tmp_path)


def test_a_resumed_runner_does_not_glue_onto_a_cut_line(tmp_path: Path) -> None:
    """A runner killed mid-write leaves a cut last line; the next runner's first event must
    still be readable (it starts on a fresh line)."""
    run = _finished(tmp_path)
    with open(run.metrics, "a") as f:
        f.write('{"event": "batch", "epo')
    recorder = Recorder(run, SPEC)
    recorder.ended("completed", 20)
    events = run.events()
    assert isinstance(events[-1], RunEnded) and events[-1].global_step == 20


def test_a_runs_folder_that_cannot_be_used_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for runs_dir in (blocker, blocker / "runs"):
        with pytest.raises(UserError, match="cannot create a run folder there"):
            RunDir.create(runs_dir, SPEC)
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(UserError, match="Permission denied"):
            RunDir.create(locked, SPEC)


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("moons", "mlp-moons"),
        ("my data.v2.csv", "my-data-v2"),
        ("sub/sales.parquet", "sales"),
        ("~/arrays.npz", "arrays"),
        ("photos.v1", "photos-v1"),  # a folder: its whole name
    ],
)
def test_a_run_on_own_data_is_named_after_the_file(
    tmp_path: Path, dataset: str, expected: str
) -> None:
    (tmp_path / "photos.v1").mkdir()
    path = dataset if dataset == "moons" or dataset.startswith("~") else str(tmp_path / dataset)
    run = RunDir.create(tmp_path / "runs", replace(SPEC, data=replace(SPEC.data, dataset=path)))
    assert re.fullmatch(rf"\d{{8}}-\d{{6}}-{re.escape(expected)}-torch", run.id), run.id


@pytest.mark.torch
@requires_torch
def test_train_on_a_csv_names_the_run_after_it(tmp_path: Path) -> None:
    rows = "".join(f"{i % 7 / 7},{i % 5 / 5},{i % 2}\n" for i in range(60))
    (tmp_path / "My Data.csv").write_text("x1,x2,label\n" + rows)
    out = run_cli(
        "train", "-p", "mlp-moons", "--data", str(tmp_path / "My Data.csv"), "--epochs", "1",
        "-f", "torch", runs_dir=tmp_path / "runs",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    [run] = run_folders(tmp_path / "runs")
    assert re.fullmatch(r"\d{8}-\d{6}-My-Data-torch", run.name), run.name
