"""The bulk reader of batch lines (`core.batchlog`) and the watcher that uses it: every value
exactly as `json.loads` gives it, every line it cannot read exactly refused, and a watcher
that reads in bulk sends the same messages and fills the same history as one that decodes
every line with JSON."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tuitrain.core import batchlog
from tuitrain.core.batchlog import parse_batches
from tuitrain.core.events import (
    BatchMetrics,
    CheckpointSaved,
    EpochEnd,
    LogMessage,
    RunEnded,
    RunStarted,
    StatusChanged,
)
from tuitrain.core.history import RunHistory
from tuitrain.core.rundir import RunDir
from tuitrain.ui import watcher as watcher_module
from tuitrain.ui.messages import HistoryGrew, Loaded
from tuitrain.ui.watcher import RunWatcher


def batch(step: int, metrics: dict[str, float], lr: float = 0.001, sps: float = 100.0,
          epoch: int = 0) -> str:
    return BatchMetrics(epoch=epoch, step=step, global_step=step, metrics=metrics, lr=lr,
                        samples_per_sec=sps, time=1_700_000_000.123456789 + step / 7).to_json()


def expected(lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    raws = [json.loads(line) for line in lines]
    steps = np.array([r["global_step"] for r in raws], dtype=np.float64)
    values = np.array([(*r["metrics"].values(), r["lr"], r["samples_per_sec"]) for r in raws],
                      dtype=np.float64)
    return steps, values


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal including the sign of zero (and NaN where NaN)."""
    return a.shape == b.shape and bool((a.view(np.int64) == b.view(np.int64)).all())


def awkward_floats(rng: random.Random, n: int) -> list[float]:
    """Values whose shortest repr needs 17 digits, exponents, tiny and huge magnitudes."""
    out: list[float] = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            out.append(rng.random())
        elif kind == 1:
            out.append(-rng.random() * 10 ** rng.randint(-12, 12))
        elif kind == 2:
            out.append(rng.random() * 10.0 ** rng.randint(-300, 300))
        elif kind == 3:
            out.append(float(np.float32(rng.random())))  # a float32 metric widened
        elif kind == 4:
            out.append(rng.choice([0.0, -0.0, 1e-05, 2.5e-7, 1e16, 1.5e+22, 123456789.0]))
        else:
            out.append(rng.uniform(-1e6, 1e6))
    return out


def test_values_are_exactly_what_json_gives() -> None:
    rng = random.Random(7)
    a, b, lrs = awkward_floats(rng, 3000), awkward_floats(rng, 3000), awkward_floats(rng, 3000)
    lines = [batch(i + 1, {"loss": x, "accuracy": y}, lr=z, sps=float(i % 3))
             for i, (x, y, z) in enumerate(zip(a, b, lrs, strict=True))]
    block = parse_batches("\n".join(lines).encode(), len(lines))
    assert block is not None
    steps, values = expected(lines)
    assert block.metrics == ("loss", "accuracy")
    assert same_bits(block.steps, steps)
    assert same_bits(block.values, values)


def test_integers_and_signed_zeros_as_json_reads_them() -> None:
    lines = [
        '{"event": "batch", "time": 1, "epoch": 0, "step": 1, "global_step": 9007199254740993, '
        '"metrics": {"loss": -0, "accuracy": -0.0}, "lr": 0, '
        '"samples_per_sec": 12345678901234567890}',
        '{"event": "batch", "time": 2, "epoch": 0, "step": 2, "global_step": 2, '
        '"metrics": {"loss": 1E+2, "accuracy": -5e-324}, "lr": 1e400, "samples_per_sec": -7}',
    ]
    block = parse_batches("\n".join(lines).encode(), 2)
    assert block is not None
    steps, values = expected(lines)
    assert same_bits(block.steps, steps)
    assert same_bits(block.values, values)
    assert math.copysign(1, block.values[0, 0]) == 1.0  # the integer -0 is 0
    assert math.copysign(1, block.values[0, 1]) == -1.0


GOOD = batch(2, {"loss": 0.5, "accuracy": 0.25})


