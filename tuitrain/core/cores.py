"""How many CPU cores a run's math-library threads and data-loading workers use: every core
but one (which stays free for the dashboard and the OS), or the share the queue's scheduler
gave the run (`TUITRAIN_CORES`) when it runs several at once on one machine."""

from __future__ import annotations

import os

CORES_ENV = "TUITRAIN_CORES"


def machine_cores() -> int:
    """The cores this process may run on: its CPU affinity, which a batch system (SLURM's
    task binding) or a container's cpuset narrows, else the machine's count."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS has no affinity call
        return os.cpu_count() or 1


def cores() -> int:
    """This run's cores: `$TUITRAIN_CORES` (the scheduler's share), else all but one."""
    share = os.environ.get(CORES_ENV, "")
    if share.isdigit() and int(share) > 0:
        return int(share)
    return max(1, machine_cores() - 1)


def share(parallel: int) -> int:
    """Each run's cores when `parallel` runs train at once: the all-but-one split evenly,
    at least one each."""
    return max(1, max(1, machine_cores() - 1) // max(1, parallel))


def thread_budget(count: int | None = None) -> dict[str, str]:
    """Math-library threads for a runner (`count`, default `cores()`). On a small machine,
    framework thread pools that spin against a busy core made a tiny model's step over 100x
    slower; set OMP_NUM_THREADS to override."""
    threads = str(count or cores())
    return {"OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
            "TF_NUM_INTEROP_THREADS": "1"}
