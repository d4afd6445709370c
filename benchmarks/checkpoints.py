"""The checkpoint figures (`--only ckpt`): for a 25.5M-parameter model in each framework, the
time a save keeps training waiting against a synchronous save, and an epoch that ends with a
save against one without (benchmarks/checkpoint_cost.py, one child process per framework).
Not in --quick: each framework writes about 40 checkpoints of about 300 MB (2-3 minutes each
on 2 cores)."""

from __future__ import annotations

from benchmarks.common import Figure, judged, median, run_child, thread_budget
from benchmarks.stats import Target

FRAMEWORKS = ("torch", "tensorflow", "keras")
PAIRS = 9  # the median's interval is then the 2nd to the 8th value
BLOCKED = Target("<=", 0.10)
EPOCH = Target("<=", 1.1)
ABOUT = (
    "Checkpoint figures (`ckpt`): a 25.5M-parameter MLP (built from a preset spec; about "
    "300 MB of weights and Adam state a checkpoint) trained by each framework's engine under "
    "the Trainer, saving into a checkpoint store on the local disk. A save copies the state "
    "to host memory on the training thread and a background thread writes, fsyncs and "
    "renames it (RELIABILITY.md, section 11). Interleaved pairs: an epoch without a save "
    "followed by one synchronous save (training waits for the whole write), against an epoch "
    "that ends with a save while the previous epoch's checkpoint is still being written. "
    "Judged per pair: the time the save kept training waiting / the synchronous save "
    "(<= 0.10), and the epoch with a save / the epoch without (<= 1.1x; this is where a "
    "background writer competing for the interpreter lock or the cores shows). The epoch is "
    "sized so that a synchronous save every epoch would make it 1.5x as long. Not in --quick."
)


def checkpoint_figures(quick: bool) -> list[Figure]:
    if quick:
        return []
    out = []
    for framework in FRAMEWORKS:
        r = run_child(
            "checkpoint_cost",
            framework,
            "--pairs",
            str(PAIRS),
            threads=thread_budget(),
            timeout=1200,
        )
        detail = (
            f"{r['params'] / 1e6:.1f}M parameters, {r['checkpoint_mb']:.0f} MB a checkpoint, "
            f"{r['device']}; synchronous save {median(r['sync']):.2f} s, training blocked "
            f"{1e3 * median(r['blocked']):.0f} ms a save; epoch of {r['steps_per_epoch']} steps "
            f"{median(r['plain']):.2f} s, {median(r['saving']):.2f} s with a background save, "
            f"{r['sync_epoch_ratio']:.2f}x with a synchronous one (medians of "
            f"{len(r['plain'])} interleaved pairs)"
        )
        out += [
            judged(
                f"ckpt {framework}",
                "time a save blocks training / synchronous save",
                r["blocked_ratios"],
                BLOCKED,
                "x",
                detail,
            ),
            judged(
                f"ckpt {framework}",
                "epoch with a save / epoch without",
                r["epoch_ratios"],
                EPOCH,
                "x",
                detail,
            ),
        ]
    return out
