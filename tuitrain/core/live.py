"""Settings a person may change while a run trains (`tuitrain set RUN KEY=VALUE`, the
dashboard's keys and command palette), what each means, and their checks. The runner applies
a change at its next block boundary, records it (`SettingChanged`, with the step), and
carries it in its checkpoints, so it holds after a resume.

The learning rate two ways: `optimizer.lr` is a new base value that the schedule then
scales (a cosine schedule goes on from the same point of its curve, from the new peak);
`lr_scale` multiplies whatever the schedule gives (1 = as scheduled; 0.5 halves it from now
on, through every later step of the schedule)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tuitrain.core.control import Value
from tuitrain.core.errors import UserError
from tuitrain.core.presets import parse_value

LIVE: dict[str, str] = {
    "optimizer.lr": "a new base learning rate; the schedule scales it from the next block on",
    "lr_scale": "a multiplier on the scheduled learning rate (1 = as scheduled)",
    "train.early_stopping": "stop (completed) after this many epochs without a better "
                            "monitored value; 0 = off",
    "stop_after_epoch": "true: stop gracefully when the current epoch ends",
    "checkpoint": "now: save a checkpoint at the next block boundary",
}


@dataclass(frozen=True)
class Setting:
    """A checked `KEY=VALUE`."""

    key: str
    value: Value

    def text(self) -> str:
        return f"{self.key}={format_value(self.value)}"


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def parse_settings(texts: list[str]) -> list[Setting]:
    """Several `KEY=VALUE`s, each checked, each key once (two values for one key would be
    applied one after the other, and only the first reported)."""
    settings = [parse_setting(text) for text in texts]
    keys = [s.key for s in settings]
    for key in keys:
        if keys.count(key) > 1:
            raise UserError(f"{key} is given {keys.count(key)} times; give each setting once")
    return settings


def parse_setting(text: str) -> Setting:
    """`optimizer.lr=1e-4` and the like, checked; a one-line error naming what can change
    live for anything else."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"{text!r}: expected KEY=VALUE, e.g. optimizer.lr=1e-4 or lr_scale=0.5")
    if key not in LIVE:
        raise UserError(f"{key} cannot change while a run trains; what can: "
                        + ", ".join(LIVE))
    value = parse_value(raw.strip())
    if key == "checkpoint":
        if value != "now":
            raise UserError(f"{text}: checkpoint takes the value now (checkpoint=now)")
        return Setting(key, True)
    if key == "stop_after_epoch":
        if not isinstance(value, bool):
            raise UserError(f"{text}: stop_after_epoch is true or false")
        return Setting(key, value)
    if key == "train.early_stopping":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"{text}: train.early_stopping is a number of epochs >= 0 "
                            "(0 = off)")
        return Setting(key, value)
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value <= 0):
        raise UserError(f"{text}: {key} must be a number > 0")
    return Setting(key, float(value))
