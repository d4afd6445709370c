"""The data-parallel figures (`--only ddp`): time per step of mlp-digits on 2 CPU devices
through `tuitrain train --devices 2` against the framework's plain loop doing the same
(benchmarks/parallel_pair.py): PyTorch's DDP on 2 gloo processes against a plain torchrun DDP
loop (benchmarks/ddp_plain.py), TensorFlow's MirroredStrategy on 2 logical CPUs against the
TensorFlow tutorial's loop (benchmarks/mirrored_plain.py), Keras' DataParallel on JAX against
Keras' `fit` under the same distribution (benchmarks/jax_plain.py); and 1 device for the
scaling. Not
in --quick: each pair starts several framework processes (about a minute on 2 cores)."""

from __future__ import annotations

from benchmarks.common import Figure, judged, median, run_child, thread_budget
from benchmarks.stats import Target

PAIRS = 7  # the median's interval is then the 2nd to the 6th value
STEP = Target("<=", 1.3)
ABOUT = (
    'Data-parallel figures (`ddp`): mlp-digits (global batch 32) trained for 12 epochs on 2 '
    'CPU devices through `tuitrain train --devices 2 --detach`, against the framework\'s plain '
    'loop of the same network, batch and optimizer, in 7 alternating pairs. PyTorch: 2 '
    "processes over gloo (torchrun's elastic agent, DDP, rank 0 deciding after every block "
    'and writing the run folder) against a plain torchrun DDP loop (benchmarks/ddp_plain.py: '
    'each rank its slice of every global batch, the loss all-reduced once per epoch, rank 0 '
    'validating and saving a checkpoint between epochs). TensorFlow: MirroredStrategy on 2 '
    'logical CPUs against the TensorFlow tutorial\'s loop (benchmarks/mirrored_plain.py: a '
    'distributed tf.data dataset of global batches, one tf.function step per batch running '
    '`strategy.run`, validation and a checkpoint between epochs). Keras on JAX: Keras\' '
    'DataParallel distribution on 2 forced host devices against Keras\' own `fit` under the '
    'same distribution (benchmarks/jax_plain.py: one `fit` epoch at a time, validation and '
    '`model.save` between epochs). Each side\'s epochs are '
    "timed inside it, the first left out. Judged per pair: tuitrain's seconds per step / the "
    'plain loop\'s (<= 1.3x). On 2 cores two devices cannot be faster than one on a model '
    'this small: the 1-device figure is printed for the scaling, not judged. Not in --quick.'
)
STRATEGIES = {"torch": ("DDP x2", "plain torchrun DDP x2", "processes"),
              "tensorflow": ("Mirrored x2", "plain MirroredStrategy loop x2", "logical CPUs"),
              "keras-jax": ("DataParallel x2", "Keras fit under DataParallel x2",
                            "host devices")}


def ddp_figures(quick: bool) -> list[Figure]:
    if quick:
        return []
    figures = []
    for framework, (ours, plain, devices) in STRATEGIES.items():
        r = run_child("parallel_pair", "--pairs", str(PAIRS), "--framework", framework,
                      threads=thread_budget(), timeout=1800)
        detail = (f"tuitrain {1e3 * median(r['ours']):.2f} ms/step on 2 {devices}, the plain "
                  f"loop {1e3 * median(r['plain']):.2f}; tuitrain on 1 device "
                  f"{1e3 * r['one']:.2f} ms/step (medians of {len(r['ratios'])} pairs)")
        figures.append(judged(f"ddp {framework}", f"time per step: tuitrain {ours} / {plain}",
                              r["ratios"], STEP, "x", detail))
    return figures
