"""A PyTorch run on several devices: the runner becomes torchrun's elastic agent
(`torch.distributed.run`, as `torchrun --standalone --nproc-per-node=N` runs it), which starts
one worker per device, each `python -m tuitrain.runner RUN --worker` (DDP, backends/
torch_group.py), and watches them.

The runner keeps the run's lock and the GPU claims while the workers train, so the run is
alive exactly as long as its agent is. A stop (the control file, which rank 0 reads, and
SIGTERM, which the agent passes on to every worker) is decided by rank 0 and reached by all
ranks at the same step. When a worker dies, the agent stops the others at once (gloo fails
every collective with a dead peer) and this module says which rank died and how in the run's
log and summary; the checkpoints written before stay the latest, and `tuitrain resume`
continues on any number of devices."""

from __future__ import annotations

import os
import signal
import time

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure
from torch.distributed.run import parse_args
from torch.distributed.run import run as torchrun

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.recorder import Recorder
from tuitrain.core.rundir import RunDir

MONITOR_INTERVAL = 0.2  # seconds between the agent's looks at its workers


def launch(run: RunDir, world_size: int, resume: bool, control_offset: int,
           checkpoint_suffix: str) -> int:
    """Train `run` on `world_size` worker processes of this machine; the exit code."""
    # The math threads this runner was given, shared by its workers.
    threads = max(1, int(os.environ.get("OMP_NUM_THREADS", "1")) // world_size)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    argv = [
        "--standalone", f"--nproc-per-node={world_size}",
        f"--monitor-interval={MONITOR_INTERVAL}",
        "--signals-to-handle=SIGTERM,SIGINT",  # SIGHUP is ignored, as by a one-device run
        "--module", "tuitrain.runner", str(run.path), "--worker",
        "--control-offset", str(control_offset), *(["--resume"] if resume else []),
    ]
    started = time.time()
    try:
        torchrun(parse_args(argv))
    except ChildFailedError as exc:
        summary = run.summary()
        if summary.get("status") in ("completed", "stopped") and summary.get("ended", 0) >= started:
            # Rank 0 recorded the end, which every rank reached (each step is a collective
            # of all of them): a worker that failed after it lost nothing.
            ranks = ", ".join(f"rank {r} ({_how(f)})" for r, f in sorted(exc.failures.items()))
            Recorder(run, run.read_spec()).log("warning", f"after the run ended: {ranks}")
            return 0
        _record_failure(run, exc.failures, checkpoint_suffix)
        return 1
    except SignalException:
        pass  # a stop: the workers were passed the signal, rank 0 recorded how the run ended
    return 0 if run.summary().get("status") in ("completed", "stopped") else 1


def _record_failure(run: RunDir, failures: dict[int, ProcessFailure], suffix: str) -> None:
    """How the run ended when a worker did not end well: which rank died (killed by a
    signal from outside: the others fail because it is gone; the SIGTERM the agent sends
    the survivors is not a cause) or failed first, and what is kept. A rank 0 killed from
    outside wrote no end, and the run reads as crashed once this agent exits; otherwise the
    run ends `failed` here (the workers leave their failure for the agent to record)."""
    killed = {rank: f for rank, f in failures.items()
              if f.exitcode < 0 and f.exitcode != -signal.SIGTERM}
    rank = min(killed) if killed else min(
        failures, key=lambda r: (failures[r].exitcode < 0, failures[r].timestamp, r))
    failure = failures[rank]
    how = _how(failure)
    latest = CheckpointStore(run.checkpoints, suffix).latest()
    kept = (f"the last checkpoint, {latest.name}, is intact: `tuitrain resume {run.id}` "
            "continues, on any number of devices (--devices N)" if latest
            else "no checkpoint had been written")
    message = f"rank {rank} (pid {failure.pid}) {how}; the other ranks stopped; {kept}"
    recorder = Recorder(run, run.read_spec())
    if 0 in killed:
        recorder.log("error", message)
        summary = run.summary()
        summary["error"] = message
        run.write_summary(summary)
    else:
        recorder.ended("failed", recorder.summary.get("global_step", 0), message)


def _how(failure: ProcessFailure) -> str:
    """'was killed by SIGKILL', or 'failed: RuntimeError: ...'."""
    return (f"was killed by {failure.signal_name()}" if failure.exitcode < 0
            else f"failed: {_first_line(failure.message)}")


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0][:300] if lines else "no message"
