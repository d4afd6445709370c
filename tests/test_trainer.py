"""The framework-agnostic Trainer driven by a fake in-process NumPy engine (no framework):
logging, NaN detection, control commands, checkpoints, and exact mid-epoch resume."""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tuitrain.core import control
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.events import BatchMetrics, CheckpointSaved, EpochEnd, RunStarted, StatusChanged
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import RunSpec
from tuitrain.core.trainer import NonFiniteLoss, Trainer

POLL = 0.25  # a little more than the driver's command-poll period


class FakeEngine:
    """Per-sample "loss" = its index; a step's loss is the batch mean, its accuracy the share
    of even indices. Everything is a pure function of the samples seen."""

    def __init__(
        self,
        spec: RunSpec,
        start_step: int = 0,
        nan_at: int | None = None,
        hooks: dict[int, Callable[[], None]] | None = None,
        val: list[dict[str, float]] | None = None,
    ) -> None:
        self.slots = np.zeros((2, spec.train.log_every))
        self.step = start_step
        self.nan_at = nan_at
        self.hooks = hooks or {}
        self.val = list(val or [])
        self.seen: list[list[int]] = []
        self.lrs: list[float] = []
        self.blocks: list[int] = []  # steps per engine call
        self.saved_at: list[int] = []
        self.upcoming: list[list[int]] = []  # the rows start_epoch announced, in order

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        self.upcoming.extend(row.tolist() for row in rows)

    def train_steps(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        self.blocks.append(len(batches))
        for i, (indices, lr) in enumerate(zip(batches, lrs, strict=True)):
            self.train_step(indices, float(lr), slot + i)

    def train_step(self, indices: np.ndarray, lr: float, slot: int) -> None:
        self.step += 1
        self.seen.append(indices.tolist())
        self.lrs.append(lr)
        loss = math.nan if self.step == self.nan_at else float(indices.mean())
        self.slots[:, slot] = loss, float((indices % 2 == 0).mean())
        if self.step in self.hooks:
            self.hooks[self.step]()

    def read_slots(self, n: int) -> dict[str, np.ndarray]:
        return {"loss": self.slots[0, :n].copy(), "accuracy": self.slots[1, :n].copy()}

    def evaluate(self, split: str) -> dict[str, float]:
        return self.val.pop(0) if self.val else {"loss": 1.0, "accuracy": 0.5}

    def snapshot(self) -> Callable[[Path], None]:
        self.saved_at.append(self.step)
        text = json.dumps({"step": self.step})
        return lambda path: path.write_text(text)


def make_spec(**train: object) -> RunSpec:
    spec = load_spec("mlp-moons")
    # One step per engine call unless a test says otherwise: hooks then act at exact steps.
    defaults = {"epochs": 2, "batch_size": 4, "log_every": 2, "steps_per_execution": 1}
    return replace(spec, train=replace(spec.train, **{**defaults, **train}))  # type: ignore[arg-type]


def make_trainer(run: RunDir, spec: RunSpec, n_train: int, resume: bool = False) -> Trainer:
    store = CheckpointStore(run.checkpoints, ".fake", spec.train.keep_checkpoints)
    return Trainer(spec, run, n_train, store, store.latest() if resume else None)


def train(trainer: Trainer, engine: FakeEngine) -> str:
    trainer.begin(engine, "cpu", "fake", 3, {"numpy": np.__version__})
    status = trainer.fit()
    trainer.finish(status)
    return status


def later(seconds: float, fn: Callable[[], None]) -> None:
    threading.Timer(seconds, fn).start()


def send_now(run: RunDir, command: str) -> Callable[[], None]:
    """A hook that sends a command and waits long enough for the driver to poll it."""

    def hook() -> None:
        control.send(run.control, command)  # type: ignore[arg-type]
        time.sleep(POLL)

    return hook


def of(run: RunDir, kind: type) -> list:
    return [e for e in run.events() if isinstance(e, kind)]


def test_logs_every_n_steps_with_batch_weighted_means(tmp_path: Path) -> None:
    spec = make_spec()  # 10 samples, batches of 4, 4, 2; log every 2 steps
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    engine = FakeEngine(spec)
    assert train(trainer, engine) == "completed"
    batches = of(run, BatchMetrics)
    assert [(b.epoch, b.step, b.global_step) for b in batches] == [
        (0, 2, 2),
        (0, 3, 3),
        (1, 2, 5),
        (1, 3, 6),
    ]
    for b in batches:
        first = b.global_step - (2 if b.step == 2 else 1)
        samples = [i for batch in engine.seen[first : b.global_step] for i in batch]
        assert b.metrics["loss"] == pytest.approx(np.mean(samples))  # weighted by batch size
    epochs = of(run, EpochEnd)
    assert [e.epoch for e in epochs] == [0, 1]
    for e in epochs:
        assert e.metrics["loss"] == pytest.approx(4.5)  # every sample once: mean of 0..9
        assert e.metrics["accuracy"] == pytest.approx(0.5)
        assert e.metrics["val_loss"] == 1.0 and e.metrics["val_accuracy"] == 0.5
    summary = run.summary()
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert summary["global_step"] == 6 and summary["params"] == 3 and summary["device"] == "cpu"
    assert summary["best_checkpoint"] and summary["last_checkpoint"]
    started = of(run, RunStarted)[0]
    assert started.steps_per_epoch == 3 and started.pid == os.getpid()


def test_every_sample_once_per_epoch_in_a_seeded_order(tmp_path: Path) -> None:
    spec = make_spec(epochs=3, batch_size=3)
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec)
    train(make_trainer(run, spec, 10), engine)
    epochs = [[i for b in engine.seen[e * 4 : (e + 1) * 4] for i in b] for e in range(3)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    again = FakeEngine(spec)
    train(make_trainer(RunDir.create(tmp_path, spec), spec, 10), again)
    assert again.seen == engine.seen  # same seed, same order


def test_nan_names_the_step_and_saves_nothing_after(tmp_path: Path) -> None:
    spec = make_spec(epochs=3, log_every=4)  # 3 steps per epoch; NaN at global step 5
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    engine = FakeEngine(spec, nan_at=5)
    trainer.begin(engine, "cpu", "fake", 3, {})
    with pytest.raises(NonFiniteLoss, match=r"loss became nan at step 5 \(epoch 2\)"):
        trainer.fit()
    assert engine.saved_at == [3]  # only the epoch-1 checkpoint
    trainer.finish("failed")  # as the runner does: after the write in flight
    assert [c.global_step for c in trainer.store.complete()] == [3]


def test_a_stop_right_after_a_nan_saves_no_nan_model(tmp_path: Path) -> None:
    spec = make_spec(epochs=3, log_every=50)
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    engine = FakeEngine(spec, nan_at=4, hooks={4: lambda: setattr(trainer, "stop_requested", True)})
    trainer.begin(engine, "cpu", "fake", 3, {})
    with pytest.raises(NonFiniteLoss, match="step 4"):
        trainer.fit()
    assert engine.saved_at == [3]


def test_inf_is_caught_too(tmp_path: Path) -> None:
    spec = make_spec()
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    engine = FakeEngine(spec)
    engine.train_step = _poison(engine.train_step, engine, 2, math.inf)  # type: ignore[method-assign]
    trainer.begin(engine, "cpu", "fake", 3, {})
    with pytest.raises(NonFiniteLoss, match="loss became inf at step 2"):
        trainer.fit()


def _poison(step_fn: Callable, engine: FakeEngine, at: int, value: float) -> Callable:
    def step(indices: np.ndarray, lr: float, slot: int) -> None:
        step_fn(indices, lr, slot)
        if engine.step == at:
            engine.slots[0, slot] = value

    return step


def test_stop_command_saves_mid_epoch(tmp_path: Path) -> None:
    spec = make_spec(epochs=5)
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec, hooks={4: send_now(run, "stop")})
    trainer = make_trainer(run, spec, 10)
    assert train(trainer, engine) == "stopped"
    assert engine.step == 4 and engine.saved_at[-1] == 4
    latest = trainer.store.latest()
    assert latest is not None and (latest.epoch, latest.step_in_epoch, latest.global_step) == (
        1,
        1,
        4,
    )
    assert run.summary()["status"] == "stopped"
    assert of(run, BatchMetrics)[-1].global_step == 4  # the interval was flushed


