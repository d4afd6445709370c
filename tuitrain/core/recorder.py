"""The run's bookkeeping, shared by every backend: it turns plain floats into events in
`metrics.jsonl`, tracks the best epoch, keeps `summary.json` current, and notifies (a
person's `--notify-cmd`, core/notify.py) when the run ends or raises an alert."""

from __future__ import annotations

import math
import resource
import time
from typing import TYPE_CHECKING, Any

from tuitrain.core import notify
from tuitrain.core.checkpoints import Checkpoint
from tuitrain.core.errors import UserError
from tuitrain.core.events import (
    Alert,
    BatchMetrics,
    CheckpointSaved,
    EpochEnd,
    Event,
    LogMessage,
    RunEnded,
    RunStarted,
    SettingChanged,
    Status,
    StatusChanged,
)
from tuitrain.core.measures import direction
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import RunSpec

if TYPE_CHECKING:
    from tuitrain.core.tensorboard_log import TensorBoardLog

MAX_ALERTS_KEPT = 20  # the summary keeps the latest alerts; the event log keeps them all


def monitor_of(spec: RunSpec) -> tuple[str, str]:
    """The value that picks the best checkpoint and whether it should go up or down."""
    name = spec.main_metric
    key = f"val_{name}" if spec.data.val_fraction > 0 else name
    return key, ("max" if direction(name) == "higher" else "min")


