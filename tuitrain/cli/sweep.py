"""`tuitrain sweep`: start a sweep (grid or random search over preset keys, each trial a
queued run), show its trials by the main metric, and resume it after a crash without redoing
finished trials. The search and the record are core/sweep.py; the trials run through the
queue (core/queue_db.py, core/scheduler.py)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tuitrain import backends
from tuitrain.cli.listing import table
from tuitrain.cli.options import overrides, runs_dir
from tuitrain.cli.queue import make_queued_run, queue_run, queued_summary
from tuitrain.cli.train import claim_resume, follow, stop_signals
from tuitrain.core import finetune, scheduler, slurm, sweep, validate
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.errors import UserError
from tuitrain.core.presets import apply_overrides, load_spec, spec_from_document
from tuitrain.core.queue_db import Entry, Queue
from tuitrain.core.recorder import monitor_of
from tuitrain.core.run_meta import RunMeta, read_meta, settings_text
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import RunSpec
from tuitrain.core.sweep_upkeep import resumable

FULL_DISK = 0.10  # warn when less than this share of the runs folder's disk is free


def _trials(args: argparse.Namespace) -> tuple[sweep.Search, tuple[str, ...], list[dict[str, Any]]]:
    if args.grid and (args.random is not None or args.param):
        raise UserError("--grid and --random/--param are two kinds of sweep; give one")
    if args.grid:
        return "grid", (args.grid,), sweep.grid_trials(sweep.parse_grid(args.grid))
    if args.random is None:
        raise UserError("sweep needs --grid 'KEY=V1,V2 ...' or --random N --param "
                        "'KEY=DIST(ARGS)'; see `tuitrain sweep -h`")
    params = [sweep.parse_param(p) for p in args.param]
    return "random", tuple(args.param), sweep.random_trials(params, args.random, args.search_seed)


def _trial_spec(args: argparse.Namespace, params: dict[str, Any], search: str) -> RunSpec:
    ov = overrides(args)
    ov.add("train.keep_checkpoints", args.keep_checkpoints,
           f"--keep-checkpoints {args.keep_checkpoints}")
    for key, value in params.items():
        ov.add(key, value, f"--{search} {key}={value}" if search == "grid"
               else f"--param {key} (drew {value!r})")
    return finetune.resolve_init(load_spec(args.preset, ov), runs_dir(args))


def cmd_sweep(args: argparse.Namespace) -> int:
    if not args.preset:
        raise UserError("sweep needs --preset NAME or a .toml path; see `tuitrain presets`")
    if args.keep_checkpoints < 1:
        raise UserError(f"--keep-checkpoints {args.keep_checkpoints}: must be 1 or more "
                        "(the last N are kept, and the best)")
    prune = args.prune or ""
    budget = sweep.parse_size(args.disk_budget) if args.disk_budget else None
    search, space, trials = _trials(args)
    runs = runs_dir(args)
    specs = [_trial_spec(args, params, search) for params in trials]
    backends.preflight(specs[0])  # the framework, a model file, the device: once
    for spec in specs[1:]:
        validate.check(spec)
    monitor, mode = monitor_of(specs[0])
    record = sweep.Sweep(
        sweep.new_id(args.preset, runs), args.preset, tuple(args.argv), search, space,
        monitor, mode, tuple(sweep.Trial(n, params) for n, params in enumerate(trials)), prune,
        args.keep_checkpoints, budget)
    if args.on == "slurm":
        return _on_slurm(args, runs, replace(record, on="slurm"), specs)
    if args.sbatch:
        raise UserError("--sbatch is for --on slurm")
    queue = Queue()
    if args.max_parallel is not None:
        queue.max_parallel = args.max_parallel
    path = sweep.write_sweep(runs, record)
    record = _queue_trials(queue, runs, record, dict(enumerate(specs)))
    warn_disk(runs)
    started = scheduler.ensure_running(queue)
    print(f"sweep {record.id}: {len(trials)} trials ({search}) queued, "
          f"{queue.max_parallel} at a time" + ("; scheduler started" if started else "")
          + (f"; pruning: {prune}" if prune else "") + f"\n  record: {path}\n"
          f"  show: tuitrain sweep show {record.id}   resume: tuitrain sweep resume {record.id}")
    return 0


def _queue_trials(queue: Queue, runs: Path, record: sweep.Sweep,
                  specs: dict[int, RunSpec]) -> sweep.Sweep:
    """Make and queue the given trials' runs, writing each one's run into the record as it
    is made (so a crash midway leaves a record that `sweep resume` completes)."""
    for n, spec in specs.items():
        trial = record.trials[n]
        entry = queue_run(queue, spec, runs, RunMeta(sweep=record.id, trial=n,
                                                     params=trial.params))
        record = record.with_run(n, entry.run.name)
        sweep.write_sweep(runs, record)
    return record


def _on_slurm(args: argparse.Namespace, runs: Path, record: sweep.Sweep,
              specs: list[RunSpec]) -> int:
    """Make every trial's run folder (`queued`) and submit them as one SLURM job array."""
    slurm.batch_tools()
    sweep.write_sweep(runs, record)
    for n, spec in enumerate(specs):
        trial = record.trials[n]
        run = make_queued_run(spec, runs, RunMeta(sweep=record.id, trial=n, params=trial.params))
        record = record.with_run(n, run.id)
        sweep.write_sweep(runs, record)
    record = _submit(runs, record, list(range(len(specs))), args.max_parallel, args.sbatch or "")
    warn_disk(runs)
    print(f"sweep {record.id}: {len(specs)} trials submitted to SLURM as job array "
          f"{record.slurm_job}\n  show: tuitrain sweep show {record.id}   "
          f"resume: tuitrain sweep resume {record.id}")
    return 0