@pytest.mark.parametrize("other", [
    GOOD.replace('"loss": 0.5', '"loss": +0.5'),      # not JSON numbers
    GOOD.replace('"loss": 0.5', '"loss": 00.5'),
    GOOD.replace('"loss": 0.5', '"loss": .5'),
    GOOD.replace('"loss": 0.5', '"loss": 5.'),
    GOOD.replace('"loss": 0.5', '"loss": 1.2.3'),
    GOOD.replace('"loss": 0.5', '"loss": 1e'),
    GOOD.replace('"loss": 0.5', '"loss": 1e5e3'),
    GOOD.replace('"loss": 0.5', '"loss": --1'),
    GOOD.replace('"loss": 0.5', '"loss": 1-2'),
    GOOD.replace('"epoch": 0', '"epoch": 0.1.'),      # even where the value is not used
    GOOD.replace('"loss": 0.5', '"loss": NaN'),       # JSON's extensions: line by line
    GOOD.replace('"loss": 0.5', '"loss": -Infinity'),
    GOOD.replace('"loss": 0.5', '"loss": null'),
    GOOD.replace('"loss": 0.5', '"loss":0.5'),        # other spacing
    GOOD.replace('"loss"', '"lost"'),                 # other keys
    GOOD.replace('"accuracy": 0.25', '"accuracy": 0.25, "top1": 0.1'),
    GOOD[:40],                                        # a cut line
])
def test_a_line_laid_out_otherwise_is_refused(other: str) -> None:
    first = batch(1, {"loss": 0.75, "accuracy": 0.5})
    assert parse_batches(f"{first}\n{other}\n{GOOD}".encode(), 3) is None


def test_keys_differing_only_in_digits_are_refused() -> None:
    one = batch(1, {"top1": 0.5, "top5": 0.75})
    other = batch(2, {"top5": 0.5, "top1": 0.75})
    assert parse_batches(f"{one}\n{other}".encode(), 2) is None
    assert parse_batches(f"{one}\n{one}".encode(), 2) is not None


def test_duplicate_keys_are_left_to_json() -> None:
    line = GOOD.replace('"lr": 0.001', '"lr": 0.001, "lr": 0.5')
    assert parse_batches(f"{line}\n{line}".encode(), 2) is None


def test_first_line_must_be_a_batch_event_with_numbers() -> None:
    assert parse_batches(b"", 0) is None
    assert parse_batches(b'{"event": "batch"}', 1) is None
    status = StatusChanged(status="running", time=1.0).to_json()
    assert parse_batches(status.encode(), 1) is None


# ----- the watcher: bulk against line by line -------------------------------------------------
def write_log(path: Path) -> list[str]:
    """A run with everything a log can hold: two starts (a resume with other metrics), epochs,
    checkpoints, logs, statuses, NaN and null values, garbage, a cut line, unknown events."""
    rng = random.Random(3)
    started = RunStarted(run_id="r", preset="p", framework="torch", device="cpu",
                         device_name="CPU", precision="32", params=10, epochs=4,
                         steps_per_epoch=250, batch_size=8, time=1.0)
    lines = [started.to_json(), StatusChanged(status="running", time=1.5).to_json()]
    step = 0
    for epoch in range(3):
        for _ in range(250):
            step += 1
            loss = rng.random() * 2
            if step == 321:
                loss = float("nan")
            lines.append(batch(step, {"loss": loss, "accuracy": rng.random()},
                               lr=1e-05 * (1 + epoch), sps=rng.uniform(1, 1e5), epoch=epoch))
            if step == 100:
                lines.append(LogMessage(level="warning", text="slow data", time=2.0).to_json())
            if step == 200:
                lines.append('{"event": "batch", "time": 3, "epoch": 0, "step": 200, '
                             '"global_step": 200, "metrics": {"loss": null, "accuracy": 0.5}, '
                             '"lr": 0.1, "samples_per_sec": 10}')
            if step == 300:
                lines.append("not json at all")
            if step == 400:
                lines.append(batch(step, {"loss": 1.0, "accuracy": 0.5})[:50])  # cut
            if step == 450:
                lines.append('{"event": "mystery", "time": 1}')
        lines.append(EpochEnd(epoch=epoch, global_step=step, metrics={"loss": 0.5, "val_loss":
                                                                      0.6}, seconds=1.5,
                              is_best=epoch == 1, time=10.0 + epoch).to_json())
        lines.append(CheckpointSaved(epoch=epoch, global_step=step, path=f"c{epoch}.pt",
                                     best=True, time=10.5 + epoch).to_json())
    resumed = RunStarted(run_id="r", preset="p", framework="torch", device="cpu",
                         device_name="CPU", precision="32", params=10, epochs=4,
                         steps_per_epoch=250, batch_size=8, start_epoch=3, start_step=step,
                         resumed=True, time=20.0)
    lines.append(resumed.to_json())
    for _ in range(250):
        step += 1
        lines.append(batch(step, {"loss": rng.random()}, lr=0.01, sps=50.0, epoch=3))
    lines.append(RunEnded(status="completed", epochs_completed=4, global_step=step,
                          time=30.0).to_json())
    path.write_text("\n".join(lines) + "\n")
    return lines