class Recorder:
    """Writes events and the summary for one run. With `writes` False (the ranks other than
    0 of a run trained by several processes) it keeps the same books and writes nothing."""

    def __init__(self, run: RunDir, spec: RunSpec, writes: bool = True) -> None:
        self.run = run
        self.spec = spec
        self.writes = writes
        self.monitor, self.mode = monitor_of(spec)
        self.notify_cmd = notify.command(spec.run.notify_cmd)
        self.tensorboard: TensorBoardLog | None = None
        if writes and spec.run.tensorboard:
            from tuitrain.core.tensorboard_log import TensorBoardLog

            self.tensorboard = TensorBoardLog(run.path)
        if writes:
            run.end_cut_line()
        try:
            previous = run.summary()
        except UserError:  # damaged: start a new one, so that the run still gets a status
            previous = {}
        self.best_value: float | None = previous.get("best_value")
        self.summary: dict[str, Any] = {
            "run_id": run.id,
            "preset": spec.name,
            "task": spec.task,
            "framework": spec.run.framework,
            "status": "running",
            "epochs_completed": previous.get("epochs_completed", 0),
            "epochs": spec.train.epochs,
            "global_step": previous.get("global_step", 0),
            "metrics": previous.get("metrics", {}),
            "monitor": self.monitor,
            "best_value": self.best_value,
            "best_epoch": previous.get("best_epoch"),
            "best_checkpoint": previous.get("best_checkpoint"),
            "last_checkpoint": previous.get("last_checkpoint"),
            "started": previous.get("started", time.time()),
            "train_seconds": previous.get("train_seconds", 0.0),
            "train_samples": previous.get("train_samples", 0),
            "error": "",
            # Kept across resumes: alerts raised and live settings in force (core/live.py).
            "alerts": previous.get("alerts", []),
            "alert_count": previous.get("alert_count", 0),
            "live": previous.get("live", {}),
        }
        if spec.model_file is not None:  # a person's own model: the hash of the run's copy
            self.summary["model_sha256"] = spec.model_file.sha256

    def end_message(self, status: str, error: str = "") -> str:
        """'RUN completed after 30/30 epochs; best val_accuracy 0.975 (epoch 28)'."""
        s = self.summary
        text = f"{self.run.id} {status} after {s['epochs_completed']}/{s['epochs']} epochs"
        if self.best_value is not None:
            text += f"; best {self.monitor} {self.best_value:.4g} (epoch {s.get('best_epoch')})"
        return text + (f": {error}" if error else "")

    def _flush(self) -> None:
        self.summary["updated"] = time.time()
        if self.writes:
            self.run.write_summary(self.summary)

    def _append(self, event: Event) -> None:
        if self.writes:
            self.run.append(event)

    def started(self, event: RunStarted) -> None:
        self._append(event)
        self.summary.update(
            status="running", device=event.device, device_name=event.device_name,
            params=event.params, non_trainable_params=event.non_trainable,
            precision=event.precision, steps_per_epoch=event.steps_per_epoch,
            versions=event.versions, world_size=event.world_size, parallel=event.parallel,
            global_batch=event.batch_size,
        )
        self._flush()

    def placed(self, gpus: list[dict[str, object]], warnings: list[str]) -> None:
        """The GPUs the run was placed on (core/placement.py), with any warning about them."""
        self.summary["gpus"] = gpus
        names = ", ".join(f"GPU {g['number']} ({g['name']})" for g in gpus)
        self.log("info", f"placed on {names}")
        for warning in warnings:
            self.log("warning", warning)
        self._flush()

    def log(self, level: str, text: str) -> None:
        self._append(LogMessage(level=level, text=text))  # type: ignore[arg-type]

    def alert(self, alert: str, message: str, epoch: int, global_step: int) -> None:
        """A health alert: the event, the summary's count and latest few, a notification."""
        self._append(Alert(alert=alert, message=message, epoch=epoch, global_step=global_step))
        kept = self.summary.setdefault("alerts", [])
        kept.append({"alert": alert, "message": message, "global_step": global_step,
                     "time": time.time()})
        del kept[:-MAX_ALERTS_KEPT]
        self.summary["alert_count"] = self.summary.get("alert_count", 0) + 1
        if self.tensorboard is not None:
            self.tensorboard.text("alerts", f"{alert}: {message}", global_step)
        self._flush()
        if self.writes:
            notify.notify(self.notify_cmd, self.run.path, "alert", f"{self.run.id}: {message}")

    def setting(self, key: str, value: float, previous: float, epoch: int,
                global_step: int) -> None:
        """A live setting changed; the summary keeps the latest value of each."""
        self._append(SettingChanged(key=key, value=value, previous=previous, epoch=epoch,
                                    global_step=global_step))
        self.summary.setdefault("live", {})[key] = value
        if self.tensorboard is not None:
            self.tensorboard.text("live_changes", f"{key}: {previous:g} -> {value:g}",
                                  global_step)
        self._flush()

    def status(self, status: Status) -> None:
        self._append(StatusChanged(status=status))
        self.summary["status"] = status
        self._flush()

    def batch(self, epoch: int, step: int, global_step: int, metrics: dict[str, float],
              lr: float, samples_per_sec: float) -> None:
        self._append(BatchMetrics(epoch=epoch, step=step, global_step=global_step,
                                     metrics=metrics, lr=lr, samples_per_sec=samples_per_sec))
        if self.tensorboard is not None:
            self.tensorboard.scalars(metrics, global_step, "train/")
            self.tensorboard.scalars({"lr": lr, "samples_per_sec": samples_per_sec},
                                     global_step)

    def is_improvement(self, metrics: dict[str, float]) -> bool:
        value = metrics.get(self.monitor)
        if value is None or not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def epoch_end(self, epoch: int, global_step: int, metrics: dict[str, float], seconds: float,
                  samples: int) -> bool:
        """Record a finished epoch (0-based); returns whether it is the best so far."""
        best = self.is_improvement(metrics)
        if best:
            self.best_value = metrics[self.monitor]
            self.summary.update(best_value=self.best_value, best_epoch=epoch + 1)
        self._append(EpochEnd(epoch=epoch, global_step=global_step, metrics=metrics,
                                 seconds=seconds, is_best=best))
        if self.tensorboard is not None:
            self.tensorboard.scalars(metrics, global_step, "epoch/")
        self.summary.update(
            epochs_completed=epoch + 1, global_step=global_step, metrics=metrics,
            train_seconds=self.summary["train_seconds"] + seconds,
            train_samples=self.summary["train_samples"] + samples,
        )
        self._flush()
        return best

    def checkpoint(self, ckpt: Checkpoint, best: bool) -> None:
        rel = str(ckpt.path.relative_to(self.run.path))
        self._append(CheckpointSaved(epoch=ckpt.epoch, global_step=ckpt.global_step, path=rel,
                                        best=best))
        self.summary["last_checkpoint"] = rel
        if best:
            self.summary["best_checkpoint"] = rel
        self._flush()

    def ended(self, status: Status, global_step: int, error: str = "") -> None:
        self._append(RunEnded(status=status, epochs_completed=self.summary["epochs_completed"],
                                 global_step=global_step, error=error))
        if self.writes:
            notify.notify(self.notify_cmd, self.run.path, status, self.end_message(status, error))
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        self.summary.update(status=status, error=error, global_step=global_step, ended=time.time(),
                            peak_memory_mb=max(peak_mb, self.summary.get("peak_memory_mb", 0)))
        self._flush()
