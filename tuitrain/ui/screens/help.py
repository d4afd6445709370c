"""The help screen: what the dashboard shows and every key.

The text is written as a little Markdown (headings, key tables, paragraphs, `code`) and turned
into one styled `Text` once, shown by a single `Static` in a scrolling box: Textual's `Markdown`
widget made a widget per block and per table cell, so the first `?` took about 250 ms to
compose and every later one 40-60 ms to restyle and paint while a run was training."""

from __future__ import annotations

import re
import textwrap
from functools import lru_cache

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
# tuitrain

Training runs in its own process; this screen only watches the run folder, so closing it
(or losing the SSH connection) never stops training. Re-attach with `tuitrain watch RUN`.

## Dashboard keys

| key | action |
|-----|--------|
| `p` | pause / resume training |
| `s` | stop gracefully: finish the step, save a checkpoint, status `stopped` (resumable) |
| `c` | save a checkpoint now |
| `[` `]` | halve / double the scheduled learning rate from the next block on (`lr_scale`) |
| `L` | a new base learning rate, which the schedule then scales (`optimizer.lr`) |
| `e` | stop gracefully when this epoch ends (again: cancel) |
| `E` | early stopping: end the run after K epochs without a better value (0 = off) |
| `t` | hide the plots; small terminal: plots in place of the table |
| `l` | logarithmic y axis for loss and learning rate |
| `m` | smoothing of the train curves: 0.6, 0.9, off |
| `r` | runs: every run in the runs folder |
| `n` | set up a new run |
| `escape` | from the setup or runs screen: back to the dashboard |
| `?` | this help |
| `q` | quit (asks first when a run is still training) |
| `ctrl+p` | command palette: every action by name |

## Setup screen

| key | action |
|-----|--------|
| `tab` | preset list → settings → Start |
| `↑` `↓` | the previous / next setting |
| `←` `→` | change a choice (framework, dataset, loss, …) in place |
| `enter` `space` | open a choice's list; on a number or a preset: start |
| in a list | `↑` `↓` and `enter` choose, `escape` keeps the value |
| digits, `backspace`, `ctrl+u` | edit a number or your data's path |
| `tab` on the model summary | `↑` `↓` scroll it |

Every change is checked at once; a problem shows under its setting and Start says why not.

## Runs screen

| key | action |
|-----|--------|
| `enter` | open the run's dashboard (live or finished) |
| `space` | mark a run; two or more marked runs overlay their curves |
| `c` | continue (resume) a stopped run from its last checkpoint |
| `e` | evaluate the best checkpoint on the test split (metrics, confusion matrix) |
| `x` | export the best model for serving (`tuitrain export`) |
| `d` | delete a run (asks first; never a live run) |
| `f` | compare frameworks: train one preset in each and show the table |
| `escape` | unmark all; with none marked, back to the dashboard |

## Plots

*loss*: the train loss of every log interval (grey: the min/max of each column, so spikes
stay visible), its smoothed line, and the validation loss per epoch (dots). The second plot
shows the main metric the same way; then the learning rate and the throughput. Non-finite
values are marked with a red `x` at the top.

Press `escape` to close.
"""


DESCRIPTION_WIDTH = 62  # table descriptions wrap here, indented under their column
_INLINE = re.compile(r"`([^`]+)`|\*([^*]+)\*")


def _inline(text: str, base: str = "") -> Text:
    """`code` in bold, *emphasis* in italics."""
    out = Text(style=base)
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(text[pos:m.start()])
        out.append(m.group(1) or m.group(2), "bold" if m.group(1) else "italic")
        pos = m.end()
    out.append(text[pos:])
    return out


def _table(rows: list[list[str]]) -> Text:
    """A key table: the header row and then one row per key, the key column padded."""
    keys = [row[0].replace("`", "") for row in rows]
    width = max(len(k) for k in keys) + 2
    out = Text()
    for i, row in enumerate(rows):
        if i == 0:
            out.append(" " + keys[0].ljust(width) + row[1], "bold underline")
        else:
            out.append(" ")
            out.append(keys[i].ljust(width), "bold")
            wrapped = textwrap.wrap(row[1], DESCRIPTION_WIDTH) or [""]
            out.append_text(_inline(wrapped[0]))
            for more in wrapped[1:]:
                out.append("\n " + " " * width)
                out.append_text(_inline(more))
        out.append("\n")
    return out


@lru_cache(maxsize=1)
def help_text(source: str = HELP) -> Text:
    """The help as one `Text` (built once)."""
    out = Text()
    table: list[list[str]] = []
    para: list[str] = []

    def flush() -> None:
        if table:
            out.append_text(_table(table))
            table.clear()
        if para:
            out.append_text(_inline(" ".join(para)))
            out.append("\n")
            para.clear()

    for raw in source.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):  # skip the |---|---| rule
                table.append(cells)
            continue
        if not line:
            flush()
            out.append("\n")
        elif line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            out.append(line[level:].strip() + "\n", "bold reverse" if level == 1 else "bold")
        else:
            if table:
                flush()
            para.append(line)
    flush()
    out.rstrip()
    return out


class HelpScreen(ModalScreen[None]):
    """Keys and a short guide; closes on escape, q or ?."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(help_text(), id="help-text")