def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    spec = make_spec(epochs=5)
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    engine = FakeEngine(spec, hooks={2: lambda: os.kill(os.getpid(), signal.SIGTERM)})
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        trainer.install_signal_handlers()
        assert train(trainer, engine) == "stopped"
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert engine.step == 2 and trainer.store.latest().global_step == 2  # type: ignore[union-attr]


def test_pause_then_resume(tmp_path: Path) -> None:
    spec = make_spec(epochs=2)
    run = RunDir.create(tmp_path, spec)

    def pause() -> None:
        later(0.4, lambda: control.send(run.control, "resume"))
        send_now(run, "pause")()

    engine = FakeEngine(spec, hooks={2: pause})
    t0 = time.monotonic()
    assert train(make_trainer(run, spec, 10), engine) == "completed"
    assert time.monotonic() - t0 >= 0.4
    assert [e.status for e in of(run, StatusChanged)] == ["paused", "running"]
    assert engine.step == 6
    # The pause is not training time: every epoch's duration stays small and positive.
    seconds = [e.seconds for e in of(run, EpochEnd)]
    assert all(0 <= s < 0.3 for s in seconds), seconds


def test_stop_while_paused(tmp_path: Path) -> None:
    spec = make_spec(epochs=3)
    run = RunDir.create(tmp_path, spec)

    def pause() -> None:
        later(0.3, lambda: control.send(run.control, "checkpoint"))
        later(0.5, lambda: control.send(run.control, "stop"))
        send_now(run, "pause")()

    engine = FakeEngine(spec, hooks={2: pause})
    trainer = make_trainer(run, spec, 10)
    assert train(trainer, engine) == "stopped"
    assert engine.step == 2 and engine.saved_at == [2]  # checkpoint while paused; stop adds none


