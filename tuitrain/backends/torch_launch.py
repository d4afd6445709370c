"""A PyTorch run on several devices: the runner becomes torchrun's elastic agent
(`torch.distributed.run`, as `torchrun --standalone --nproc-per-node=N` runs it), which starts
one worker per device, each `python -m tuitrain.runner RUN --worker DEVICE` (DDP, backends/
torch_group.py), and watches them. On several machines (core/nodes.py) the agents meet at
node 0's address (torchrun's static rendezvous, `--nnodes --node-rank --master-addr
--master-port`): node 0's runner is one, and `tuitrain train` on every other machine
becomes one (`join`), its workers told nothing but where to meet.

The runner keeps the run's lock and the GPU claims while the workers train, so the run is
alive exactly as long as its agent is. A stop (the control file, which rank 0 reads, and
SIGTERM, which the agent passes on to every worker) is decided by rank 0 and reached by all
ranks at the same step. When a worker dies, the agent stops the others at once (gloo fails
every collective with a dead peer) and this module says which rank died and how in the run's
log and summary; the checkpoints written before stay the latest, and `tuitrain resume`
continues on any number of devices."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator

import psutil
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure
from torch.distributed.run import parse_args
from torch.distributed.run import run as torchrun

from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.nodes import Nodes
from tuitrain.core.recorder import Recorder
from tuitrain.core.rundir import RunDir

MONITOR_INTERVAL = 0.2  # seconds between the agent's looks at its workers
RENDEZVOUS_TIMEOUT = 600  # seconds node 0 waits for the other machines (torchrun's default)


def _agent_argv(nprocs: int, nodes: Nodes | None, device: str) -> list[str]:
    """torchrun's options for this machine's agent, up to the workers' module."""
    # The math threads this process was given, shared by its workers.
    threads = max(1, int(os.environ.get("OMP_NUM_THREADS", "1")) // nprocs)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    where = (["--standalone"] if nodes is None else [
        f"--nnodes={nodes.count}", f"--node-rank={nodes.rank}", f"--master-addr={nodes.host}",
        f"--master-port={nodes.port}", f"--rdzv-conf=timeout={RENDEZVOUS_TIMEOUT}"])
    return [*where, f"--nproc-per-node={nprocs}", f"--monitor-interval={MONITOR_INTERVAL}",
            # SIGTERM and SIGINT are passed on by `stops_passed_on`, not torchrun (SIGHUP is
            # ignored, as by a one-device run); SIGQUIT tears the workers down at once.
            "--signals-to-handle=SIGQUIT",
            "--module", "tuitrain.runner", "--worker", device]


@contextlib.contextmanager
def stops_passed_on() -> Iterator[list[int]]:
    """While this machine's agent runs: SIGTERM and SIGINT (collected in the yielded list)
    go on to its workers as SIGTERM, and each asks for a stop in the next decision; the
    agent goes on watching them until they end, as after any end of training. (torchrun's
    own handling would leave at once, skipping the barrier where the agents of a run on
    several machines wait for each other at the end: the others would wait minutes.) One
    that comes before there are workers ends the agent, as torchrun's would."""
    received: list[int] = []

    def pass_on(signum: int, frame: object) -> None:
        received.append(signum)
        workers = [c for c in psutil.Process().children() if _is_worker(c)]
        if not workers:
            raise SignalException(f"stopped by {signal.Signals(signum).name}",
                                  signal.Signals(signum))
        for worker in workers:
            with contextlib.suppress(psutil.Error):
                worker.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _is_worker(process: psutil.Process) -> bool:
    try:
        return "--worker" in process.cmdline()
    except psutil.Error:
        return False


def launch(run: RunDir, nprocs: int, resume: bool, control_offset: int,
           checkpoint_suffix: str, device: str, nodes: Nodes | None = None) -> int:
    """Train `run` on `nprocs` worker processes of this machine (with those of the other
    `nodes`, if any); the exit code."""
    argv = [*_agent_argv(nprocs, nodes, device), str(run.path.resolve()),
            "--control-offset", str(control_offset), *(["--resume"] if resume else [])]
    if nodes is not None:
        Recorder(run, run.read_spec()).log(
            "info", f"node 0 of {nodes.count}: waiting at {nodes.master} for the other machines "
            f"(up to {RENDEZVOUS_TIMEOUT} s)")
    started = time.time()
    try:
        with stops_passed_on():
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
        pass  # a stop before the workers started: rank 0 reads it from the control file
    return 0 if run.summary().get("status") in ("completed", "stopped") else 1


def join(nodes: Nodes, nprocs: int, device: str) -> int:
    """This machine's share of a run that node 0 hosts: `nprocs` workers, which learn the
    run folder from rank 0. Rank 0 records how the run ends; here, the exit code and, when
    a worker here failed, which and how."""
    print(nodes.joining(f"{nprocs} process(es)"), flush=True)
    try:
        with stops_passed_on() as received:
            torchrun(parse_args(_agent_argv(nprocs, nodes, device)))
    except ChildFailedError as exc:
        for rank, failure in sorted(exc.failures.items()):
            print(f"rank {rank} (pid {failure.pid}) {_how(failure)}", file=sys.stderr)
        return 1
    except SignalException as exc:
        return 128 + int(exc.sigval)
    return 128 + received[0] if received else 0


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