def _submit(runs: Path, record: sweep.Sweep, tasks: list[int], parallel: int | None,
            extra: str) -> sweep.Sweep:
    script = sweep.sweeps_dir(runs) / f"{record.id}.sbatch"
    script.write_text(slurm.batch_script(record.id, runs, sweep.sweeps_dir(runs)))
    job = slurm.submit(script, tasks, parallel, extra)
    record = replace(record, slurm_job=job, slurm_options=extra, slurm_parallel=parallel)
    sweep.write_sweep(runs, record)
    return record


def warn_disk(runs: Path) -> None:
    """A warning line when the runs folder's disk is nearly full."""
    usage = shutil.disk_usage(runs)
    if usage.free < FULL_DISK * usage.total:
        print(f"warning: {runs} is on a disk with {usage.free / 2**30:.1f} GiB free of "
              f"{usage.total / 2**30:.0f} GiB; checkpoints may fill it (--keep-checkpoints, "
              "--disk-budget)", file=sys.stderr)


def trial_rows(runs: Path, record: sweep.Sweep) -> list[dict[str, Any]]:
    """Each trial with its run's row (status, best value), best first; `pruned` for a trial
    the pruner stopped."""
    rows = []
    for trial in record.trials:
        run = RunDir(runs / trial.run) if trial.run else None
        row: dict[str, Any] = {"trial": trial.n, "settings": settings_text(trial.params),
                               "params": trial.params, "run": trial.run, "status": "not made",
                               "best": None, "epochs": ""}
        if run is not None and run.config.is_file():
            try:
                summary = run.summary()
                status = run.status(summary)
            except UserError:
                summary, status = {}, "damaged"
            if status == "stopped" and read_meta(run.path).pruned:
                status = "pruned"
            row.update(status=status, best=summary.get("best_value"),
                       epochs=f"{summary.get('epochs_completed', 0)}/"
                              f"{summary.get('epochs', '?')}")
        rows.append(row)
    sign = -1 if record.mode == "max" else 1
    return sorted(rows, key=lambda r: (r["best"] is None, sign * (r["best"] or 0), r["trial"]))


def cmd_show(args: argparse.Namespace) -> int:
    runs = runs_dir(args)
    record = sweep.read_sweep(runs, args.sweep)
    rows = trial_rows(runs, record)
    if args.json:
        print(json.dumps({**asdict(record), "rows": rows}, indent=2, default=str))
        return 0
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"sweep {record.id}: {record.preset}, {record.search} search, {len(rows)} trials ("
          + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f"); by {record.monitor}"
          + (f" ({record.mode})" if record.mode else "")
          + (f"; pruning: {record.prune}" if record.prune else ""))
    print(table(["trial", "status", record.monitor, "epochs", "settings", "run"],
                [[str(r["trial"]), r["status"], "" if r["best"] is None else f"{r['best']:.4f}",
                  r["epochs"], r["settings"], r["run"]] for r in rows]))
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """Queue every trial that has not finished: never made, or interrupted (stopped by a
    person or a signal, crashed) — from its last checkpoint where it has one. Completed,
    failed and pruned trials, and those queued or running, are left as they are."""
    runs = runs_dir(args)
    record = sweep.read_sweep(runs, args.sweep)
    if record.on == "slurm":
        return _resume_on_slurm(runs, record)
    queue = Queue()
    missing: dict[int, RunSpec] = {}
    resumed = requeued = 0
    for trial in record.trials:
        run = RunDir(runs / trial.run) if trial.run else None
        if run is None or not run.config.is_file():
            missing[trial.n] = _base_spec(runs, record, trial)
            continue
        status = run.status_or("crashed")
        entry = queue.entry_for(run.path)
        if status == "queued":
            if entry is None or entry.state == "ended":  # its entry was lost with the queue
                _enqueue(queue, run, entry, record, resume=False)
                requeued += 1
            continue
        if not resumable(run.path):
            continue
        if CheckpointStore(run.checkpoints, "").latest() is not None:
            _enqueue(queue, run, entry, record, resume=True)
            resumed += 1
        else:  # nothing to resume from: the trial starts again in a new run
            missing[trial.n] = _base_spec(runs, record, trial)
    record = _queue_trials(queue, runs, record, missing)
    started = scheduler.ensure_running(queue)
    print(f"sweep {record.id}: {resumed} resumed from a checkpoint, {len(missing)} started "
          f"anew, {requeued} queued again" + ("; scheduler started" if started else ""))
    return 0