def test_checkpoint_command(tmp_path: Path) -> None:
    spec = make_spec(epochs=2, keep_checkpoints=10)
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec, hooks={2: send_now(run, "checkpoint")})
    trainer = make_trainer(run, spec, 10)
    assert train(trainer, engine) == "completed"
    saved = [(c.global_step, c.best) for c in of(run, CheckpointSaved)]
    assert saved == [(2, False), (3, True), (6, False)]
    assert [c.step_in_epoch for c in trainer.store.complete()] == [2, 0, 0]


@pytest.mark.parametrize("stop_at", [2, 4, 5, 8])
def test_resume_mid_epoch_continues_exactly(tmp_path: Path, stop_at: int) -> None:
    """Stopped at any step then resumed: the same batches in the same order, the same epoch
    metrics, each epoch logged once, and the step count continuing."""
    spec = make_spec(epochs=3, batch_size=3, log_every=3)  # 4 steps per epoch (3, 3, 3, 1)
    whole = FakeEngine(spec)
    straight = RunDir.create(tmp_path, spec)
    train(make_trainer(straight, spec, 10), whole)

    run = RunDir.create(tmp_path, spec)
    first = FakeEngine(spec, hooks={stop_at: send_now(run, "stop")})
    assert train(make_trainer(run, spec, 10), first) == "stopped"
    trainer = make_trainer(run, spec, 10, resume=True)
    assert trainer.pos.global_step == stop_at
    second = FakeEngine(spec, start_step=stop_at)
    assert train(trainer, second) == "completed"

    assert first.seen + second.seen == whole.seen
    # What each epoch's start announced to the engine is what it then trained on.
    assert whole.upcoming == whole.seen and second.upcoming == second.seen
    resumed_epochs = of(run, EpochEnd)
    assert [e.epoch for e in resumed_epochs] == [0, 1, 2]
    for a, b in zip(of(straight, EpochEnd), resumed_epochs, strict=True):
        assert a.metrics["loss"] == pytest.approx(b.metrics["loss"])
        assert a.global_step == b.global_step
    started = of(run, RunStarted)
    assert [s.resumed for s in started] == [False, True] and started[1].start_step == stop_at
    assert run.summary()["epochs_completed"] == 3 and run.summary()["global_step"] == 12


