"""`tuitrain train`, `resume`, `compare` and `stop`: validate, create the run folder, start the
runner process, follow its events with a progress display, and stop it gracefully when this
command is asked to stop (SIGTERM, Ctrl+C); `--detach` leaves the run training on its own."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator

from tuitrain import backends
from tuitrain.cli.options import nodes, overrides, runs_dir
from tuitrain.cli.progress import Progress
from tuitrain.core import finetune, launch, notify
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.errors import UserError, choices_error
from tuitrain.core.events import RunEnded
from tuitrain.core.liveness import Lock
from tuitrain.core.nodes import Nodes
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import EventTail, RunDir, find_run, queued_note
from tuitrain.core.runs_index import compare_table, resume_spec
from tuitrain.core.spec import RunSpec
from tuitrain.core.validate import check_nodes

EXIT = {"completed": 0, "stopped": 130, "failed": 1, "crashed": 1}


@contextlib.contextmanager
def stop_signals(also: tuple[signal.Signals, ...] = ()) -> Iterator[list[int]]:
    """Collect SIGTERM and SIGINT (in the yielded list) for the whole command, from before
    its run folder exists, so that no stop signal finds the default action. A SIGINT
    ignored when this process started stays ignored: that is how non-interactive shells
    protect background jobs from the terminal's Ctrl+C. SIGHUP keeps its default: the CLI
    goes with its terminal and the runner, in a session of its own, trains on. `also`:
    more signals that stop the run (SLURM's time-limit warning)."""
    received: list[int] = []
    signums = [signal.SIGTERM, *also]
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signums.append(signal.SIGINT)
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum))
                for s in signums}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def follow(run: RunDir, received: list[int], resume: bool = False,
           claimed: Lock | None = None, nodes: Nodes | None = None) -> tuple[str, int]:
    """Start the runner and show its progress until it ends; returns the final status and the
    exit code. `received`: the stop signals collected by `stop_signals()`.

    A first stop signal asks for a graceful stop (finish the step, checkpoint) and the CLI
    exits 128 + the signal's number once the run has stopped; a second kills the runner. One
    that came before the runner started stops it as soon as it starts."""
    proc = launch.start_runner(run, resume=resume, claimed=claimed, nodes=nodes)
    progress = Progress(sys.stdout)
    tail = EventTail(run.metrics)
    if resume:
        tail.offset = run.metrics.stat().st_size if run.metrics.exists() else 0
    asked = 0  # stop signals acted on
    while True:
        for event in tail.read():
            progress.feed(event)
            if isinstance(event, RunEnded):
                proc.wait()
                return event.status, _exit_code(event.status, received)
        if proc.poll() is not None:
            for event in tail.read():
                progress.feed(event)
            status = run.status()
            if status == "crashed":
                notify.notify_crashed(run.path)
            return status, _exit_code(status, received)
        if len(received) > asked:
            asked = len(received)
            name = signal.Signals(received[-1]).name
            if asked > 1:
                launch.kill_after(run, proc, 0)
                print(f"\n{name} again: killed the runner", file=sys.stderr)
                return "stopped", _exit_code("stopped", received)
            print(f"\n{name}: stopping, finishing the step and saving a checkpoint "
                  "(again to kill)", file=sys.stderr)
            launch.request_stop(run)
        time.sleep(0.05)


def _exit_code(status: str, received: list[int]) -> int:
    """128 + the signal that stopped the run (130 for Ctrl+C, 143 for SIGTERM), else by status."""
    return 128 + received[0] if received else EXIT.get(status, 1)


