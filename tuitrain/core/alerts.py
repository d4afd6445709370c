"""Health alerts, computed in the runner from what it logs: a loss spike, a gradient-norm
explosion, a validation value that stopped improving, throughput halved (someone else took
the GPU, a data loader stalled), and the run folder's disk nearly full. A NaN or infinite
loss is not an alert: it fails the run at once (core/trainer.py).

The gradient norm is the global L2 norm of all trainable parameters' gradients (before
clipping, loss scaling undone), taken by the engines on every step (PyTorch: every 4th, see
backends/torch_backend.py) and judged by the largest of a log interval: an explosion is a
burst of a few steps (a learning rate made 100x too high on the digits MLP: 8x the median
step's norm for 2-4 steps, then back under 2x while the loss stays high), which a norm
sampled once a block or an interval mostly misses, and PyTorch's every 4th step can miss
too. Against the running median of the intervals' largest, that burst measured 12.4x and 18x
in two Keras runs (a TensorFlow run's stayed under 10x: its loss spike alerted); healthy
runs peaked at 6.7x (mlp-digits late in training, its norms near 0) and 9.6x
(transformer-adder), so a factor of 5 would have raised alerts on them.

Each alert fires once, then re-arms when its condition has cleared, so a run that keeps
spiking raises one alert per episode, not one per log line. Pure: fed numbers, returns
alerts; the Trainer records them (`Alert` events, the summary) and notifies."""

from __future__ import annotations

import math
import shutil
import statistics
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

AlertKind = Literal["loss_spike", "grad_norm", "stalled", "throughput", "disk"]

SPIKE_FACTOR = 5.0  # an interval's loss over this many times the running median is a spike
GRAD_FACTOR = 10.0  # a gradient norm over this many times its running median explodes
SPIKE_WINDOW = 50  # log intervals in those running medians
SPIKE_WARMUP = 10  # intervals before spikes are judged (the first losses fall fast)
STALL_EPOCHS = 10  # epochs without a better monitored value
SLOW_FACTOR = 0.5  # throughput below this share of its usual is halved
SLOW_WINDOW = 5  # intervals whose median is compared (one slow interval is noise)
SLOW_WARMUP = 20  # intervals before throughput is judged (start-up, compilation)
DISK_SHARE = 0.05  # free space under this share of the disk is nearly full...
DISK_CHECKPOINTS = 2  # ...or under the room of this many more checkpoints


@dataclass(frozen=True)
class Raised:
    kind: AlertKind
    message: str


@dataclass
class Spike:
    """A value judged against the running median of its last SPIKE_WINDOW calm values: over
    `factor` times it is a spike (which does not move the median), and SPIKE_WARMUP calm
    values in a row end the episode."""

    kind: AlertKind
    factor: float
    what: str  # how the message names the value
    _values: deque[float] = field(default_factory=lambda: deque(maxlen=SPIKE_WINDOW))
    _calm: int = 0

    def judge(self, value: float, armed: set[str]) -> list[Raised]:
        if len(self._values) < SPIKE_WARMUP:
            self._values.append(value)
            return []
        median = statistics.median(self._values)
        if median > 0 and value > self.factor * median:
            self._calm = 0
            if self.kind not in armed:
                return []
            armed.discard(self.kind)
            return [Raised(self.kind, f"{self.what} spiked to {value:.4g}, "
                           f"{value / median:.1f}x its running median {median:.4g}")]
        self._calm += 1
        if self._calm >= SPIKE_WARMUP:
            armed.add(self.kind)
        self._values.append(value)
        return []


@dataclass
class AlertWatch:
    """One run's alerts; `armed` holds the kinds that may fire now."""

    monitor: str
    mode: str  # "max" or "min": which way the monitored value improves
    armed: set[str] = field(default_factory=lambda: {"loss_spike", "grad_norm", "stalled",
                                                     "throughput", "disk"})
    _loss: Spike = field(default_factory=lambda: Spike("loss_spike", SPIKE_FACTOR, "loss"))
    _grad: Spike = field(default_factory=lambda: Spike("grad_norm", GRAD_FACTOR,
                                                       "gradient norm"))
    _speeds: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    _usual: float = 0.0

    def interval(self, loss: float | None, samples_per_sec: float,
                 grad_norm: float | None = None) -> list[Raised]:
        """After each log interval: its mean loss, its throughput, and the largest gradient
        norm the engine sampled in it (None: none sampled)."""
        out = []
        if loss is not None and math.isfinite(loss):
            out += self._loss.judge(loss, self.armed)
        # A non-finite norm is a step that loss scaling skips (float16), not an explosion.
        if grad_norm is not None and math.isfinite(grad_norm):
            out += self._grad.judge(grad_norm, self.armed)
        if math.isfinite(samples_per_sec) and samples_per_sec > 0:
            out += self._throughput(samples_per_sec)
        return out

    def _throughput(self, rate: float) -> list[Raised]:
        self._speeds.append(rate)
        if len(self._speeds) < SLOW_WARMUP:
            return []
        recent = statistics.median(list(self._speeds)[-SLOW_WINDOW:])
        if not self._usual:
            self._usual = statistics.median(self._speeds)
        if recent < SLOW_FACTOR * self._usual:
            if "throughput" in self.armed:
                self.armed.discard("throughput")
                return [Raised("throughput", f"throughput fell to {recent:,.0f} samples/s, "
                               f"{recent / self._usual:.0%} of its usual {self._usual:,.0f} "
                               "(another process on the device? a slow data source?)")]
            return []
        if recent >= 0.8 * self._usual:
            self.armed.add("throughput")
            # The usual rate follows a lasting change (a new phase of training), slowly.
            self._usual = 0.98 * self._usual + 0.02 * recent
        return []

    def epoch(self, epoch: int, best_epoch: int | None) -> list[Raised]:
        """After an epoch (1-based count done) with the best epoch so far (1-based)."""
        if best_epoch is None:
            return []
        if best_epoch == epoch:
            self.armed.add("stalled")
            return []
        if epoch - best_epoch >= STALL_EPOCHS and "stalled" in self.armed:
            self.armed.discard("stalled")
            return [Raised("stalled", f"{self.monitor} has not improved for "
                           f"{epoch - best_epoch} epochs (best at epoch {best_epoch}); "
                           "`tuitrain set RUN train.early_stopping=K` ends such a run")]
        return []

    def disk(self, folder: Path, checkpoint_bytes: int) -> list[Raised]:
        """After a checkpoint of `checkpoint_bytes`: the free space of `folder`'s disk."""
        try:
            usage = shutil.disk_usage(folder)
        except OSError:
            return []
        low = (usage.free < DISK_SHARE * usage.total
               or usage.free < DISK_CHECKPOINTS * checkpoint_bytes)
        if not low:
            self.armed.add("disk")
            return []
        if "disk" not in self.armed:
            return []
        self.armed.discard("disk")
        return [Raised("disk", f"the run folder's disk is nearly full: {usage.free / 2**30:.1f} "
                       f"GiB free of {usage.total / 2**30:.0f} GiB, a checkpoint takes "
                       f"{checkpoint_bytes / 2**20:.0f} MiB")]
