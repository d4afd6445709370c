"""Figures 1, 2 and 9: engine overhead against hand-written loops (each framework in its own
child process), final weights against the hand loop (PyTorch, deterministic), and the
zero-sync test."""

from __future__ import annotations

import math
import subprocess
import sys

from benchmarks.common import (
    ROOT,
    Figure,
    child_env,
    exact,
    judged,
    median,
    run_child,
    thread_budget,
)
from benchmarks.stats import Target

PRESETS = ("mlp-digits", "cnn-digits")
# PyTorch's figure 1 also on the residual CNN and the small transformer, in full runs only:
# a repetition is one epoch (resnet-digits: 40 steps of a 42k-parameter residual network;
# transformer-adder: 110 steps of about 230 MFLOP each, 70x an mlp-digits step), so they
# take fewer of them: 9 processes of 6 pairs. The transformer's hand loop is minGPT's
# (benchmarks/engine_torch.py), whose loss is tuitrain's only up to rounding, so its weights
# are not compared bitwise; resnet-digits' are.
TORCH_FULL_ONLY = ("resnet-digits", "transformer-adder")
FULL_ONLY_REPETITIONS = (9, 6)  # processes, alternating pairs in each
# --quick: 11 processes of 5 pairs. With 9 of 6, the median's interval (2nd to 8th process)
# reached 0.878 on mlp-digits, inconclusive against >= 0.90; 11 make it the 3rd to the 9th.
# Each process measures both presets (its start costs more than its measurements): 75 s.
QUICK_REPETITIONS = (11, 5)
BITWISE = (*PRESETS, "resnet-digits")  # presets whose final weights are compared bitwise
# Epochs per repetition: 0.05-0.1 s (the full-only presets: one, see above).
TORCH_BLOCK = {"mlp-digits": 2, "cnn-digits": 1, "resnet-digits": 1, "transformer-adder": 1}
# TensorFlow's and Keras' figures 1 and 9 also on the residual CNN in full runs (one label per
# sample, as the loops there compute the loss; the transformer's per-position loss is not).
TF_FULL_ONLY = ("resnet-digits",)
RATIO = Target(">=", 0.97)
# PyTorch on 2 cores: a process's median ratio varies by about +-5% from process to process
# (mlp-digits: 0.5 ms steps, most of it Python), so a 3% overhead cannot be told from noise
# in minutes; the verdict is a 10% regression alarm (the self-test's 20% slower engine reads
# 0.72-0.87), and the value itself (0.92-1.0) is the overhead.
TORCH_RATIO = Target(">=", 0.90)
KERAS_VS_CUSTOM = Target(">=", 0.95)


def torch_figures(quick: bool) -> list[Figure]:
    """The process is the unit of repetition: each process's median of its alternating pairs
    is one value, and the interval is over processes. A process's own luck (its memory
    layout, the load while it ran) moves all of its pairs together by a few percent, so
    pairs pooled across two processes gave intervals that did not hold from one suite run
    to the next. With nine, the median's interval is their 2nd to 8th value."""
    threads = thread_budget()
    groups = [PRESETS] if quick else [PRESETS, *((p,) for p in TORCH_FULL_ONLY)]
    out = []
    for group in groups:
        processes, reps = (QUICK_REPETITIONS if quick else (11, 16)) if group == PRESETS \
            else FULL_ONLY_REPETITIONS
        checked = [p for p in group if p in BITWISE]
        runs = [
            run_child(
                "engine_torch",
                *group,
                "--reps",
                str(reps),
                "--blocks",
                ",".join(str(TORCH_BLOCK[p]) for p in group),
                "--weights",
                ",".join(checked) if i == 0 else "",
                threads=threads,
            )["presets"]
            for i in range(processes)
        ]
        for preset in group:
            out += _torch_preset(preset, [r[preset] for r in runs], processes, reps, threads)
    return out


def _torch_preset(preset: str, runs: list[dict], processes: int, reps: int,
                  threads: int) -> list[Figure]:
    """Figure 1 (and 1w, bitwise presets) of one preset from its processes' results."""
    hand = median([x for r in runs for x in r["hand"]])
    ours = median([x for r in runs for x in r["tuitrain"]])
    steps = runs[0]["steps_per_block"]
    out = [
        judged(
            f"1 {preset}",
            "torch engine / hand loop (throughput)",
            [median(r["ratios"]) for r in runs],
            TORCH_RATIO,
            "x",
            f"hand {1e3 * hand / steps:.3f} ms/step, tuitrain {1e3 * ours / steps:.3f} ms/step "
            f"(medians, {threads} thread(s); {processes} processes, each the median of "
            f"{reps} alternating pairs of {steps} steps)",
            planted="engine",
        )
    ]
    w = runs[0]["weights"]
    if preset in BITWISE:
        out.append(
            exact(
                f"1w {preset}",
                "torch final weights vs hand loop (max |diff|)",
                w["max_abs_diff"],
                "== 0 (bitwise)",
                w["equal"],
                "",
                f"{w['epochs']} epochs, torch.use_deterministic_algorithms(True), same seed/order",
            )
        )
    return out


def tf_figures(quick: bool) -> list[Figure]:
    threads = thread_budget()
    out = []
    for preset in PRESETS if quick else (*PRESETS, *TF_FULL_ONLY):
        reps = "8" if quick else "14"
        r = run_child("engine_tf", preset, "--reps", reps, "--block", "2", threads=threads)
        ms = r["ms_per_step"]
        base = (
            f"ms/step: tf hand {ms['tf_hand']:.3f}, tf tuitrain {ms['tf_tuitrain']:.3f}, "
            f"keras fit {ms['keras_fit']:.3f}, keras fit with steps_per_execution "
            f"{ms['keras_fit_spe']:.3f}, keras tuitrain {ms['keras_tuitrain']:.3f} "
            f"({threads} thread(s), {len(r['times']['tf_hand'])} rotations)"
        )
        out += [
            judged(
                f"1 {preset}",
                "tensorflow engine / tf.function loop",
                r["tf_ratio"],
                RATIO,
                "x",
                base,
            ),
            judged(
                f"1 {preset}",
                "keras engine / plain fit(verbose=0)",
                r["keras_ratio"],
                RATIO,
                "x",
                base,
            ),
            judged(
                f"1 {preset}",
                "keras engine / fit(steps_per_execution)",
                r["keras_spe_ratio"],
                RATIO,
                "x",
                base,
            ),
            judged(
                f"9 {preset}",
                "keras engine / custom tf.function loop",
                r["keras_vs_custom"],
                KERAS_VS_CUSTOM,
                "x",
                base,
            ),
        ]
    return out


def sync_figure(quick: bool) -> list[Figure]:
    """Figure 2 is the test suite's `tests/test_torch_syncs.py`, run as it is."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_torch_syncs.py",
    ]
    r = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300)
    ok = r.returncode == 0
    last = (r.stdout.strip().splitlines() or ["?"])[-1]
    return [
        exact(
            "2",
            "torch host reads between log points",
            0 if ok else math.nan,
            "== 0",
            ok,
            "",
            f"tests/test_torch_syncs.py: {last}",
        )
    ]
