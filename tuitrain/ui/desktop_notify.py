"""A notification to the person at the terminal: the bell, and a desktop notification
through the terminal itself (OSC 9, as iTerm2, WezTerm, Ghostty and Windows Terminal show
it; OSC 777, as VTE terminals, Kitty and foot do), which reaches the laptop over SSH.
Terminals that know neither ignore them. Inside tmux they are wrapped to pass through
(tmux needs `set -g allow-passthrough on`)."""

from __future__ import annotations

import os
import re

from textual.app import App

_UNSAFE = re.compile(r"[\x00-\x1f\x7f;]")  # control characters end the sequence; ';' splits 777


def sequences(title: str, body: str, tmux: bool) -> str:
    """The OSC 9 and OSC 777 sequences for one notification."""
    title, body = _UNSAFE.sub(" ", title)[:80], _UNSAFE.sub(" ", body)[:240]
    text = f"\x1b]9;{title}: {body}\x07\x1b]777;notify;{title};{body}\x07"
    if tmux:
        return "\x1bPtmux;" + text.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return text


def desktop_notify(app: App[object], title: str, body: str) -> None:
    """Ring the bell and send the desktop notification, through Textual's own writer (so it
    never lands inside a frame being written)."""
    app.bell()
    driver = getattr(app, "_driver", None)  # Textual has no public call for raw output
    if driver is not None:
        driver.write(sequences(title, body, bool(os.environ.get("TMUX"))))
