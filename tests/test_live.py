"""Live control (core/live.py and the driver): a learning rate changed while the run trains
takes effect at the next block, is recorded with its step, holds after a resume (bit for bit
the run it would have been), and stop-after-epoch and early stopping end the run where they
should. The CLI's checks come first."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_trainer import FakeEngine, make_spec, make_trainer, of, train

from tuitrain.core import control
from tuitrain.core.errors import UserError
from tuitrain.core.events import EpochEnd, LogMessage, SettingChanged
from tuitrain.core.live import LIVE, Setting, parse_setting, parse_settings
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import RunSpec


@pytest.mark.parametrize(("text", "setting"), [
    ("optimizer.lr=1e-4", Setting("optimizer.lr", 1e-4)),
    ("lr_scale=0.5", Setting("lr_scale", 0.5)),
    ("lr_scale=2", Setting("lr_scale", 2.0)),
    ("train.early_stopping=5", Setting("train.early_stopping", 5)),
    ("stop_after_epoch=true", Setting("stop_after_epoch", True)),
    ("checkpoint=now", Setting("checkpoint", True)),
])
def test_settings_parse(text: str, setting: Setting) -> None:
    assert parse_setting(text) == setting


@pytest.mark.parametrize(("text", "needle"), [
    ("train.batch_size=64", "train.batch_size cannot change while a run trains; what can: "
                            + ", ".join(LIVE)),
    ("optimizer.lr", "expected KEY=VALUE"),
    ("optimizer.lr=0", "optimizer.lr must be a number > 0"),
    ("lr_scale=fast", "lr_scale must be a number > 0"),
    ("train.early_stopping=-1", "a number of epochs >= 0"),
    ("stop_after_epoch=1", "true or false"),
    ("checkpoint=later", "checkpoint=now"),
])
def test_bad_settings_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_setting(text)
    assert needle in str(caught.value)


def test_a_key_given_twice_is_refused_in_one_line() -> None:
    ok = parse_settings(["optimizer.lr=1e-4", "lr_scale=0.5"])
    assert [s.key for s in ok] == ["optimizer.lr", "lr_scale"]
    with pytest.raises(UserError) as caught:
        parse_settings(["optimizer.lr=1e-4", "lr_scale=0.5", "optimizer.lr=3e-4"])
    assert str(caught.value) == "optimizer.lr is given 2 times; give each setting once"


def cosine(**train: object) -> RunSpec:
    spec = make_spec(**train)
    return replace(spec, schedule=replace(spec.schedule, name="cosine"))


def set_at(run: RunDir, key: str, value: float) -> object:
    def hook() -> None:
        control.send(run.control, "set", key, value)
    return hook


def test_a_new_base_rate_is_scaled_by_the_schedule_from_the_next_block(tmp_path: Path) -> None:
    spec = cosine(epochs=2)  # 10 samples in batches of 4: 3 steps an epoch, one step a block
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec, hooks={2: set_at(run, "optimizer.lr", 0.5)})
    trainer = make_trainer(run, spec, 10)
    train(trainer, engine)
    plain = make_trainer(RunDir.create(tmp_path, spec), spec, 10).schedule
    assert engine.lrs[:2] == [plain.lr_at(0, k) for k in range(2)]
    ratio = 0.5 / spec.optimizer.lr
    assert engine.lrs[2:] == pytest.approx([plain.lr_at(e, k) * ratio
                                            for e, k in ((0, 2), (1, 0), (1, 1), (1, 2))])
    changed = of(run, SettingChanged)
    assert [(c.key, c.value, c.previous, c.global_step, c.epoch) for c in changed] == [
        ("optimizer.lr", 0.5, spec.optimizer.lr, 2, 0)]
    assert run.summary()["live"] == {"optimizer.lr": 0.5}


def test_lr_scale_multiplies_the_schedule_and_holds_bitwise_after_a_resume(
        tmp_path: Path) -> None:
    spec = cosine(epochs=3, batch_size=3, log_every=3)  # 4 steps an epoch
    straight = RunDir.create(tmp_path, spec)
    whole = FakeEngine(spec, hooks={2: set_at(straight, "lr_scale", 0.25)})
    train(make_trainer(straight, spec, 10), whole)

    run = RunDir.create(tmp_path, spec)
    first = FakeEngine(spec, hooks={2: set_at(run, "lr_scale", 0.25),
                                    6: lambda: control.send(run.control, "stop")})
    assert train(make_trainer(run, spec, 10), first) == "stopped"
    trainer = make_trainer(run, spec, 10, resume=True)
    second = FakeEngine(spec, start_step=trainer.pos.global_step)
    assert train(trainer, second) == "completed"
    assert first.lrs + second.lrs == whole.lrs  # the change held, to the bit
    assert first.seen + second.seen == whole.seen
    plain = make_trainer(RunDir.create(tmp_path, spec), spec, 10).schedule
    assert whole.lrs[5] == plain.lr_at(1, 1) * 0.25


def test_stop_after_this_epoch(tmp_path: Path) -> None:
    spec = make_spec(epochs=4)
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec, hooks={4: set_at(run, "stop_after_epoch", True)})
    assert train(make_trainer(run, spec, 10), engine) == "stopped"
    assert [e.epoch for e in of(run, EpochEnd)] == [0, 1]  # step 4 was in the second epoch
    assert any("stopping after epoch 2, as asked" in m.text for m in of(run, LogMessage))


def test_early_stopping_switched_on_live_ends_the_run_completed(tmp_path: Path) -> None:
    spec = make_spec(epochs=6)
    run = RunDir.create(tmp_path, spec)
    vals = [{"loss": 1.0, "accuracy": a} for a in (0.6, 0.9, 0.8, 0.85, 0.95, 0.97)]
    engine = FakeEngine(spec, val=vals, hooks={1: set_at(run, "train.early_stopping", 2)})
    assert train(make_trainer(run, spec, 10), engine) == "completed"
    assert [e.epoch for e in of(run, EpochEnd)] == [0, 1, 2, 3]  # best at 2; 3 and 4 worse
    assert run.summary()["status"] == "completed"
    assert any("early stopping: no better val_accuracy in 2 epochs (best at epoch 2)" in m.text
               for m in of(run, LogMessage))


def test_early_stopping_from_the_spec_and_after_a_resume(tmp_path: Path) -> None:
    spec = make_spec(epochs=6, early_stopping=1)
    run = RunDir.create(tmp_path, spec)
    vals = [{"loss": 1.0, "accuracy": a} for a in (0.6, 0.9, 0.8)]
    assert train(make_trainer(run, spec, 10), FakeEngine(spec, val=vals)) == "completed"
    assert len(of(run, EpochEnd)) == 3
    live = RunDir.create(tmp_path, make_spec(epochs=6))
    first = FakeEngine(spec, hooks={1: set_at(live, "train.early_stopping", 1),
                                    4: lambda: control.send(live.control, "stop")},
                       val=[{"loss": 1.0, "accuracy": 0.9}])
    assert train(make_trainer(live, make_spec(epochs=6), 10), first) == "stopped"
    trainer = make_trainer(live, make_spec(epochs=6), 10, resume=True)
    assert trainer.early_stopping == 1  # carried by the checkpoint
    second = FakeEngine(spec, start_step=4, val=[{"loss": 1.0, "accuracy": 0.5}])
    assert train(trainer, second) == "completed"
    assert [e.epoch for e in of(live, EpochEnd)] == [0, 1]


def test_a_setting_that_cannot_change_is_logged_and_ignored(tmp_path: Path) -> None:
    spec = make_spec(epochs=1)
    run = RunDir.create(tmp_path, spec)
    engine = FakeEngine(spec, hooks={1: set_at(run, "train.batch_size", 64)})
    assert train(make_trainer(run, spec, 10), engine) == "completed"
    assert of(run, SettingChanged) == []
    assert any("train.batch_size=64 cannot be set while the run trains; ignored" in m.text
               for m in of(run, LogMessage))
