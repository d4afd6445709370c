"""Framework-free views of the runs folder, shared by `tuitrain runs`, `tuitrain compare` and
the runs screen: one row per run (a damaged folder gets its own row), the framework
comparison table (first-epoch time apart from the steady speed), per-epoch curves for
overlays, and what resuming a run needs."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from tuitrain.core.errors import UserError
from tuitrain.core.run_meta import RunMeta, read_meta, settings_text
from tuitrain.core.rundir import RunDir
from tuitrain.core.spec import RunSpec
from tuitrain.core.validate import check_devices

COMPARE_HEADER: tuple[str, ...] = (
    "framework", "device", "params", "1st epoch s", "s/epoch", "samples/s", "val_loss", "metric",
    "peak MB", "status",
)
# A cheap pre-filter for `metrics.jsonl`: only epoch lines are parsed for curves.
_EPOCH_MARK = '"event": "epoch"'


def run_row(run: RunDir, summary: dict[str, Any] | None = None,
            meta: RunMeta | None = None) -> dict[str, Any]:
    """One run for listings (`summary` and `meta`: those just read, if the caller has them);
    a damaged folder is reported in its own row. `alerts`: how many health alerts it raised
    (core/alerts.py), `last_alert` the latest's text; `best_value` the number `best` shows;
    `tags`, `note`, `sweep` and the trial's `settings` from its meta.json
    (core/run_meta.py)."""
    try:
        s = run.summary() if summary is None else summary
        status = run.status(s)
    except UserError as exc:
        return {"id": run.id, "status": "damaged", "error": str(exc)}
    if not s:  # the runner has not written a summary yet: the config says what it is
        s = _config_facts(run)
    meta = read_meta(run.path) if meta is None else meta
    best = s.get("best_value")
    started = s.get("started")
    return {
        "id": run.id, "preset": s.get("preset", "?"), "framework": s.get("framework", "?"),
        "status": status, "epochs": f"{s.get('epochs_completed', 0)}/{s.get('epochs', '?')}",
        "best": f"{s.get('monitor', '')} {best:.4f}" if isinstance(best, (int, float)) else "",
        "best_value": best if isinstance(best, (int, float)) else None,
        "device": s.get("parallel") or s.get("device", ""),
        "world_size": s.get("world_size", 1),
        "global_batch": s.get("global_batch"),
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)) if started else "",
        "error": s.get("error", ""),
        "alerts": s.get("alert_count", 0),
        "last_alert": (s.get("alerts") or [{}])[-1].get("message", ""),
        "tags": list(meta.tags), "note": meta.note, "sweep": meta.sweep,
        "settings": settings_text(meta.params),
    }


def _config_facts(run: RunDir) -> dict[str, Any]:
    """Preset, framework and epochs from a run's config, for a run with no summary yet."""
    try:
        spec = run.read_spec()
    except (UserError, OSError):
        return {}
    return {"preset": spec.name, "framework": spec.run.framework, "epochs": spec.train.epochs}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


def compare_rows(runs: list[RunDir]) -> list[list[str]]:
    """One row of `COMPARE_HEADER` cells per run; a damaged run says so."""
    rows = []
    for run in runs:
        try:
            s = run.summary()
        except UserError:
            rows.append([run.id, *[""] * (len(COMPARE_HEADER) - 2), "damaged"])
            continue
        if not s:
            facts = _config_facts(run)
            rows.append([facts.get("framework", "?"), *[""] * (len(COMPARE_HEADER) - 2),
                         run.status(s)])
            continue
        m = s.get("metrics", {})
        epochs = max(1, s.get("epochs_completed", 0))
        # The first epoch carries tracing and compilation (TensorFlow, Keras, torch.compile);
        # the others say how fast the framework trains here: their median is the speed.
        seconds = [t for _, t in sorted(epoch_seconds(run).items())]
        first = seconds[0] if seconds else math.nan
        steady = statistics.median(seconds[1:]) if len(seconds) > 1 else first
        per_epoch = s.get("train_samples", 0) / epochs
        rate = per_epoch / steady if steady > 0 else 0.0
        monitor = s.get("monitor", "")
        rows.append([
            s.get("framework", "?"), s.get("device", "?"), f"{s.get('params', 0):,}",
            f"{first:.2f}", f"{steady:.2f}", f"{rate:,.0f}", f"{_number(m.get('val_loss')):.4f}",
            f"{monitor} {_number(m.get(monitor)):.4f}", f"{s.get('peak_memory_mb', 0):,.0f}",
            run.status(s),
        ])
    return rows


def compare_table(runs: list[RunDir]) -> str:
    """The comparison a person reads to choose a framework on this machine, as text."""
    lines = compare_rows(runs)
    header = list(COMPARE_HEADER)
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    rule = fmt.format(*("-" * w for w in widths))
    return "\n".join([fmt.format(*header), rule] + [fmt.format(*r) for r in lines])


def _epoch_lines(run: RunDir) -> Iterator[dict[str, Any]]:
    """The epoch events of the run's log, as raw dicts. Only epoch lines are parsed, so a long
    log of batch lines reads quickly; an unreadable log has none."""
    try:
        with open(run.metrics, encoding="utf-8", errors="replace") as f:
            for line in f:
                if _EPOCH_MARK not in line:
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue
                if raw.get("event") == "epoch" and isinstance(raw.get("epoch"), int):
                    yield raw
    except OSError:
        return


def epoch_curves(run: RunDir) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch values from the run's log: metric name -> [(epoch number, value), ...];
    a resumed run that repeated an epoch keeps the later value."""
    curves: dict[str, dict[int, float]] = {}
    for raw in _epoch_lines(run):
        for name, value in (raw.get("metrics") or {}).items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                curves.setdefault(name, {})[raw["epoch"] + 1] = float(value)
    return {name: sorted(points.items()) for name, points in curves.items()}


def epoch_seconds(run: RunDir) -> dict[int, float]:
    """Training seconds of each epoch (epoch number -> seconds); a repeated epoch keeps the
    later value."""
    return {raw["epoch"] + 1: float(raw["seconds"]) for raw in _epoch_lines(run)
            if isinstance(raw.get("seconds"), (int, float))}


def resume_spec(run: RunDir, epochs: int | None = None, devices: str | None = None,
                write: bool = True) -> RunSpec:
    """The spec to resume `run` with, or a UserError saying why it cannot be resumed.

    `epochs` sets a new total (it must exceed the epochs done), `devices` how many devices
    train from here on (a run continues mid-epoch on any number: the global batch stays);
    both are written to the folder (`write`): the caller holds the run's lock
    (`launch.claim`), so no runner is reading it. A machine joining node 0's resume writes
    nothing: the folder is node 0's."""
    summary = run.summary()
    spec = run.read_spec()
    if devices is not None:
        spec = spec.with_run(devices=devices)
        check_devices(spec)  # or its one-line error, before anything is written
    done = summary.get("epochs_completed", 0)
    if epochs is not None:
        if epochs <= done:
            raise UserError(f"--epochs must be more than the {done} epochs already completed")
        spec = replace(spec, train=replace(spec.train, epochs=epochs))
    elif done >= spec.train.epochs and summary.get("status") == "completed":
        raise UserError(
            f"{run.id} already completed {done} epochs; pass --epochs N to train longer"
        )
    if write and (devices is not None or epochs is not None):
        run.write_spec(spec)
    return spec
