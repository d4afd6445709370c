"""Learning-rate schedules as pure functions of (epoch, step), so every framework follows
exactly the same curve; reduce-on-plateau keeps a small state that checkpoints carry."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tuitrain.core.spec import OptimizerSpec, ScheduleSpec


@dataclass
class LrSchedule:
    """The learning rate for any point of training."""

    spec: ScheduleSpec
    epochs: int
    steps_per_epoch: int
    # The base learning rate and the live multiplier (core/live.py), and reduce-on-plateau's
    # own state: all carried in checkpoints.
    state: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, schedule: ScheduleSpec, optimizer: OptimizerSpec, epochs: int,
              steps: int) -> LrSchedule:
        state = {"scale": 1.0, "best": math.inf, "bad": 0, "base_lr": optimizer.lr,
                 "lr_scale": 1.0}
        return cls(schedule, epochs, steps, state)

    @property
    def per_step(self) -> bool:
        """One-cycle and cosine change every step; the others once per epoch."""
        return self.spec.name in ("one-cycle", "cosine")

    def lr_at(self, epoch: int, step: int) -> float:
        """The scheduled rate times the live multiplier `lr_scale`."""
        return self._scheduled(epoch, step) * self.state["lr_scale"]

    def _scheduled(self, epoch: int, step: int) -> float:
        s, lr = self.spec, self.state["base_lr"]
        total = max(1, self.epochs * self.steps_per_epoch)
        t = min(1.0, (epoch * self.steps_per_epoch + step) / total)
        if s.name == "step":
            return lr * s.gamma ** (epoch // max(1, s.step_size))
        if s.name == "cosine":
            return s.min_lr + (lr - s.min_lr) * 0.5 * (1 + math.cos(math.pi * t))
        if s.name == "one-cycle":
            # Warm up from lr/25 to lr over pct_start, then anneal to lr/1e4 (PyTorch defaults).
            lo, end = lr / 25, lr / 1e4
            if t < s.pct_start:
                return lo + (lr - lo) * 0.5 * (1 - math.cos(math.pi * t / s.pct_start))
            u = (t - s.pct_start) / max(1e-9, 1 - s.pct_start)
            return end + (lr - end) * 0.5 * (1 + math.cos(math.pi * u))
        if s.name == "reduce-on-plateau":
            return max(s.min_lr, lr * self.state["scale"])
        return lr

    def epoch_end(self, monitored: float | None, mode: str) -> None:
        """Feed reduce-on-plateau the epoch's monitored value (lower is better after sign)."""
        if self.spec.name != "reduce-on-plateau" or monitored is None:
            return
        if not math.isfinite(monitored):
            return
        value = -monitored if mode == "max" else monitored
        if value < self.state["best"]:
            self.state.update(best=value, bad=0)
        else:
            self.state["bad"] += 1
            if self.state["bad"] > self.spec.patience:
                self.state.update(scale=self.state["scale"] * self.spec.factor, bad=0)
