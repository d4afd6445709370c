"""The data-pipeline figures. `--only pipe`: images per second from an ImageFolder of
generated JPEGs through tuitrain's streamed pipeline against a bare DataLoader and a bare
tf.data pipeline with the same workers and augmentation (benchmarks/input_pipeline.py, one
child process per framework). `--only mem`: the peak anonymous memory of an epoch over a
memory-mapped .npy larger than the memory allowed (benchmarks/stream_memory.py). Neither is
in --quick: each takes a minute or more on 2 cores, which the quick run's 8-minute budget
has no room for."""

from __future__ import annotations

from benchmarks.common import Figure, exact, judged, run_child, thread_budget
from benchmarks.stats import Target

PAIRS = 11  # the median's interval is then the 3rd to the 9th value
# Workers on 2 cores: torch's are processes next to the training process, one (data.workers'
# default here: one per core but one) fills the second core; tf.data's map runs on threads of
# the training process, two fill both cores. Each side of a figure gets the same number.
WORKERS = {"torch": 1, "tensorflow": 2}
IMAGES = 6000
RATE = Target(">=", 0.95)
BARE = {"torch": "bare DataLoader", "tensorflow": "bare tf.data"}
ABOUT = (
    "Input-pipeline figures (`pipe`): an ImageFolder of 6,000 generated 64x64 JPEGs (10 "
    "classes), one epoch in batches of 64 per repetition, with the same workers (torch: 1 worker "
    "process, the default on 2 cores; TensorFlow: 2 parallel map calls, threads) and the same "
    "augmentation on both sides (pad 4, random 64x64 crop, random horizontal flip), in 11 "
    "interleaved pairs after a warm-up epoch each. torch: tuitrain's DataLoader (one item "
    "per step: the batch decoded with Pillow and augmented in a worker) against a plain "
    "DataLoader over a per-image Dataset (Pillow, numpy crop and flip, default collation). "
    "TensorFlow: tuitrain's tf.data pipeline (for JPEG/PNG files stored at their load size, "
    "TensorFlow's own ops per image, with the crop and flip draws of core/augment.py, bit for "
    "bit Pillow's and numpy's values) against a plain tf.data pipeline of TensorFlow's own "
    "ops per image (read_file, decode_jpeg, pad, random_crop, random_flip_left_right, batch, "
    "prefetch). "
    "Judged per pair: tuitrain's images/s / the bare pipeline's (>= 0.95). Not in --quick."
)
MEMORY_GIB = 2.0
MEMORY_MB = 1024.0  # the memory allowed: the file is twice that, its float32 decoding 8x
MEMORY = (
    "Streaming memory figures (`mem`): a 2 GiB .npy of 8-bit 32x32x3 images (699,050 of them, "
    "8 GiB once decoded to float32) and its labels, one epoch of a small MLP through "
    "`tuitrain train --data x.npy --target y.npy -f torch` (`data.stream = \"auto\"` streams "
    "it; 2 data workers), the anonymous memory (RssAnon, which the kernel cannot drop, unlike "
    "the file's page cache) of the CLI, the runner and its workers sampled every 50 ms and "
    "summed (pages a worker shares with the runner after the fork count twice). Judged: the "
    "peak under 1 GiB, and as a fraction of the file. One measurement; not in --quick."
)


def pipeline_figures(quick: bool) -> list[Figure]:
    if quick:
        return []
    out = []
    for framework, bare in BARE.items():
        r = run_child("input_pipeline", framework, "--pairs", str(PAIRS), "--workers",
                      str(WORKERS[framework]), "--images", str(IMAGES),
                      threads=thread_budget(), timeout=900)
        detail = (f"{r['ours_median']:,.0f} images/s against {r['plain_median']:,.0f} "
                  f"(medians of {len(r['ratios'])} pairs, {WORKERS[framework]} workers)")
        out.append(judged(f"pipe {framework}", f"images/s through tuitrain / {bare}",
                          r["ratios"], RATE, "x", detail))
    return out


def memory_figures(quick: bool) -> list[Figure]:
    if quick:
        return []
    r = run_child("stream_memory", "--gib", str(MEMORY_GIB), timeout=1800)
    peak, size = r["peak_anon_mb"], r["file_mb"]
    detail = (f"{size:,.0f} MB file, {r['seconds']:.0f} s for the epoch, {r['samples']} "
              f"samples; the run: {r['last_line']}")
    return [
        exact("mem torch", "peak anonymous memory of a streamed epoch", peak,
              f"< {MEMORY_MB:g} MB", peak < MEMORY_MB, " MB", detail),
        exact("mem torch", "peak anonymous memory / file size", peak / size,
              f"< {MEMORY_MB / size:.2g}", peak < MEMORY_MB, "", detail),
    ]
