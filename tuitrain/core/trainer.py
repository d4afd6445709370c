"""The framework-agnostic training driver. A backend supplies an `Engine` (train a block of
steps, read their values, evaluate, snapshot its state); the driver owns everything else: batch
order, the learning-rate schedule, logging every N steps, NaN detection, pause/stop/checkpoint
commands, best tracking, checkpoints and the summary. The batch order is its Sampler's
(core/sampler.py), its position part of every checkpoint.

Steps run in blocks: the driver hands the engine several steps in one call
(`Engine.train_steps`): about BLOCK_SECONDS of work, never past the next log point. Compiled
engines run a whole block as one graph execution (Keras' `steps_per_execution`, here for
every engine), and the driver's own bookkeeping costs once per block, not once per step.
Commands (stop, pause, checkpoint) act between blocks. A checkpoint blocks training only while
the engine copies its state to host memory; a background writer writes it (save_checkpoint).

A run trained by several processes at once (data parallel) has one Trainer per process, each
with its rank in the `Group` (core/group.py): each trains its share of every global batch;
rank 0 alone reads commands and signals and decides after every block what all of them do
next; logged values are summed over the ranks before they are recorded; only rank 0 writes
the run folder (events, summary, checkpoints)."""

from __future__ import annotations

import contextlib
import errno
import functools
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from tuitrain.core import control, faults, slowdown
from tuitrain.core.alerts import AlertWatch, Raised
from tuitrain.core.checkpoint_writer import BackgroundWriter
from tuitrain.core.checkpoints import Checkpoint, CheckpointStore
from tuitrain.core.errors import UserError
from tuitrain.core.events import RunStarted
from tuitrain.core.group import SOLO, Decision, Group
from tuitrain.core.measures import GRAD_NORM, LOSS, LOSSES, METRICS
from tuitrain.core.recorder import Recorder
from tuitrain.core.rundir import RunDir
from tuitrain.core.sampler import Sampler
from tuitrain.core.schedule import LrSchedule
from tuitrain.core.spec import RunSpec

Split = Literal["val", "test"]

# With `train.steps_per_execution` = 0 (auto), a block holds as many steps as take about this
# long (measured on the blocks before), so stop, pause and commands never wait much longer.
BLOCK_SECONDS = 0.1


