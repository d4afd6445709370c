"""The runner: the child process that trains one run and writes its run folder.

Started by the CLI or the dashboard as `python -m tuitrain.runner RUN_DIR [--resume]` in its
own session, so a closed terminal or a crashed dashboard never stops training. Every outcome,
including a framework crash, ends in `summary.json` with a status and the error text."""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tuitrain.core import launch
from tuitrain.core.control import Inbox
from tuitrain.core.errors import UserError
from tuitrain.core.rundir import RunDir

if TYPE_CHECKING:
    from tuitrain.core.checkpoints import Checkpoint, CheckpointStore
    from tuitrain.core.spec import RunSpec
    from tuitrain.core.trainer import Trainer

OOM_NAMES = ("OutOfMemoryError", "ResourceExhaustedError")


def _oom_message(exc: BaseException, batch_size: int) -> str:
    return (f"out of memory ({type(exc).__name__}); try a smaller batch, "
            f"e.g. --batch-size {max(1, batch_size // 2)}")


def run(run_dir: Path, resume: bool, control_offset: int | None = None,
        lock_fd: int | None = None) -> int:
    """Train the run in `run_dir`; returns the process exit code. Control commands are read
    from byte `control_offset` of the control file (default: those sent from now on);
    `lock_fd` is the run's lock, taken by the launcher."""
    # Importing a framework takes seconds; a stop asked for meanwhile (SIGTERM, or the control
    # file) must not be lost, so both are watched from the start.
    early_stop: list[int] = []
    for sig in launch.STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: early_stop.append(signum))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, launch.STOP_SIGNALS)  # the launcher blocked them
    run = RunDir.open(run_dir)
    # The run's lock, handed over by the launcher (or taken here when started by hand): the
    # process holding it is the run's one live runner for as long as it lives.
    lock = run.lock().adopt(lock_fd) if lock_fd is not None else launch.claim(run)
    with lock:  # released once the final status is written, before the interpreter winds down
        return _train(run, resume, control_offset, early_stop)


def _train(run: RunDir, resume: bool, control_offset: int | None, early_stop: list[int]) -> int:
    run.pidfile.write_text(str(os.getpid()))
    inbox = Inbox(run.control)
    if control_offset is not None:
        inbox.offset = control_offset
    spec = run.read_spec()
    if spec.run.framework == "keras":
        os.environ["KERAS_BACKEND"] = spec.run.keras_backend
    from tuitrain import backends
    from tuitrain.core import preprocessing, split_index
    from tuitrain.core.checkpoints import CheckpointStore
    from tuitrain.core.data import load_splits
    from tuitrain.core.recorder import Recorder
    from tuitrain.core.trainer import NonFiniteLoss, Trainer

    trainer: Trainer | None = None
    try:
        backend = backends.load(spec.run.framework)
        # A new run saves its data's statistics and split once; a resumed one reads them back
        # (a run from before they were saved computes them again, as it always did).
        saved = preprocessing.read(run.preprocessing) if resume else None
        recorded = split_index.read(run.splits) if resume else None
        splits = load_splits(spec.data, spec.run.seed, task=spec.task, saved=saved,
                             recorded=recorded)
        if not resume:
            preprocessing.write(run.preprocessing, splits.preprocessing)
            assert splits.index is not None  # load_splits draws it
            split_index.write(run.splits, splits.index)
        store = CheckpointStore(run.checkpoints, backend.checkpoint_suffix,
                                spec.train.keep_checkpoints, backend.checkpoint_is_dir)
        store.clean_partials()
        latest = store.latest() if resume else None
        if resume and latest is None:
            raise UserError(f"{run.path}: no complete checkpoint to resume from")
        retried = False
        while True:
            trainer = Trainer(spec, run, splits.sizes[0], store, latest)
            trainer.inbox = inbox
            trainer.install_signal_handlers()
            if early_stop:
                trainer.stop_requested = True
            oom: str | None = None
            try:
                status = backend.train(trainer, splits, latest.path if latest else None)
            except BaseException as exc:
                if not _is_oom(exc):
                    raise
                oom = _oom_message(exc, spec.train.batch_size)
                saved = _save_last_good(trainer, store)
            if oom is None:
                trainer.finish(status)
                return 0
            retry = None if retried or not spec.train.auto_batch else _halved(spec, saved)
            if retry is None:
                if saved is not None:
                    oom += f"; the last good state is saved as {saved.name}"
                raise OutOfMemory(oom)
            spec, latest = retry
            retried = True
            trainer.recorder.log("warning", f"{oom}: retrying once with batch size "
                                 f"{spec.train.batch_size} (--auto-batch)")
            run.write_spec(spec)  # a later `tuitrain resume` uses the smaller batch too
            trainer.engine = None
            trainer = None
            _free_device_memory()
    except NonFiniteLoss as exc:
        assert trainer is not None
        trainer.recorder.log("error", str(exc))
        trainer.finish("failed", str(exc))
        return 1
    except BaseException as exc:  # the runner must always leave a final status behind
        if isinstance(exc, (UserError, OutOfMemory)):
            message = str(exc)
        elif _is_oom(exc):
            message = _oom_message(exc, spec.train.batch_size)
        else:
            message = f"{type(exc).__name__}: {exc}"
        recorder = trainer.recorder if trainer is not None else Recorder(run, spec)
        if not isinstance(exc, (UserError, OutOfMemory)):
            recorder.log("error", traceback.format_exc())
        else:
            recorder.log("error", message)
        if trainer is not None:  # after the checkpoint write in flight, if any, is on disk
            trainer.finish("failed", message)
        else:
            recorder.ended("failed", recorder.summary.get("global_step", 0), message)
        return 1


class OutOfMemory(Exception):
    """The run ran out of device memory; the message says what to do."""


def _is_oom(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (= torch.cuda.OutOfMemoryError), tf.errors.ResourceExhaustedError
    (Keras on TensorFlow raises it too), and the host's MemoryError."""
    return type(exc).__name__ in OOM_NAMES or isinstance(exc, MemoryError)


def _save_last_good(trainer: Trainer, store: CheckpointStore) -> Checkpoint | None:
    """After an out-of-memory error: checkpoint the last completed step if the engine is
    still usable (the failed step did not update the weights), else keep the newest one."""
    if trainer.engine is None:  # the model itself did not fit
        return None
    try:
        trainer.save_checkpoint(best=False)
        return trainer.flush_checkpoints() or store.latest()
    except Exception as exc:  # a second failure must not hide the first
        trainer.recorder.log("warning", f"no checkpoint after out of memory: {exc}")
        return None


def _halved(spec: RunSpec, saved: Checkpoint | None) -> tuple[RunSpec, Checkpoint | None] | None:
    """The spec with half the batch, and the checkpoint to continue from (its position in the
    epoch counted in the new, smaller steps); None when that cannot be done exactly."""
    bs = spec.train.batch_size
    half = bs // 2
    if half < 1:
        return None
    new = replace(spec, train=replace(spec.train, batch_size=half))
    if saved is None:
        return new, None
    samples = saved.step_in_epoch * bs
    if samples % half:
        return None
    return new, replace(saved, step_in_epoch=samples // half)


def _free_device_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitrain.runner")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--control-offset", type=int, default=None)
    parser.add_argument("--lock-fd", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        return run(args.run_dir, args.resume, args.control_offset, args.lock_fd)
    except UserError as exc:  # not a run folder, or another runner holds it: nothing written
        print(f"runner: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
