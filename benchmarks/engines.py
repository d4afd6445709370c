"""Figures 1, 2 and 9: engine overhead against hand-written loops (each framework in its own
child process), final weights against the hand loop (PyTorch, deterministic), and the
zero-sync test."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.common import ROOT, Figure, child_env, run_child, thread_budget

PRESETS = ("mlp-digits", "cnn-digits")
RATIO_TARGET = 0.97


def torch_figures(quick: bool) -> list[Figure]:
    threads = thread_budget()
    out = []
    for preset in PRESETS:
        reps = "25" if quick else "41"
        r = run_child("engine_torch", preset, "--reps", reps, "--block", "1", threads=threads)
        out.append(Figure(
            f"1 {preset}", "torch engine / hand loop (throughput)", r["ratio"],
            f">= {RATIO_TARGET}", r["ratio"] >= RATIO_TARGET, "x",
            f"hand {r['hand_ms_per_step']:.3f} ms/step, tuitrain {r['tuitrain_ms_per_step']:.3f}"
            f" ms/step (medians, {threads} thread(s), {len(r['hand'])} alternating pairs of "
            f"{r['steps_per_block']} steps)"))
        w = r["weights"]
        out.append(Figure(
            f"1w {preset}", "torch final weights vs hand loop (max |diff|)",
            w["max_abs_diff"], "== 0 (bitwise)", w["equal"], "",
            f"{w['epochs']} epochs, torch.use_deterministic_algorithms(True), same seed/order"))
    return out


def tf_figures(quick: bool) -> list[Figure]:
    threads = thread_budget()
    out = []
    for preset in PRESETS:
        reps = "4" if quick else "12"
        r = run_child("engine_tf", preset, "--reps", reps, "--block", "2", threads=threads)
        ms = r["ms_per_step"]
        base = (f"ms/step: tf hand {ms['tf_hand']:.3f}, tf tuitrain {ms['tf_tuitrain']:.3f}, "
                f"keras fit {ms['keras_fit']:.3f}, keras fit with steps_per_execution "
                f"{ms['keras_fit_spe']:.3f}, keras tuitrain {ms['keras_tuitrain']:.3f} "
                f"({threads} thread(s), {len(r['times']['tf_hand'])} rotations)")
        out.append(Figure(f"1 {preset}", "tensorflow engine / tf.function loop",
                          r["tf_ratio"], f">= {RATIO_TARGET}", r["tf_ratio"] >= RATIO_TARGET,
                          "x", base))
        out.append(Figure(f"1 {preset}", "keras engine / plain fit(verbose=0)",
                          r["keras_ratio"], f">= {RATIO_TARGET}",
                          r["keras_ratio"] >= RATIO_TARGET, "x", base))
        out.append(Figure(f"1 {preset}", "keras engine / fit(steps_per_execution)",
                          r["keras_spe_ratio"], f">= {RATIO_TARGET}",
                          r["keras_spe_ratio"] >= RATIO_TARGET, "x", base))
        out.append(Figure(f"9 {preset}", "keras engine / custom tf.function loop",
                          r["keras_vs_custom"], ">= 0.95", r["keras_vs_custom"] >= 0.95, "x",
                          base))
    return out


def sync_figure(quick: bool) -> list[Figure]:
    """Figure 2 is the test suite's `tests/test_torch_syncs.py`, run as it is."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "tests/test_torch_syncs.py"]
    r = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                       timeout=300)
    ok = r.returncode == 0
    last = (r.stdout.strip().splitlines() or ["?"])[-1]
    return [Figure("2", "torch host reads between log points", 0 if ok else None, "== 0", ok,
                   "", f"tests/test_torch_syncs.py: {last}")]
