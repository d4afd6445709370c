"""The help screen: what the dashboard shows and every key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

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
| `t` | show / hide the plots |
| `l` | logarithmic y axis for loss and learning rate |
| `m` | smoothing of the train curves: 0.6, 0.9, off |
| `r` | runs: every run in the runs folder |
| `n` | set up a new run |
| `escape` | from the setup or runs screen: back to the dashboard |
| `?` | this help |
| `q` | quit (asks first when a run is still training) |
| `ctrl+p` | command palette: every action by name |

## Setup screen

`tab` moves between the framework, the preset list and the settings; every setting is
editable and checked as you type (a problem shows under its field); `enter` starts.

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
| `escape` | unmark all |

## Plots

*loss*: the train loss of every log interval (grey: the min/max of each column, so spikes
stay visible), its smoothed line, and the validation loss per epoch (dots). The second plot
shows the main metric the same way; then the learning rate and the throughput. Non-finite
values are marked with a red `x` at the top.

Press `escape` to close.
"""


class HelpScreen(ModalScreen[None]):
    """Keys and a short guide; closes on escape, q or ?."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