def _resume_on_slurm(runs: Path, record: sweep.Sweep) -> int:
    """Submit again, as a new job array, the trials that are neither finished nor still in
    SLURM's queue; each task resumes its trial from its checkpoint or starts it."""
    active = slurm.active_tasks(record.slurm_job) if record.slurm_job else set()
    tasks = []
    for trial in record.trials:
        if trial.n in active:
            continue
        run = RunDir(runs / trial.run) if trial.run else None
        if run is None or not run.config.is_file():
            run = make_queued_run(_base_spec(runs, record, trial), runs,
                                  RunMeta(sweep=record.id, trial=trial.n, params=trial.params))
            record = record.with_run(trial.n, run.id)
            sweep.write_sweep(runs, record)
        if run.status_or("crashed") == "queued" or resumable(run.path):
            tasks.append(trial.n)
    if not tasks:
        print(f"sweep {record.id}: nothing to resume ({len(active)} trials still in SLURM's "
              "queue)")
        return 0
    record = _submit(runs, record, tasks, record.slurm_parallel, record.slurm_options)
    print(f"sweep {record.id}: {len(tasks)} trials submitted again to SLURM as job array "
          f"{record.slurm_job}")
    return 0


def cmd_task(args: argparse.Namespace) -> int:
    """`tuitrain sweep task SWEEP N`: trial N in the foreground, as a SLURM array task runs
    it: resumed from its checkpoint when it has one, else started. SLURM's time-limit
    warning (SIGUSR1) stops it gracefully and requeues the task."""
    runs = runs_dir(args)
    record = sweep.read_sweep(runs, args.sweep)
    trial = record.trial(args.trial)
    run = RunDir.open(runs / trial.run)
    status = run.status_or("crashed")
    if status in ("completed", "failed") or (status == "stopped" and not resumable(run.path)):
        print(f"trial {trial.n} ({run.id}) is {status}: nothing to do")
        return 0
    with stop_signals(also=(signal.SIGUSR1,)) as received:
        if CheckpointStore(run.checkpoints, "").latest() is not None:
            claimed = claim_resume(run)
            print(f"trial {trial.n}: resuming {run.path}", flush=True)
            status, code = follow(run, received, resume=True, claimed=claimed)
        else:  # never started, or ended before its first checkpoint: from the start
            if status != "queued":
                run.write_summary(queued_summary(run.read_spec()))
            print(f"trial {trial.n}: training {run.path}", flush=True)
            status, code = follow(run, received)
    if signal.SIGUSR1 not in received or status != "stopped":
        return code
    task = f"{os.environ.get('SLURM_ARRAY_JOB_ID', '')}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    if slurm.requeue(task):
        print(f"time limit near: trial {trial.n} saved a checkpoint and task {task} is "
              "requeued; it resumes from there", flush=True)
        return 0
    print(f"scontrol requeue {task} failed: `tuitrain sweep resume {record.id}` continues "
          "the trial", file=sys.stderr)
    return code


def _base_spec(runs: Path, record: sweep.Sweep, trial: sweep.Trial) -> RunSpec:
    """A trial's spec, made again: a made trial's resolved config (its data's absolute
    path, its copy of a model file) with this trial's values; with none made, the sweep's
    command line parsed again."""
    made = next((RunDir(runs / t.run) for t in record.trials
                 if t.run and (runs / t.run / "config.toml").is_file()), None)
    if made is None:
        from tuitrain.cli.main import build_parser

        args = build_parser().parse_args(list(record.argv))
        return _trial_spec(args, trial.params, record.search)
    doc = apply_overrides(made.read_spec().to_document(), trial.params)
    return spec_from_document(doc, source=f"{made.config} (sweep {record.id}, trial {trial.n})")


def _enqueue(queue: Queue, run: RunDir, entry: Entry | None, record: sweep.Sweep,
             resume: bool) -> None:
    if entry is not None:
        queue.requeue(entry.id, resume=resume)
    else:
        spec = run.read_spec()
        queue.add(run.path, spec.run.device, spec.run.devices, resume=resume, sweep=record.id)