def test_the_checkpoint_saves_the_sampler_position(tmp_path: Path) -> None:
    """The driver state holds the sampler's position; resumed with half the batch (as
    --auto-batch does) the run goes on from the same sample in smaller steps."""
    spec = make_spec(epochs=2, batch_size=4, log_every=1)  # 10 samples: steps of 4, 4, 2
    run = RunDir.create(tmp_path, spec)
    first = FakeEngine(spec, hooks={1: send_now(run, "stop")})
    assert train(make_trainer(run, spec, 10), first) == "stopped"
    latest = CheckpointStore(run.checkpoints, ".fake").latest()
    assert latest is not None
    assert latest.state["sampler"] == {"epoch": 0, "step": 1, "batch_size": 4}
    half = make_spec(epochs=2, batch_size=2, log_every=1)
    trainer = make_trainer(run, half, 10, resume=True)
    assert (trainer.pos.epoch, trainer.pos.step, trainer.pos.global_step) == (0, 2, 1)
    second = FakeEngine(half, start_step=1)
    assert train(trainer, second) == "completed"
    order = trainer.sampler.order(0).tolist()
    assert first.seen == [order[:4]] and second.seen[:3] == [order[4:6], order[6:8], order[8:]]
    assert sorted(i for b in second.seen[3:] for i in b) == list(range(10))


def test_a_checkpoint_from_before_the_sampler_state_resumes_from_its_manifest(
    tmp_path: Path,
) -> None:
    spec = make_spec(epochs=2, batch_size=3, log_every=1)  # 4 steps an epoch
    whole = FakeEngine(spec)
    train(make_trainer(RunDir.create(tmp_path, spec), spec, 10), whole)
    run = RunDir.create(tmp_path, spec)
    first = FakeEngine(spec, hooks={5: send_now(run, "stop")})
    assert train(make_trainer(run, spec, 10), first) == "stopped"
    for manifest in run.checkpoints.glob("ckpt-*.json"):
        data = json.loads(manifest.read_text())
        del data["state"]["sampler"]
        manifest.write_text(json.dumps(data))
    trainer = make_trainer(run, spec, 10, resume=True)
    assert (trainer.pos.epoch, trainer.pos.step) == (1, 1)
    second = FakeEngine(spec, start_step=5)
    assert train(trainer, second) == "completed"
    assert first.seen + second.seen == whole.seen


def test_resume_when_all_epochs_are_done(tmp_path: Path) -> None:
    spec = make_spec(epochs=2)
    run = RunDir.create(tmp_path, spec)
    train(make_trainer(run, spec, 10), FakeEngine(spec))
    trainer = make_trainer(run, spec, 10, resume=True)
    engine = FakeEngine(spec, start_step=6)
    assert trainer.done and train(trainer, engine) == "completed"
    assert engine.seen == [] and engine.saved_at == []
    assert run.summary()["epochs_completed"] == 2


def test_no_validation_split_monitors_the_training_metric(tmp_path: Path) -> None:
    spec = make_spec(epochs=3)
    spec = replace(spec, data=replace(spec.data, val_fraction=0.0))
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec, val=[{}, {}, {}])
    train(make_trainer(run, spec, 10), engine)
    summary = run.summary()
    assert summary["monitor"] == "accuracy"
    assert not any(k.startswith("val_") for k in summary["metrics"])
    assert summary["best_checkpoint"] is not None and summary["best_epoch"] == 1


def test_batch_larger_than_the_dataset(tmp_path: Path) -> None:
    spec = make_spec(epochs=2, batch_size=64)
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec)
    assert train(make_trainer(run, spec, 5), engine) == "completed"
    assert [sorted(b) for b in engine.seen] == [list(range(5))] * 2
    assert [b.global_step for b in of(run, BatchMetrics)] == [1, 2]