class Engine(Protocol):
    """What every backend gives the driver: blocks of train steps, their per-step values,
    evaluation and checkpoints."""

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        """Training (re)starts in `epoch`: `rows` gives the index row of each of its steps
        still to run, in order, the rows `train_steps` will get. A streamed batch source
        starts loading ahead from it; an in-memory one needs nothing."""

    def train_steps(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        """Train len(batches) steps in order: step i on the training samples of index row
        batches[i] (from the Sampler; the engine's BatchSource, core/batches.py, gives their
        x and y) at learning rate lrs[i], its mean loss/metrics stored on the device in slot
        `slot + i`."""

    def read_slots(self, n: int) -> dict[str, np.ndarray]:
        """Per-step values of the first n slots (one host sync): {"loss": [...], ...}, and
        under GRAD_NORM each step's gradient norm (NaN where the engine took none;
        core/alerts.py)."""

    def evaluate(self, split: Split) -> dict[str, float]:
        """Loss and metrics over a whole split."""

    def snapshot(self) -> Callable[[Path], None]:
        """Copy model, optimizer and RNG state to host memory (the only part of a save that
        training waits for) and return a writer that serializes that copy to a path (a temp
        path the store renames), run on the background writer thread while training goes
        on: it must not touch the live model."""


class NonFiniteLoss(Exception):
    """Raised by the driver when the loss is NaN or infinite."""


class CheckpointWriteError(UserError):
    """A checkpoint could not be written (disk full, read-only folder); one line."""


def _disk_full(writer: Callable[[Path], None]) -> Callable[[Path], None]:
    """TUITRAIN_FAULT `enospc_from_step`: the write runs, then the disk is full."""
    def write(path: Path) -> None:
        writer(path)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return write


def _stalled(writer: Callable[[Path], None]) -> Callable[[Path], None]:
    """TUITRAIN_FAULT `stall_write_at_step`: the write runs, then never finishes (a stalled
    disk): its temp file stays unrenamed while training goes on."""
    def write(path: Path) -> None:
        writer(path)
        while True:
            time.sleep(1)
    return write


@dataclass
class Position:
    """Where training is: epochs done, step within the current epoch, global step."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0


class Trainer:
    """Drives one run (fresh or resumed) and writes everything into its run folder."""

    def __init__(self, spec: RunSpec, run: RunDir, n_train: int, store: CheckpointStore,
                 resume: Checkpoint | None = None, group: Group = SOLO,
                 replicas: int = 1) -> None:
        """`group`: the processes training the run together; `replicas`: the devices this
        process trains on itself (TensorFlow's MirroredStrategy), each on its own share of
        the global batch as a process of its own would."""
        self.spec = spec
        self.run = run
        self.store = store
        self.group = group
        self.replicas = replicas
        self.leader = group.rank == 0  # decides, and writes the run folder
        self.recorder = Recorder(run, spec, writes=self.leader)
        self.sampler = Sampler(spec.run.seed, n_train, spec.train.batch_size,
                               rank=group.rank * replicas,
                               world_size=group.world_size * replicas, shares=replicas)
        self.steps_per_epoch = self.sampler.steps_per_epoch
        self.schedule = LrSchedule.build(spec.schedule, spec.optimizer, spec.train.epochs,
                                         max(1, self.steps_per_epoch))
        self.pos = Position()
        # How each reported value accumulates: the loss, and each metric, as the registry says.
        self.measures = {LOSS: LOSSES[spec.train.loss],
                         **{m: METRICS[m] for m in spec.train.metrics}}
        self._epoch_values: dict[str, float] = {}  # this epoch's sums (`Measure.totals`)
        self._epoch_count = 0
        if resume is not None:
            # The sampler's saved position; checkpoints from before it was saved have the
            # same in their manifest, counted in the run's batch size.
            saved = resume.state.get("sampler") or {
                "epoch": resume.epoch, "step": resume.step_in_epoch,
                "batch_size": spec.train.batch_size}
            epoch, step = self.sampler.position(saved)
            self.pos = Position(epoch, step, resume.global_step)
            self.schedule.state.update(resume.state.get("schedule", {}))
            self._epoch_values = dict(resume.state.get("epoch_sums", {}))
            self._epoch_count = int(resume.state.get("epoch_count", 0))
        self.resumed = resume is not None
        live = resume.state.get("live", {}) if resume is not None else {}
        self.early_stopping = int(live.get("early_stopping", spec.train.early_stopping))
        self.stop_after_epoch = False  # asked live: stop when this epoch ends
        self.ended_early = False  # early stopping ended the run (it is then `completed`)
        if resume is not None:  # the live settings this checkpoint carries, as they stand
            lr = self.schedule.state
            now = {"optimizer.lr": (lr["base_lr"], spec.optimizer.lr),
                   "lr_scale": (lr["lr_scale"], 1.0),
                   "train.early_stopping": (self.early_stopping, spec.train.early_stopping)}
            self.recorder.summary["live"] = {k: v for k, (v, d) in now.items() if v != d}
        self.alerts = AlertWatch(self.recorder.monitor, self.recorder.mode)
        self.inbox = control.Inbox(run.control)
        self.engine: Engine | None = None
        self.stop_asked = False  # by a signal or a command, on this process
        self.stop_requested = False  # and agreed: every rank stops at this step
        self.checkpoint_asked = False  # by a command, on several processes: in the decision
        self.paused = False
        self._next_poll = 0.0
        self._interval = 0  # steps since the last log point
        self._interval_sizes: list[int] = []
        self._lr = self.schedule.lr_at(self.pos.epoch, self.pos.step)
        # Steps per block: fixed by the spec, or (auto) one until a step has been timed.
        self._block_cap = spec.train.steps_per_execution or 1
        self._t_interval = time.perf_counter()
        self._t_epoch = time.perf_counter()
        self._last_ckpt_step = self.pos.global_step if resume is not None else -1
        # Checkpoints are written off the training path, one at a time (save_checkpoint).
        self.writer: BackgroundWriter[tuple[Checkpoint, bool]] = BackgroundWriter()
        self.faults = faults.from_env()  # empty unless a reliability test sets TUITRAIN_FAULT
        self.slowdown = slowdown.factor()  # 0.0 unless the benchmarks' self-test plants one
        self._watchdog: threading.Timer | None = None

    # ----- lifecycle -------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM / SIGINT ask for a graceful stop; SIGHUP is ignored (keep training).

        A stop signal also arms a watchdog: if the step in progress (a hung framework call)
        keeps the runner from stopping within `train.stop_timeout` seconds, it records why
        and exits anyway; the checkpoints already written stay. On several processes a rank
        that gets one asks in the next decision (`_decide`), and all stop at the same step."""
        def request_stop(signum: int, frame: object) -> None:
            self.stop_asked = True
            if self._watchdog is None:
                self._watchdog = threading.Timer(self.spec.train.stop_timeout, self._stop_overdue)
                self._watchdog.daemon = True
                self._watchdog.start()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def begin(self, engine: Engine, device: str, device_name: str, params: int,
              versions: dict[str, str], non_trainable: int = 0, parallel: str = "") -> None:
        """Start training with `engine`; `params` trainable, `non_trainable` frozen or
        statistics (a batch norm's running mean); `parallel` names the data-parallel
        strategy ('DDP x2 gloo'; empty on one process)."""
        self.engine = engine
        self.recorder.started(RunStarted(
            run_id=self.run.id, preset=self.spec.name, framework=self.spec.run.framework,
            device=device, device_name=device_name, precision=self.spec.run.precision,
            params=params, non_trainable=non_trainable, epochs=self.spec.train.epochs,
            steps_per_epoch=self.steps_per_epoch,
            batch_size=self.spec.train.batch_size, start_epoch=self.pos.epoch,
            start_step=self.pos.global_step, resumed=self.resumed, pid=os.getpid(),
            versions=versions, parallel=parallel,
            world_size=self.group.world_size * self.replicas,
        ))
        # Time training from here: building the model and loading a checkpoint are not epochs.
        self._t_interval = self._t_epoch = time.perf_counter()

    def finish(self, status: Literal["completed", "stopped", "failed"], error: str = "") -> None:
        """Record how the run ended, once the checkpoint write in flight (if any) is on disk:
        the runner releases the run's lock only after this. A write that failed makes the
        run `failed`; when it already failed, the first error stays the reason."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        try:
            self.flush_checkpoints()
        except CheckpointWriteError as exc:
            if status == "failed":
                self.recorder.log("warning", str(exc))
            else:
                status, error = "failed", str(exc)
        self.recorder.ended(status, self.pos.global_step, error)

    def _stop_overdue(self) -> None:
        """The watchdog: a stop was asked for and the loop did not get there in time."""
        timeout = self.spec.train.stop_timeout
        message = (f"did not stop within {timeout:g} s (train.stop_timeout) of the stop "
                   f"request; exited during step {self.pos.global_step + 1} without a final "
                   "checkpoint (the earlier ones are kept)")
        try:
            if self.writer.ended:  # a write that ended while the step hung is recorded too
                with contextlib.suppress(CheckpointWriteError):
                    self.flush_checkpoints()
            self.recorder.ended("failed", self.pos.global_step, message)
        finally:
            os._exit(1)

    @property
    def done(self) -> bool:
        return self.pos.epoch >= self.spec.train.epochs

    # ----- batches -----------------------------------------------------------------------
    def next_block(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The next steps to run in one engine call, as (batches, learning rates); None at
        the end of the epoch. A block holds full batches, at most `steps_per_execution` of
        them (auto: about BLOCK_SECONDS' worth) and never past the next log point; the epoch's
        short last batch runs alone (its own shape), and so does every step while a test
        fault hook is armed (the hooks act between steps). The sampler gives the rows: a
        pure function of (seed, epoch, step), so a resumed run continues mid-epoch on exactly
        the batches it had not seen."""
        start = self.pos.step
        if start >= self.steps_per_epoch:
            return None
        full = self.sampler.full_steps - start  # full batches left in the epoch
        k = min(self.spec.train.log_every - self._interval, self.steps_per_epoch - start,
                self._block_cap)
        k = 1 if full <= 0 or self.faults else min(k, full)
        epoch = self.pos.epoch
        rows = self.sampler.rows(epoch, start, k)
        if self.schedule.per_step:
            lrs = np.array([self.schedule.lr_at(epoch, start + i) for i in range(k)])
        else:
            lrs = np.full(k, self.schedule.lr_at(epoch, start))
        return rows, lrs

    # ----- hooks -------------------------------------------------------------------------
    @property
    def slot(self) -> int:
        """Where the engine stores the next step's values."""
        return self._interval

    def steps_done(self, batches: np.ndarray, lrs: np.ndarray) -> bool:
        """Call after the engine ran a block from `next_block`. Returns False when training
        should stop now."""
        k = len(batches)
        self._interval_sizes.extend([batches.shape[1]] * k)
        self._interval += k
        self.pos.step += k
        self.pos.global_step += k
        self._lr = float(lrs[-1])
        if self._interval >= self.spec.train.log_every or self.pos.step >= self.steps_per_epoch:
            self._log_interval()
        if self.faults:
            self._test_hooks()
        if self.group.world_size > 1:
            return self._agree()
        return self._handle_commands()  # one stat a block: a command acts within one block

    def _agree(self) -> bool:
        """Several processes: rank 0 polls the commands (at most five times a second) and
        decides; every rank gets its decision and applies it, so all stop, pause and size
        their next block alike, at the same step. A stop asked on any rank (a signal to one
        machine's processes) stops them all. While paused, rank 0 repeats the decision
        every 0.1 s and the others wait for the next one. Returns False when training
        should stop."""
        if self.leader:
            now = time.monotonic()
            if now >= self._next_poll or self.stop_asked:
                self._next_poll = now + 0.2
                self._handle_commands()
            decision = self._decide(Decision(stop=self.stop_requested, block_cap=self._block_cap))
        else:
            while (decision := self._decide(None)).paused:  # rank 0 ends a pause, even
                pass  # one a stop here ends: its next decision is the one that stops
            self._block_cap = decision.block_cap
        self.stop_requested = decision.stop
        return not self.stop_requested

    def _decide(self, decision: Decision | None) -> Decision:
        """Rank 0's decision (`decision` there, None elsewhere), with a stop asked on any
        rank and the checkpoint a command asked for since the last one, on every rank, in
        one small all-reduce. All ranks reach the save together (it logs the steps so far,
        a collective), rank 0 writes it."""
        if decision is not None:
            lr = self.schedule.state
            row = replace(decision, checkpoint=self.checkpoint_asked, base_lr=lr["base_lr"],
                          lr_scale=lr["lr_scale"]).row()
            self.checkpoint_asked = False
        else:
            row = Decision.asked(self.stop_asked)
        decision = Decision.summed(self.group.all_sum(row))
        if decision.base_lr > 0:  # rank 0's learning rate, live changes included
            self.schedule.state.update(base_lr=decision.base_lr, lr_scale=decision.lr_scale)
        if decision.stop:
            self.stop_asked = True
        if decision.checkpoint:
            self.save_checkpoint(best=False)
        return decision

    def _stop_here(self) -> bool:
        """Whether to stop at an epoch's end: asked for (and, on several processes, agreed)."""
        if self.group.world_size > 1:
            return not self._agree()
        self.stop_requested = self.stop_requested or self.stop_asked
        return self.stop_requested

    def _test_hooks(self) -> None:
        """TUITRAIN_FAULT hooks that act after a step (see core/faults.py)."""
        if self.faults.get("stop_at_step") == self.pos.global_step:
            self.stop_asked = True
        every = self.faults.get("ckpt_every", 0)
        if every and self.pos.global_step % every == 0:
            self.save_checkpoint(best=False)
        every = self.faults.get("replicas_every", 0)
        if every and self.pos.global_step % every == 0:
            self._check_replicas()

    def _check_replicas(self) -> None:
        """TUITRAIN_FAULT `replicas_every`: this rank's weights are rank 0's, bit for bit."""
        mine = getattr(self.engine, "fingerprint", lambda: "")()
        if self.group.broadcast(mine) != mine:
            raise RuntimeError(f"rank {self.group.rank}'s weights differ from rank 0's after "
                               f"step {self.pos.global_step}")

    def inject_fault(self) -> None:
        """TUITRAIN_FAULT hooks that act on the step about to run (see core/faults.py)."""
        step = self.pos.global_step + 1
        if self.faults.get("hang_at_step") == step:
            while True:  # a framework call that never returns
                time.sleep(1)
        for kind in ("nan_at_step", "oom_at_step"):
            if self.faults.get(kind) == step:
                del self.faults[kind]
                hook = getattr(self.engine, "inject_fault", None)
                if hook is not None:
                    hook(kind.removesuffix("_at_step"))

    def _log_interval(self) -> None:
        assert self.engine is not None
        n = self._interval
        values = self.engine.read_slots(n)
        norms = values.pop(GRAD_NORM, None)  # not a measure: judged by the alerts alone
        sizes = np.asarray(self._interval_sizes[:n], dtype=np.float64)
        first_step = self.pos.global_step - n + 1
        bad = np.flatnonzero(~np.isfinite(values["loss"])) if "loss" in values else []
        # Each step's value back to its sums, so that they add up (a perplexity of the
        # interval is e to its mean cross-entropy, not the mean of its steps' perplexities);
        # on several processes, summed over them (with the count of bad losses: every rank
        # raises alike).
        names = list(values)  # in the engine's order, the same on every rank
        local = [float(self.measures[k].totals(values[k], sizes).sum()) for k in names]
        summed = self.group.all_sum(np.array([*local, sizes.sum(), len(bad)], np.float64))
        totals, count = dict(zip(names, summed[:-2].tolist(), strict=True)), float(summed[-2])
        if summed[-1]:
            where = (f"{values['loss'][bad[0]]} at step {first_step + int(bad[0])}" if len(bad)
                     else f"non-finite on another process in steps {first_step}-"
                          f"{self.pos.global_step}")
            raise NonFiniteLoss(f"loss became {where} (epoch {self.pos.epoch + 1})")
        means = {k: float(self.measures[k].finish(t, count)) for k, t in totals.items()}
        for k, t in totals.items():
            self._epoch_values[k] = self._epoch_values.get(k, 0.0) + t
        self._epoch_count += int(count)
        elapsed = time.perf_counter() - self._t_interval
        self._t_interval = time.perf_counter()
        rate = count / max(elapsed, 1e-9)
        self.recorder.batch(self.pos.epoch, self.pos.step, self.pos.global_step, means,
                            self._lr, rate)
        if self.leader:
            finite = norms[np.isfinite(norms)] if norms is not None else np.empty(0)
            grad = float(finite.max()) if len(finite) else None  # a skipped step's is inf
            self._raise(self.alerts.interval(means.get(LOSS), rate, grad))
        self._interval = 0
        self._interval_sizes.clear()

    def _poll_commands(self) -> None:
        """Apply every command that arrived since the last poll. A checkpoint write that
        ended meanwhile is recorded (or its failure raised) here."""
        if self.writer.ended:
            self.flush_checkpoints()
        for request in self.inbox.poll():
            cmd = request.cmd
            if cmd == "set":
                self._set(request.key, request.value)
            elif cmd == "stop":
                self.stop_asked = True
            elif cmd == "pause" and not self.paused:
                self.paused = True
                self.recorder.status("paused")
            elif cmd == "resume" and self.paused:
                self.paused = False
                self.recorder.status("running")
            elif cmd == "checkpoint" and self.group.world_size > 1:
                self.checkpoint_asked = True  # every rank saves at the next decision
            elif cmd == "checkpoint":
                self.save_checkpoint(best=False)

    def _set(self, key: str, value: float | None) -> None:
        """Apply a live setting (core/live.py) from the next block on, and record it."""
        if value is None:
            return
        if key in ("optimizer.lr", "lr_scale") and value > 0:
            name = "base_lr" if key == "optimizer.lr" else "lr_scale"
            previous = self.schedule.state[name]
            self.schedule.state[name] = float(value)
        elif key == "train.early_stopping" and value >= 0:
            previous, self.early_stopping = self.early_stopping, int(value)
        elif key == "stop_after_epoch":
            previous, self.stop_after_epoch = self.stop_after_epoch, bool(value)
        else:
            self.recorder.log("warning", f"{key}={value} cannot be set while the run trains; "
                              "ignored")
            return
        self.recorder.setting(key, float(value), float(previous), self.pos.epoch,
                              self.pos.global_step)

    def _ends_early(self, epoch: int) -> bool:
        """After epoch `epoch` (0-based): stop asked for its end, or early stopping's patience
        run out (the run then ends `completed`, saying why)."""
        if self.stop_after_epoch:
            self.recorder.log("info", f"stopping after epoch {epoch + 1}, as asked")
            return True
        best = self.recorder.summary.get("best_epoch")
        patience = self.early_stopping
        if patience and best and epoch + 1 - best >= patience:
            self.ended_early = True
            self.recorder.log("info", f"early stopping: no better {self.recorder.monitor} in "
                              f"{patience} epochs (best at epoch {best}); training ends")
            return True
        return False

    def _handle_commands(self) -> bool:
        """Poll, and while paused wait here (the pause does not count as training time; the
        other processes of the run, if any, are told every 0.1 s that it goes on). Returns
        False when training should stop."""
        self._poll_commands()
        if self.paused and not self.stop_asked:
            paused_at = time.perf_counter()
            while self.paused and not self.stop_asked:
                if self.group.world_size > 1:
                    self._decide(Decision(paused=True))
                time.sleep(0.1)
                self._poll_commands()
            waited = time.perf_counter() - paused_at
            self._t_interval += waited
            self._t_epoch += waited
        self.stop_requested = self.stop_requested or self.stop_asked
        return not self.stop_requested

    def epoch_done(self, val: dict[str, float]) -> bool:
        """Call after the epoch's last step with validation values; False = stop now."""
        if self._interval:
            self._log_interval()
        count = max(1, self._epoch_count)
        metrics = {k: float(self.measures[k].finish(v, count))
                   for k, v in self._epoch_values.items()}
        metrics.update({f"val_{k}": v for k, v in val.items()})
        metrics["lr"] = self._lr
        seconds = time.perf_counter() - self._t_epoch
        epoch = self.pos.epoch
        best = self.recorder.epoch_end(epoch, self.pos.global_step, metrics, seconds,
                                       self._epoch_count)
        if self.leader:
            self._raise(self.alerts.epoch(epoch + 1, self.recorder.summary.get("best_epoch")))
        self.schedule.epoch_end(metrics.get(self.recorder.monitor), self.recorder.mode)
        self.pos = Position(epoch + 1, 0, self.pos.global_step)
        self._epoch_values, self._epoch_count = {}, 0
        self._t_epoch = time.perf_counter()
        last = self.done
        if best or last or (epoch + 1) % self.spec.train.checkpoint_every == 0:
            self.save_checkpoint(best=best, metrics=metrics)
        self._lr = self.schedule.lr_at(self.pos.epoch, 0)
        self._t_interval = time.perf_counter()  # throughput counts training, not validation
        if not last and self.leader and self._ends_early(epoch):
            self.stop_asked = True
        return not self._stop_here() and not last

    def save_checkpoint(self, best: bool, metrics: dict[str, float] | None = None) -> None:
        """Start a checkpoint at the current position (mid-epoch when a stop or command asks).

        Training waits only while the engine copies its state to host memory; the background
        writer (core/checkpoint_writer.py) then writes, fsyncs and renames it, its manifest
        and the best pointer, and prunes. A save first waits for the one before it (at most
        one in flight); `flush_checkpoints` waits for this one. The loop state (sampler,
        schedule, the epoch's running sums) goes into the manifest so that a resumed run
        continues exactly where this one was."""
        assert self.engine is not None
        if self.pos.global_step == self._last_ckpt_step and not best:
            return
        if self._interval:
            self._log_interval()  # on every rank: its sums are a collective
        if not self.leader:
            return  # rank 0's state is every rank's (their weights are kept equal)
        state = {
            "sampler": self.sampler.state_dict(self.pos.epoch, self.pos.step),
            "schedule": dict(self.schedule.state),
            "epoch_sums": dict(self._epoch_values),
            "epoch_count": self._epoch_count,
            "live": {"early_stopping": self.early_stopping},
        }
        self.flush_checkpoints()
        writer = self.engine.snapshot()
        if self.faults.get("enospc_from_step", math.inf) <= self.pos.global_step:
            writer = _disk_full(writer)
        if self.faults.get("stall_write_at_step") == self.pos.global_step:
            writer = _stalled(writer)
        save = functools.partial(
            self.store.save, writer, self.pos.epoch, self.pos.global_step,
            dict(metrics or self.recorder.summary.get("metrics", {})), best=best,
            step_in_epoch=self.pos.step, state=state)
        self.writer.submit(lambda: (save(), best))
        self._last_ckpt_step = self.pos.global_step

    def flush_checkpoints(self) -> Checkpoint | None:
        """Wait for the checkpoint write in flight, if any, and record it; returns it. A write
        that failed (disk full, read-only folder, quota) raises CheckpointWriteError, one
        line: the checkpoints before it are intact."""
        try:
            done = self.writer.wait()
        except OSError as exc:
            previous = self.store.latest()
            kept = (f"the previous checkpoint {previous.name} is intact" if previous
                    else "no earlier checkpoint exists")
            raise CheckpointWriteError(
                f"cannot write a checkpoint in {self.store.folder}: "
                f"{exc.strerror or exc}; {kept}") from None
        if done is None:
            return None
        ckpt, best = done
        self.recorder.checkpoint(ckpt, best)
        self._raise(self.alerts.disk(self.store.folder, ckpt.size()))
        return ckpt

    def _raise(self, raised: list[Raised]) -> None:
        for alert in raised:
            self.recorder.alert(alert.kind, alert.message, self.pos.epoch, self.pos.global_step)

    # ----- the loop ----------------------------------------------------------------------
    def train_epoch(self) -> bool:
        """Run the rest of the current epoch's steps, block by block; False when training
        should stop now (the epoch is then unfinished)."""
        engine = self.engine
        assert engine is not None, "call begin() first"
        auto = self.spec.train.steps_per_execution == 0
        engine.start_epoch(self.pos.epoch, self.sampler.steps(self.pos.epoch, self.pos.step))
        while (block := self.next_block()) is not None:
            if self.faults:
                self.inject_fault()
            started = time.perf_counter()
            engine.train_steps(*block, self.slot)
            spent = time.perf_counter() - started
            if auto:
                per_step = spent / len(block[0])
                self._block_cap = max(1, int(BLOCK_SECONDS / max(per_step, 1e-6)))
            if self.slowdown:
                slowdown.spin(self.slowdown * spent)
            if not self.steps_done(*block):
                return False
        return True

    def fit(self) -> Literal["completed", "stopped"]:
        """Train to the end or until stopped; the caller reports failures. Returns once the
        final checkpoint is on disk (a failed final write raises CheckpointWriteError)."""
        engine = self.engine
        assert engine is not None, "call begin() first"
        if self.done:
            return "completed"
        status: Literal["completed", "stopped"]
        while True:
            if not self.train_epoch():
                status = self.stop()
                break
            if not self.epoch_done(self._validate()):
                status = "completed" if self.done or self.ended_early else self.stop()
                break
        self.flush_checkpoints()
        return status

    def _validate(self) -> dict[str, float]:
        """The validation values, rank 0's on every rank (they pick the best checkpoint and
        drive the schedule: every rank must see the same)."""
        assert self.engine is not None
        return self.group.broadcast(self.engine.evaluate("val") if self.leader else None)

    def stop(self) -> Literal["stopped"]:
        """Graceful stop: save where we are."""
        self.save_checkpoint(best=False)
        return "stopped"