def project(message: Any) -> tuple[Any, ...]:
    """What a message tells the UI (not Textual's own bookkeeping, not load timings)."""
    if isinstance(message, Loaded):
        return ("Loaded", message.fraction)
    if isinstance(message, HistoryGrew):
        return ("HistoryGrew", message.position)
    public = {k: v for k, v in vars(message).items() if not k.startswith("_")}
    if "time" not in type(message).__init__.__code__.co_varnames:
        public.pop("time", None)  # Textual's creation time
    return (type(message).__name__, public)


def read(run: RunDir, chunk_bytes: int) -> tuple[list[Any], RunHistory, RunWatcher]:
    history = RunHistory(recent=300, capacity=64)
    watcher = RunWatcher(run, history, is_alive=lambda: False, chunk_bytes=chunk_bytes)
    messages: list[Any] = []
    more = True
    while more:
        out, more = watcher.poll()
        messages.extend(out)
    return messages, history, watcher


@pytest.mark.parametrize("chunk_bytes", [300, 7_000, 40_000, 1 << 22])
def test_watcher_reads_in_bulk_what_json_reads(tmp_path: Path, chunk_bytes: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunDir(tmp_path)
    write_log(run.metrics)
    calls: list[int] = []
    real = batchlog.parse_batches

    def counting(block: bytes, count: int) -> Any:
        result = real(block, count)
        calls.append(0 if result is None else count)
        return result

    monkeypatch.setattr(watcher_module, "parse_batches", counting)
    bulk_messages, bulk_history, bulk = read(run, chunk_bytes)
    if chunk_bytes >= 40_000:
        assert sum(calls) > 500, "most batch lines were read in bulk"
    monkeypatch.setattr(watcher_module, "parse_batches", lambda block, count: None)
    json_messages, json_history, line_by_line = read(run, chunk_bytes)

    assert [project(m) for m in bulk_messages] == [project(m) for m in json_messages]
    assert list(bulk._rates) == list(line_by_line._rates)
    assert (bulk.status, bulk.ended) == (line_by_line.status, line_by_line.ended) == (
        "completed", True)
    assert bulk_history.series.keys() == json_history.series.keys()
    for name, series in bulk_history.series.items():
        other = json_history.series[name]
        assert (series.count, series.width) == (other.count, other.width), name
        assert same_bits(np.array([series.last_x, series.last_y]),
                         np.array([other.last_x, other.last_y]))
        for mine, theirs in zip(series.recent_points(), other.recent_points(), strict=True):
            assert same_bits(mine, theirs), name
        mine_b, theirs_b = series.buckets(), other.buckets()
        assert mine_b.shape == theirs_b.shape
        assert np.allclose(mine_b, theirs_b, rtol=1e-12, equal_nan=True), name
    assert bulk_history.epochs == json_history.epochs
    grew = [m for m in bulk_messages if isinstance(m, HistoryGrew)]
    assert grew[-1].position.global_step == 1000
    versions = [m.version for m in grew]
    assert versions == sorted(versions)


def test_cut_last_line_waits_for_its_end_in_bulk(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    lines = [batch(i, {"loss": i / 10}) for i in range(1, 101)]
    cut = batch(101, {"loss": 7.5})
    run.metrics.write_text("\n".join(lines) + "\n" + cut[:30])
    history = RunHistory()
    watcher = RunWatcher(run, history, is_alive=lambda: True)
    messages, _ = watcher.poll()
    assert next(m for m in messages if isinstance(m, HistoryGrew)).position.global_step == 100
    assert len(history.series["loss"]) == 100
    with open(run.metrics, "a") as f:
        f.write(cut[30:] + "\n")
    messages, _ = watcher.poll()
    grew = next(m for m in messages if isinstance(m, HistoryGrew))
    assert grew.position.global_step == 101 and grew.position.metrics == {"loss": 7.5}
    assert history.series["loss"].last_y == 7.5 and len(history.series["loss"]) == 101