def detach(run: RunDir, resume: bool = False, claimed: Lock | None = None,
           nodes: Nodes | None = None) -> int:
    """Start the runner and return at once: the run outlives this command on purpose."""
    launch.start_runner(run, resume=resume, claimed=claimed, nodes=nodes)
    print(f"training in the background: {run.path}\n"
          f"  watch:  tuitrain watch {run.id}\n"
          f"  stop:   tuitrain stop {run.id}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    with stop_signals() as received:
        return _train(args, received)


def _train(args: argparse.Namespace, received: list[int]) -> int:
    if not args.preset:
        raise UserError("train needs --preset NAME or a .toml path; see `tuitrain presets`")
    spec = finetune.resolve_init(load_spec(args.preset, overrides(args)), runs_dir(args))
    machines = nodes(args)
    if machines is not None:
        check_nodes(spec, machines)
        if not machines.leads:
            return _join(backends.preflight(spec), machines, args.detach)
    run = RunDir.create(runs_dir(args), backends.preflight(spec))
    if args.detach:
        return detach(run, nodes=machines)
    print(f"run folder: {run.path}")
    return follow(run, received, nodes=machines)[1]


def _join(spec: RunSpec, machines: Nodes, detached: bool) -> int:
    """Node 1.. of a run on several machines: this command trains this machine's share, in
    the foreground, until the run ends (node 0 holds the run folder and shows progress)."""
    if detached:
        raise UserError(f"--detach starts node 0's runner; on node {machines.rank} run this "
                        "command under tmux or nohup instead (it trains until the run ends)")
    from tuitrain import runner

    return runner.join_run(spec, machines)


def cmd_resume(args: argparse.Namespace) -> int:
    with stop_signals() as received:
        return _resume(args, received)


def _resume(args: argparse.Namespace, received: list[int]) -> int:
    run = find_run(args.run, runs_dir(args))
    machines = nodes(args)
    if machines is not None and not machines.leads:  # node 0 holds the run and updates it
        spec = resume_spec(run, args.epochs, args.devices, write=False)
        check_nodes(spec, machines)
        return _join(backends.preflight(spec, resume=True), machines, args.detach)
    claimed = claim_resume(run, args.epochs, args.devices, machines)
    if args.detach:
        return detach(run, resume=True, claimed=claimed, nodes=machines)
    print(f"resuming {run.path}")
    return follow(run, received, resume=True, claimed=claimed, nodes=machines)[1]


def claim_resume(run: RunDir, epochs: int | None = None, devices: str | None = None,
                 machines: Nodes | None = None) -> Lock:
    """Claim the run for a resume and make every check (its lock held for the runner).
    The run is claimed first: two resumes started together cannot both pass the checks."""
    claimed = launch.claim(run)
    try:
        # Checked here: a runner started without a checkpoint would overwrite the run's status.
        if CheckpointStore(run.checkpoints, "").latest() is None:
            raise UserError(f"{run.id}: no complete checkpoint to resume from; "
                            "start it again with `tuitrain train`")
        spec = resume_spec(run, epochs, devices)
        if machines is not None:
            check_nodes(spec, machines)
        backends.preflight(spec, resume=True)
    except BaseException:
        claimed.release()
        raise
    return claimed


def cmd_stop(args: argparse.Namespace) -> int:
    """`tuitrain stop RUN`: a graceful stop, then wait (up to `--wait` s) for the run to end."""
    run = find_run(args.run, runs_dir(args))
    if not run.is_alive():
        status = run.status()
        raise UserError(queued_note(run.id) if status == "queued"
                        else f"{run.id} is not running (it is {status})")
    launch.request_stop(run)
    print(f"stopping {run.id}: finishing the step and saving a checkpoint")
    deadline = time.monotonic() + args.wait
    while run.is_alive():
        if time.monotonic() > deadline:
            print(f"{run.id} is still stopping after {args.wait:g} s; "
                  f"see {run.path / 'runner.log'}", file=sys.stderr)
            return 1
        time.sleep(0.1)
    status = run.status()
    print(f"{run.id}: {status}")
    return 0 if status == "stopped" else EXIT.get(status, 1)


def cmd_compare(args: argparse.Namespace) -> int:
    with stop_signals() as received:
        return _compare(args, received)


def _compare(args: argparse.Namespace, received: list[int]) -> int:
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    if not frameworks:
        raise UserError("--frameworks needs one or more of: torch, tensorflow, keras")
    for fw in frameworks:
        if fw not in backends.MODULES:
            raise choices_error("framework", fw, backends.MODULES, where="--frameworks")
    specs = []
    for fw in frameworks:
        args.framework = fw
        spec = finetune.resolve_init(load_spec(args.preset, overrides(args)), runs_dir(args))
        specs.append(backends.preflight(spec))
    rows = []
    for spec in specs:
        run = RunDir.create(runs_dir(args), spec)
        print(f"\n== {spec.run.framework}: {run.path}")
        status, code = follow(run, received)
        rows.append((run, status))
        if status == "stopped":
            break
    print()
    print(compare_table([r for r, _ in rows]))
    return 0 if all(s == "completed" for _, s in rows) else code