def test_keep_one_checkpoint_plus_the_best(tmp_path: Path) -> None:
    spec = make_spec(epochs=4, keep_checkpoints=1)
    run = RunDir.create(tmp_path, spec)
    vals = [{"loss": 1.0, "accuracy": a} for a in (0.9, 0.5, 0.4, 0.3)]
    trainer = make_trainer(run, spec, 10)
    train(trainer, FakeEngine(spec, val=vals))
    assert [(c.epoch, c.global_step) for c in trainer.store.complete()] == [(1, 3), (4, 12)]
    summary = run.summary()
    assert summary["best_checkpoint"].endswith("ckpt-e0001-s000000003.fake")
    assert summary["last_checkpoint"].endswith("ckpt-e0004-s000000012.fake")
    assert summary["best_value"] == 0.9 and summary["best_epoch"] == 1


def test_checkpoint_every_n_epochs(tmp_path: Path) -> None:
    spec = make_spec(epochs=5, checkpoint_every=2, keep_checkpoints=10)
    run = RunDir.create(tmp_path, spec)
    vals = [{"loss": 1.0, "accuracy": 0.9}] + [{"loss": 1.0, "accuracy": 0.1}] * 4
    trainer = make_trainer(run, spec, 10)
    train(trainer, FakeEngine(spec, val=vals))
    assert [c.epoch for c in trainer.store.complete()] == [1, 2, 4, 5]  # best, every 2nd, last


def test_learning_rate_follows_the_schedule(tmp_path: Path) -> None:
    spec = make_spec(epochs=2)
    spec = replace(spec, schedule=replace(spec.schedule, name="cosine"))
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 10)
    engine = FakeEngine(spec)
    train(trainer, engine)
    expected = [trainer.schedule.lr_at(e, k) for e in range(2) for k in range(3)]
    assert engine.lrs == pytest.approx(expected)
    assert engine.lrs[0] == spec.optimizer.lr
    assert all(a > b for a, b in zip(engine.lrs, engine.lrs[1:], strict=False))


@pytest.mark.parametrize(("per_call", "blocks"), [
    (0, [1, 3, 1, 1, 4, 1, 1]),  # auto: one timed step, then up to each log point
    (2, [2, 2, 1, 1, 2, 2, 1, 1]),
])
def test_blocks_stop_at_log_points_and_the_short_batch(
    tmp_path: Path, per_call: int, blocks: list[int]
) -> None:
    """Steps run in blocks that never cross a log point or the epoch's short last batch;
    each step still gets its own batch and learning rate, and logging is unchanged."""
    spec = make_spec(batch_size=2, log_every=4, steps_per_execution=per_call)
    spec = replace(spec, schedule=replace(spec.schedule, name="cosine"))
    run = RunDir.create(tmp_path, spec)
    trainer = make_trainer(run, spec, 11)  # 6 steps an epoch: 5 of 2 samples, 1 of 1
    engine = FakeEngine(spec)
    assert train(trainer, engine) == "completed"
    assert engine.blocks == blocks
    order = [trainer.sampler.order(e) for e in range(2)]
    assert engine.seen == [order[e][k * 2:k * 2 + 2].tolist() for e in range(2) for k in range(6)]
    assert engine.lrs == [trainer.schedule.lr_at(e, k) for e in range(2) for k in range(6)]
    logged = of(run, BatchMetrics)
    assert [b.global_step for b in logged] == [4, 6, 10, 12]
    assert logged[1].metrics["loss"] == pytest.approx(np.mean(engine.seen[4] + engine.seen[5]))


def test_auto_blocks_stay_short_when_steps_are_slow(tmp_path: Path) -> None:
    """Auto: a block is about BLOCK_SECONDS of work, so commands never wait long; a step
    slower than that runs alone."""
    spec = make_spec(epochs=1, batch_size=1, log_every=50, steps_per_execution=0)
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec, hooks={k: lambda: time.sleep(0.04) for k in range(1, 13)})
    assert train(make_trainer(run, spec, 12), engine) == "completed"
    assert engine.blocks[0] == 1 and max(engine.blocks) <= 3, engine.blocks
