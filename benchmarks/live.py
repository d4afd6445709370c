"""The live-control figure (`--only live`, in --quick): from a key press in the real dashboard
to the runner training with the new learning rate (benchmarks/live_latency.py, a child)."""

from __future__ import annotations

from benchmarks.common import Figure, judged, median, run_child, thread_budget
from benchmarks.stats import Target
from tuitrain.core.trainer import BLOCK_SECONDS

LATENCY = Target("<=", 1000 * BLOCK_SECONDS)  # within one block: the longest a block is sized
ABOUT = (
    "Live-control figure (`live`, in --quick): the dashboard (`tuitrain watch` in a "
    "pseudo-terminal, as over SSH) on a PyTorch mlp-digits run; `]` and `[` pressed in turn "
    "80 times at random moments (the learning rate doubled, then halved back). Each press is "
    "timed from the key written to the terminal to the runner's `SettingChanged` event, "
    "written as the first block of steps with the new rate starts. Judged: the 95th "
    "percentile <= one block (the driver sizes blocks to at most "
    f"{1000 * BLOCK_SECONDS:.0f} ms of steps; a command is read between any two blocks)."
)


def live_figures(quick: bool) -> list[Figure]:
    r = run_child("live_latency", threads=thread_budget(), timeout=600)
    ms = [1000 * s for s in r["latency"]]
    detail = (f"{len(ms)} presses, median {median(ms):.0f} ms, slowest {max(ms):.0f} ms; "
              f"the run logged every {1000 * r['log_interval']:.0f} ms (20 steps)")
    return [judged("live", "key press to the runner training with the new LR, p95", ms,
                   LATENCY, " ms", detail, q=0.95)]
