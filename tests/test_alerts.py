"""Health alerts (core/alerts.py) and notifications (core/notify.py): each alert fires once
per episode and re-arms when it clears; the driver records them and runs the person's notify
command for alerts and for the run's end, and a failing or hanging command never harms the
run."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_trainer import FakeEngine, make_spec, make_trainer, of, train

from tuitrain.core import alerts, notify
from tuitrain.core.alerts import AlertWatch
from tuitrain.core.events import Alert, BatchMetrics
from tuitrain.core.measures import GRAD_NORM
from tuitrain.core.rundir import RunDir


def kinds(raised: list[alerts.Raised]) -> list[str]:
    return [r.kind for r in raised]


def test_a_loss_spike_fires_once_and_re_arms_after_calm() -> None:
    watch = AlertWatch("val_loss", "min")
    out = []
    for _ in range(20):
        out += watch.interval(1.0, 100.0)
    assert out == []
    assert kinds(watch.interval(6.0, 100.0)) == ["loss_spike"]
    assert watch.interval(9.0, 100.0) == []  # the same episode
    for _ in range(alerts.SPIKE_WARMUP):
        assert watch.interval(1.0, 100.0) == []
    raised = watch.interval(7.0, 100.0)
    assert kinds(raised) == ["loss_spike"] and "7.0x its running median 1" in raised[0].message
    assert AlertWatch("l", "min").interval(50.0, 1.0) == []  # no median yet: no judgement


def test_a_gradient_norm_explosion_fires_once_and_ignores_skipped_steps() -> None:
    watch = AlertWatch("val_loss", "min")
    for _ in range(alerts.SPIKE_WARMUP + 5):
        assert watch.interval(1.0, 100.0, 2.0) == []
    assert watch.interval(1.0, 100.0, 15.0) == []  # 7.5x: large, not an explosion
    assert watch.interval(1.0, 100.0, None) == []  # no norm sampled in the interval
    assert watch.interval(1.0, 100.0, float("inf")) == []  # a step loss scaling skipped
    raised = watch.interval(1.0, 100.0, 50.0)
    assert kinds(raised) == ["grad_norm"]
    assert raised[0].message == "gradient norm spiked to 50, 25.0x its running median 2"
    assert watch.interval(1.0, 100.0, 80.0) == []  # the same episode
    for _ in range(alerts.SPIKE_WARMUP):
        assert watch.interval(1.0, 100.0, 2.0) == []
    assert kinds(watch.interval(1.0, 100.0, 40.0)) == ["grad_norm"]


def test_throughput_halved_fires_after_warmup_and_re_arms_on_recovery() -> None:
    watch = AlertWatch("val_loss", "min")
    for _ in range(alerts.SLOW_WARMUP):
        assert watch.interval(1.0, 1000.0) == []
    out = []
    for _ in range(alerts.SLOW_WINDOW):
        out += watch.interval(1.0, 300.0)
    assert kinds(out) == ["throughput"] and "30% of its usual 1,000" in out[0].message
    for _ in range(alerts.SLOW_WINDOW):
        assert watch.interval(1.0, 1000.0) == []
    out = []
    for _ in range(alerts.SLOW_WINDOW):
        out += watch.interval(1.0, 200.0)
    assert kinds(out) == ["throughput"]


def test_stalled_after_k_epochs_without_a_better_value() -> None:
    watch = AlertWatch("val_accuracy", "max")
    assert watch.epoch(1, 1) == []
    assert all(watch.epoch(e, 1) == [] for e in range(2, alerts.STALL_EPOCHS + 1))
    raised = watch.epoch(alerts.STALL_EPOCHS + 1, 1)
    assert kinds(raised) == ["stalled"]
    assert "val_accuracy has not improved for 10" in raised[0].message
    assert watch.epoch(alerts.STALL_EPOCHS + 2, 1) == []
    assert watch.epoch(13, 13) == []  # a new best re-arms it


def test_disk_nearly_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    watch = AlertWatch("val_loss", "min")
    assert watch.disk(tmp_path, 1) == []
    usage = type("Usage", (), {"total": 100 * 2**30, "free": 3 * 2**30, "used": 0})
    monkeypatch.setattr(alerts.shutil, "disk_usage", lambda path: usage)
    raised = watch.disk(tmp_path, 2**20)
    assert kinds(raised) == ["disk"] and "3.0 GiB free of 100 GiB" in raised[0].message
    assert watch.disk(tmp_path, 2**20) == []


def wait_for_file(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().endswith("\n"):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return path.read_text()


def test_the_notify_command_gets_run_status_and_message(tmp_path: Path) -> None:
    out = tmp_path / "got"
    cmd = f'printf "%s|%s|%s\\n" "$TUITRAIN_RUN" "$TUITRAIN_STATUS" "$TUITRAIN_MESSAGE" > {out}'
    notify.notify(cmd, tmp_path, "completed", "it's done: 'quotes' and $dollars")
    assert wait_for_file(out) == f"{tmp_path}|completed|it's done: 'quotes' and $dollars\n"


def test_a_hanging_or_failing_notify_command_is_cut_off_and_logged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "TIMEOUT", 0.5)
    started = time.monotonic()
    notify.notify("sleep 30", tmp_path, "alert", "slow")
    notify.notify("exit 3", tmp_path, "failed", "bad")
    notify.notify("no-such-command-here", tmp_path, "stopped", "missing")
    assert time.monotonic() - started < 2  # never waited for
    deadline = time.monotonic() + 20
    log = tmp_path / notify.LOG
    while "killed after 0.5 s" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    text = log.read_text()
    assert "alert: slow" in text and "notify command exited 3" in text
    assert "notify command exited 127" in text  # sh: not found


def test_the_driver_records_an_alert_and_notifies_it_and_the_end(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    spec = make_spec(epochs=40, batch_size=2, log_every=1)
    spec = spec.with_run(notify_cmd=f'echo "$TUITRAIN_STATUS: $TUITRAIN_MESSAGE" >> {out}')
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec)
    step = engine.train_step

    def spiky(indices, lr, slot) -> None:  # type: ignore[no-untyped-def]
        step(indices, lr, slot)
        if engine.step == 120:
            engine.slots[0, slot] = 1e6  # one huge loss after 120 calm steps
    engine.train_step = spiky  # type: ignore[method-assign]
    assert train(make_trainer(run, spec, 10), engine) == "completed"
    (alert,) = [a for a in of(run, Alert) if a.alert == "loss_spike"]
    assert alert.global_step == 120 and "loss spiked to 1e+06" in alert.message
    summary = run.summary()
    assert summary["alert_count"] >= 1
    assert "loss_spike" in [a["alert"] for a in summary["alerts"]]
    deadline = time.monotonic() + 20
    while "completed:" not in (out.read_text() if out.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    lines = out.read_text().splitlines()
    assert any(line.startswith(f"alert: {run.id}: loss spiked") for line in lines)
    assert lines[-1].startswith(f"completed: {run.id} completed after 40/40 epochs; best ")


def test_the_driver_judges_the_largest_norm_an_engine_sampled(tmp_path: Path) -> None:
    spec = make_spec(epochs=40, batch_size=2, log_every=4)
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec)
    read = engine.read_slots

    def with_norms(n: int) -> dict[str, np.ndarray]:  # two samples an interval, one huge
        norms = [1.0, 3.0] if engine.step != 120 else [2.0, 400.0]
        return {**read(n), GRAD_NORM: np.array(norms)}
    engine.read_slots = with_norms  # type: ignore[method-assign]
    assert train(make_trainer(run, spec, 10), engine) == "completed"
    (alert,) = [a for a in of(run, Alert) if a.alert == "grad_norm"]
    assert alert.global_step == 120
    assert alert.message == "gradient norm spiked to 400, 133.3x its running median 3"
    # Judged, never reported as a metric.
    assert all(GRAD_NORM not in b.metrics for b in of(run, BatchMetrics))


def test_the_notify_command_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(notify.NOTIFY_ENV, "ntfy publish runs")
    assert notify.command("") == "ntfy publish runs"
    assert notify.command("mine") == "mine"
    assert replace(make_spec().run, notify_cmd="x").notify_cmd == "x"
