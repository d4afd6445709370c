"""The dashboard's live control (core/live.py), as a mixin of `DashboardScreen`: `[` `]`
halve and double the learning rate's multiplier, `L` asks for a new base rate, `e` stops
after this epoch, `E` asks for early stopping's patience; each is sent to the runner, which
applies it at its next block. And `_tell`: the bell and a desktop notification."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuitrain.core import control
from tuitrain.core.errors import UserError

if TYPE_CHECKING:
    from textual.app import App

    from tuitrain.core.rundir import RunDir
    from tuitrain.ui.state import RunState


class LiveKeys:
    """Needs the screen's `run`, `state`, `app`, `notify` and `_require_live`."""

    run: RunDir
    state: RunState
    if TYPE_CHECKING:  # declared for the type checker only: the screen's own are used
        app: App[object]

        def notify(self, message: str, **kwargs: Any) -> None: ...

        def _require_live(self, what: str) -> bool: ...

    def _live_values(self) -> dict[str, float]:
        """The live settings in force: the summary's record of changes over the spec's."""
        try:
            changed = self.run.summary().get("live", {})
            spec = self.run.read_spec()
        except (UserError, OSError, ValueError):
            return {}
        return {"optimizer.lr": spec.optimizer.lr, "lr_scale": 1.0,
                "train.early_stopping": spec.train.early_stopping, "stop_after_epoch": 0.0,
                **changed}

    def _send_live(self, text: str) -> None:
        from tuitrain.core.live import parse_setting

        try:
            setting = parse_setting(text)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=6)
            return
        control.send(self.run.control, "set", setting.key, setting.value)
        self.notify(f"{setting.text()}: from the next block of steps", timeout=3)

    def action_lr_scale(self, factor: float) -> None:
        """`[` / `]`: halve or double the scheduled learning rate from now on."""
        if self._require_live("change the learning rate"):
            scale = float(self._live_values().get("lr_scale", 1.0)) * factor
            self._send_live(f"lr_scale={scale:g}")

    def action_set_lr(self) -> None:
        """`L`: a new base learning rate, which the schedule then scales."""
        if not self._require_live("change the learning rate"):
            return
        current = self._live_values().get("optimizer.lr", 0.0)
        self._prompt("New base learning rate", f"{current:g}", "optimizer.lr",
                     "the schedule scales it from the next block on ([ ] scale the schedule)")

    def action_stop_after_epoch(self) -> None:
        """`e`: stop gracefully when the current epoch ends (again: do not)."""
        if self._require_live("stop after this epoch"):
            on = not self._live_values().get("stop_after_epoch", 0.0)
            self._send_live(f"stop_after_epoch={'true' if on else 'false'}")

    def action_early_stopping(self) -> None:
        """`E`: early stopping's patience, in epochs (0 = off)."""
        if not self._require_live("set early stopping"):
            return
        current = int(self._live_values().get("train.early_stopping", 0))
        self._prompt(f"Early stopping: epochs without a better {self.state.metric or 'value'}",
                     str(current), "train.early_stopping",
                     "the run ends, completed, after this many; 0 = off")

    def _prompt(self, question: str, value: str, key: str, hint: str) -> None:
        from tuitrain.core.live import parse_setting
        from tuitrain.ui.screens.prompt import PromptScreen

        def check(text: str) -> str | None:
            try:
                parse_setting(f"{key}={text}")
            except UserError as exc:
                return str(exc)
            return None

        def answer(text: str | None) -> None:
            if text is not None:
                self._send_live(f"{key}={text}")

        self.app.push_screen(PromptScreen(question, value, check, hint), answer)

    def _tell(self, title: str, body: str) -> None:
        from tuitrain.ui.desktop_notify import desktop_notify

        desktop_notify(self.app, f"tuitrain {title}", f"{self.run.id}: {body}")

