"""The data-parallel figure (`--only ddp`): time per step of mlp-digits on 2 CPU processes
(gloo) through `tuitrain train --devices 2` against a plain torchrun DDP loop doing the same
(benchmarks/ddp_pair.py, benchmarks/ddp_plain.py), and 1 process for the scaling. Not in
--quick: each pair starts three torch processes twice (about a minute on 2 cores)."""

from __future__ import annotations

from benchmarks.common import Figure, judged, median, run_child, thread_budget
from benchmarks.stats import Target

PAIRS = 7  # the median's interval is then the 2nd to the 6th value
STEP = Target("<=", 1.3)
ABOUT = (
    'Data-parallel figure (`ddp`): mlp-digits (global batch 32) trained for 12 epochs by 2 '
    'CPU processes over gloo, through `tuitrain train -f torch --devices 2 --detach` '
    "(torchrun's elastic agent, DDP, rank 0 deciding after every block and writing the run "
    'folder), against a plain torchrun DDP loop of the same network, batch and optimizer '
    '(benchmarks/ddp_plain.py: each rank its slice of every global batch, the loss '
    'all-reduced once per epoch, rank 0 validating and saving a checkpoint between epochs),'
    " in 7 alternating pairs. Each side's epochs are timed inside it, the first left out. "
    "Judged per pair: tuitrain's seconds per step / the plain loop's (<= 1.3x). On 2 cores "
    'two processes cannot be faster than one on a model this small: the 1-process figure is'
    ' printed for the scaling, not judged. Not in --quick.'
)


def ddp_figures(quick: bool) -> list[Figure]:
    if quick:
        return []
    r = run_child("ddp_pair", "--pairs", str(PAIRS), threads=thread_budget(), timeout=1800)
    detail = (f"tuitrain {1e3 * median(r['ours']):.2f} ms/step on 2 processes, the plain "
              f"loop {1e3 * median(r['plain']):.2f}; tuitrain on 1 process "
              f"{1e3 * r['one']:.2f} ms/step (medians of {len(r['ratios'])} pairs)")
    return [judged("ddp torch", "time per step: tuitrain DDP x2 / plain torchrun DDP x2",
                   r["ratios"], STEP, "x", detail)]
