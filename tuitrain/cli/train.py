"""`tuitrain train`, `resume` and `compare`: validate, create the run folder, start the runner
process, follow its events with a progress display, and stop it gracefully on Ctrl+C."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from tuitrain import backends
from tuitrain.cli.options import overrides, runs_dir
from tuitrain.cli.progress import Progress
from tuitrain.core import launch, validate
from tuitrain.core.errors import UserError
from tuitrain.core.events import RunEnded
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import EventTail, RunDir, find_run
from tuitrain.core.spec import RunSpec

EXIT = {"completed": 0, "stopped": 130, "failed": 1}


def prepare(spec: RunSpec) -> RunSpec:
    """Everything that can be checked before a process starts."""
    validate.check(spec)
    if not backends.is_installed(spec.run.framework):
        raise UserError(f"{spec.run.framework} is not installed; install it with: "
                        f"{backends.INSTALL[spec.run.framework]}")
    return spec


def follow(run: RunDir, resume: bool = False, quiet: bool = False) -> str:
    """Start the runner and show its progress until it ends; returns the final status.

    The first Ctrl+C asks for a graceful stop (finish the step, checkpoint); a second one
    within the grace period kills the runner."""
    proc = launch.start_runner(run, resume=resume)
    progress = Progress(open("/dev/null", "w") if quiet else sys.stdout)  # noqa: SIM115
    tail = EventTail(run.metrics)
    if resume:
        tail.offset = run.metrics.stat().st_size if run.metrics.exists() else 0
    stopping = False
    while True:
        try:
            for event in tail.read():
                progress.feed(event)
                if isinstance(event, RunEnded):
                    proc.wait()
                    return event.status
            if proc.poll() is not None:
                for event in tail.read():
                    progress.feed(event)
                return run.status() if run.status() != "interrupted" else "failed"
            time.sleep(0.05)
        except KeyboardInterrupt:
            if stopping:
                launch.kill_after(run, proc, 0)
                print("\nkilled the runner", file=sys.stderr)
                return "stopped"
            stopping = True
            print("\nstopping: finishing the step and saving a checkpoint (Ctrl+C again to kill)",
                  file=sys.stderr)
            launch.request_stop(run)


def cmd_train(args: argparse.Namespace) -> int:
    if not args.preset:
        raise UserError("train needs --preset NAME or a .toml path; see `tuitrain presets`")
    spec = prepare(load_spec(args.preset, overrides(args)))
    run = RunDir.create(runs_dir(args), spec)
    print(f"run folder: {run.path}")
    status = follow(run)
    return EXIT.get(status, 1)


def cmd_resume(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args))
    if run.is_alive():
        raise UserError(f"{run.id} is still running; watch it with `tuitrain watch {run.id}`")
    spec = run.read_spec()
    done = run.summary().get("epochs_completed", 0)
    if args.epochs is not None:
        if args.epochs <= done:
            raise UserError(f"--epochs must be more than the {done} epochs already completed")
        spec = replace(spec, train=replace(spec.train, epochs=args.epochs))
        run.write_spec(spec)
    elif done >= spec.train.epochs and run.summary().get("status") == "completed":
        raise UserError(f"{run.id} already completed {done} epochs; pass --epochs N to train longer")
    prepare(spec)
    print(f"resuming {run.path}")
    return EXIT.get(follow(run, resume=True), 1)


def cmd_compare(args: argparse.Namespace) -> int:
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    for fw in frameworks:
        if fw not in backends.MODULES:
            raise UserError(f"unknown framework {fw!r} in --frameworks; valid: torch, tensorflow, keras")
    specs = []
    for fw in frameworks:
        args.framework = fw
        specs.append(prepare(load_spec(args.preset, overrides(args))))
    rows = []
    for spec in specs:
        run = RunDir.create(runs_dir(args), spec)
        print(f"\n== {spec.run.framework}: {run.path}")
        status = follow(run)
        rows.append((run, status))
        if status == "stopped":
            break
    print()
    print(compare_table([r for r, _ in rows]))
    return 0 if all(s == "completed" for _, s in rows) else 1


def compare_table(runs: list[RunDir]) -> str:
    """The comparison a person reads to choose a framework on this machine."""
    header = ["framework", "device", "params", "s/epoch", "samples/s", "val_loss", "metric", "peak MB", "status"]
    lines = []
    for run in runs:
        s = run.summary()
        m = s.get("metrics", {})
        epochs = max(1, s.get("epochs_completed", 0))
        per_epoch = s.get("train_seconds", 0.0) / epochs
        rate = s.get("train_samples", 0) / max(s.get("train_seconds", 0.0), 1e-9)
        monitor = s.get("monitor", "")
        lines.append([
            s.get("framework", "?"), s.get("device", "?"), f"{s.get('params', 0):,}",
            f"{per_epoch:.2f}", f"{rate:,.0f}", f"{m.get('val_loss', float('nan')):.4f}",
            f"{monitor} {m.get(monitor, float('nan')):.4f}", f"{s.get('peak_memory_mb', 0):,.0f}",
            s.get("status", "?"),
        ])
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in lines])

