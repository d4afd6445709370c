"""The headless progress lines: durations with the precision they deserve, the epoch's
training throughput and the whole run's ETA, as plain lines when the output is not a terminal."""

from __future__ import annotations

import io

import pytest

from tuitrain.cli.progress import Progress, fmt_rate, fmt_seconds, run_eta
from tuitrain.core.events import BatchMetrics, EpochEnd, RunEnded, RunStarted


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0.0 ms"),
        (-1.0, "0.0 ms"),
        (float("nan"), "0.0 ms"),
        (0.0025, "2.5 ms"),
        (0.0099, "9.9 ms"),
        (0.085, "85 ms"),
        (0.9994, "999 ms"),
        (0.9996, "1.0 s"),
        (1.44, "1.4 s"),
        (9.94, "9.9 s"),
        (9.96, "10 s"),
        (42.4, "42 s"),
        (59.4, "59 s"),
        (59.6, "1:00"),
        (125, "2:05"),
        (3599.4, "59:59"),
        (3725, "1:02:05"),
        (36_000, "10:00:00"),
    ],
)
def test_fmt_seconds(seconds: float, text: str) -> None:
    assert fmt_seconds(seconds) == text


def test_fmt_rate() -> None:
    assert fmt_rate(16240.4) == "16,240 samples/s"
    assert fmt_rate(0.4) == "0 samples/s"


def test_run_eta_from_recent_epochs_else_from_the_step_rate() -> None:
    # The last three epochs' mean (2 s) for 40-step epochs, 100 steps left: 5 s.
    assert run_eta([9.0, 1.0, 2.0, 3.0], 100, 40) == pytest.approx(5.0)
    assert run_eta([], 100, 40, steps_per_sec=50) == pytest.approx(2.0)
    assert run_eta([], 100, 40) is None
    assert run_eta([2.0], 0, 40) == 0.0
    assert run_eta([2.0], -5, 40) == 0.0


def started(**kw: object) -> RunStarted:
    values = dict(
        run_id="r",
        preset="mlp-digits",
        framework="torch",
        device="cpu",
        device_name="CPU",
        precision="32",
        params=100,
        epochs=3,
        steps_per_epoch=40,
        batch_size=32,
        time=0.0,
    )
    values.update(kw)
    return RunStarted(**values)  # type: ignore[arg-type]


def batch(global_step: int, rate: float) -> BatchMetrics:
    return BatchMetrics(
        epoch=(global_step - 1) // 40,
        step=(global_step - 1) % 40 + 1,
        global_step=global_step,
        metrics={"loss": 0.5},
        lr=0.01,
        samples_per_sec=rate,
        time=0.0,
    )


def epoch(index: int, seconds: float, best: bool = False) -> EpochEnd:
    return EpochEnd(
        epoch=index,
        global_step=(index + 1) * 40,
        metrics={"loss": 0.25, "val_loss": 0.3, "lr": 0.01},
        seconds=seconds,
        is_best=best,
        time=0.0,
    )


def lines(*events: object) -> list[str]:
    out = io.StringIO()
    progress = Progress(out, live=False)
    for event in events:
        progress.feed(event)  # type: ignore[arg-type]
    return out.getvalue().splitlines()


def test_epoch_lines_show_time_throughput_and_the_runs_eta() -> None:
    got = lines(
        started(),
        # Epoch 1: 20 steps at 1,000 samples/s (0.64 s), 20 at 4,000 (0.16 s): 1,280 samples
        # in 0.8 s of training is 1,600 samples/s (not the mean of the two rates).
        batch(20, 1000.0),
        batch(40, 4000.0),
        epoch(0, 0.085, best=True),
        batch(60, 2000.0),
        batch(80, 2000.0),
        epoch(1, 1.415),
        batch(120, 2000.0),
        epoch(2, 2.5),
        RunEnded(status="completed", epochs_completed=3, global_step=120, time=0.0),
    )
    assert got[0].startswith("training mlp-digits with torch on cpu")
    # After epoch 1: 2 epochs of 85 ms left. After epoch 2: the mean of both (750 ms) x 1.
    assert got[1] == "epoch 1/3  loss 0.25  val_loss 0.3  (85 ms, 1,600 samples/s, ETA 170 ms) *"
    assert got[2] == "epoch 2/3  loss 0.25  val_loss 0.3  (1.4 s, 2,000 samples/s, ETA 750 ms)"
    assert got[3] == "epoch 3/3  loss 0.25  val_loss 0.3  (2.5 s, 2,000 samples/s)"  # no ETA
    assert got[4] == "run completed after 3 epochs, 120 steps"
    assert not any("\r" in line or "\033" in line for line in got)


def test_an_epoch_without_logged_steps_shows_no_throughput() -> None:
    got = lines(started(epochs=100), epoch(0, 125.0))
    assert got[1] == "epoch 1/100  loss 0.25  val_loss 0.3  (2:05, ETA 3:26:15)"


def test_a_resumed_run_counts_throughput_from_its_first_step() -> None:
    # Resumed at step 40: the first interval is steps 41-60, not 1-60.
    got = lines(
        started(resumed=True, start_epoch=1, start_step=40),
        batch(60, 500.0),
        batch(80, 500.0),
        epoch(1, 3.0),
    )
    assert got[0].startswith("resuming mlp-digits")
    assert got[1] == "epoch 2/3  loss 0.25  val_loss 0.3  (3.0 s, 500 samples/s, ETA 3.0 s)"


def test_the_live_line_is_redrawn_in_place_with_rate_and_eta() -> None:
    out = io.StringIO()
    progress = Progress(out, live=True)
    progress.feed(started())
    progress.feed(batch(20, 1234.0))
    drawn = out.getvalue().split("\n")[-1]
    assert drawn.startswith("\r\033[Kepoch 1/3 ")
    assert "20/40" in drawn and "1,234 samples/s" in drawn and "ETA " in drawn
