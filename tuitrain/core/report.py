"""A shareable Markdown report of one or more runs (`tuitrain report`): their settings side
by side (what differs in bold), final and best metrics, the loss, main-metric and learning-
rate curves as SVG files beside the report (core/svg_chart.py), the test split's confusion
matrix where `tuitrain eval` wrote one, and each run's alerts and live changes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuitrain.core.atomic import write_atomic
from tuitrain.core.errors import UserError
from tuitrain.core.events import Alert, SettingChanged
from tuitrain.core.live import format_value
from tuitrain.core.rundir import RunDir
from tuitrain.core.runs_index import epoch_curves
from tuitrain.core.spec import RunSpec
from tuitrain.core.svg_chart import Series, line_chart

SETTINGS: tuple[tuple[str, str], ...] = (  # (row label, dotted key of the spec document)
    ("preset", "name"), ("framework", "run.framework"), ("device", "run.device"),
    ("devices", "run.devices"), ("data", "data.dataset"), ("epochs", "train.epochs"),
    ("batch size", "train.batch_size"), ("loss", "train.loss"),
    ("optimizer", "optimizer.name"), ("learning rate", "optimizer.lr"),
    ("weight decay", "optimizer.weight_decay"), ("schedule", "schedule.name"),
    ("precision", "run.precision"), ("seed", "run.seed"),
)
MATRIX_MAX = 12  # classes a confusion matrix shows in the report (eval.json has them all)


@dataclass(frozen=True)
class ReportRun:
    run: RunDir
    spec: RunSpec
    summary: dict[str, Any]
    curves: dict[str, list[tuple[int, float]]]


def _value(doc: dict[str, Any], key: str) -> str:
    for part in key.split("."):
        doc = doc.get(part, {}) if isinstance(doc, dict) else {}
    return "" if doc == {} else str(doc)


def _load(run: RunDir) -> ReportRun:
    return ReportRun(run, run.read_spec(), run.summary(), epoch_curves(run))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _settings(runs: list[ReportRun]) -> list[str]:
    docs = [r.spec.to_document() for r in runs]
    lines = ["| setting | " + " | ".join(_cell(r.run.id) for r in runs) + " |",
             "|---|" + "---|" * len(runs)]
    for label, key in SETTINGS:
        values = [_value(doc, key) for doc in docs]
        differ = len(set(values)) > 1
        cells = [f"**{_cell(v)}**" if differ and v else _cell(v) for v in values]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    params = [f"{r.summary.get('params', 0):,}" if r.summary.get("params") else ""
              for r in runs]
    lines.append("| parameters | " + " | ".join(params) + " |")
    return lines


def _results(runs: list[ReportRun]) -> list[str]:
    lines = ["| run | status | epochs | best | last val_loss | last metrics | train time |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        s = r.summary
        best = s.get("best_value")
        best_text = (f"{s.get('monitor', '')} {best:.4f} (epoch {s.get('best_epoch')})"
                     if isinstance(best, (int, float)) else "")
        metrics = s.get("metrics") or {}
        last = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                         if k not in ("lr", "val_loss") and isinstance(v, (int, float)))
        val_loss = metrics.get("val_loss")
        lines.append(
            f"| {_cell(r.run.id)} | {r.run.status_or('crashed')} | "
            f"{s.get('epochs_completed', 0)}/{s.get('epochs', '?')} | {best_text} | "
            + (f"{val_loss:.4g}" if isinstance(val_loss, (int, float)) else "") + f" | {last} | "
            f"{s.get('train_seconds', 0):.1f} s |")
    return lines


def _charts(runs: list[ReportRun], images: Path) -> dict[str, str]:
    """{file name: SVG} for the loss, the main metric and the learning rate."""
    def curve(r: ReportRun, key: str, label: str, dashed: bool = False) -> Series:
        points = r.curves.get(key, [])
        return Series(label, tuple(float(e) for e, _ in points), tuple(v for _, v in points),
                      dashed)

    single = len(runs) == 1
    name = (lambda r: "") if single else (lambda r: f"{r.run.id[9:15]} {r.spec.run.framework}")
    loss = [s for r in runs for s in (curve(r, "val_loss", f"{name(r)} val".strip()),
                                      curve(r, "loss", f"{name(r)} train".strip(), True))]
    metrics = [(r, r.summary.get("monitor") or f"val_{r.spec.main_metric}") for r in runs]
    metric = [curve(r, key, name(r) or key) for r, key in metrics]
    lr = [curve(r, "lr", name(r) or "lr") for r in runs]
    charts = {"loss.svg": line_chart("loss", loss, ylabel="loss"),
              "metric.svg": line_chart(metrics[0][1] if single else "main metric", metric),
              "lr.svg": line_chart("learning rate", lr, ylabel="lr")}
    images.mkdir(parents=True, exist_ok=True)
    for file, svg in charts.items():
        write_atomic(images / file, svg)
    return charts


def _confusion(r: ReportRun) -> list[str]:
    try:
        report = json.loads((r.run.path / "eval.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    matrix, names = report.get("confusion") or [], report.get("class_names") or []
    if not matrix:
        return []
    lines = [f"### {r.run.id}: test split ({report.get('checkpoint', '')})", ""]
    metrics = report.get("metrics") or {}
    lines.append(", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                           if isinstance(v, (int, float))))
    if len(matrix) > MATRIX_MAX:
        return [*lines, "", f"({len(matrix)} classes: the confusion matrix is in "
                f"{r.run.path / 'eval.json'})", ""]
    labels = [str(n) for n in names] or [str(i) for i in range(len(matrix))]
    lines += ["", "| true \\ predicted | " + " | ".join(map(_cell, labels)) + " |",
              "|---|" + "---|" * len(labels)]
    for label, row in zip(labels, matrix, strict=False):
        lines.append(f"| {_cell(label)} | " + " | ".join(str(v) for v in row) + " |")
    return [*lines, ""]


def _events(r: ReportRun) -> list[str]:
    out = []
    for e in r.run.events():
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.time))
        if isinstance(e, Alert):
            out.append(f"- {when} step {e.global_step}: alert `{e.alert}`: {e.message}")
        elif isinstance(e, SettingChanged):
            out.append(f"- {when} step {e.global_step}: set `{e.key}` "
                       f"{format_value(e.previous)} -> {format_value(e.value)}")
    return out


def write_report(refs: list[RunDir], out: Path) -> list[Path]:
    """Write the report to `out` and its charts to OUT_files/; returns the files written."""
    if not refs:
        raise UserError("report needs one or more runs")
    try:
        runs = [_load(r) for r in refs]
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read a run for the report: {exc}") from None
    images = out.parent / f"{out.stem}_files"
    charts = _charts(runs, images)
    rel = images.name
    lines = ["# tuitrain report", "",
             f"{len(runs)} run{'s' if len(runs) > 1 else ''}, written "
             f"{time.strftime('%Y-%m-%d %H:%M')}: " + ", ".join(f"`{r.run.id}`" for r in runs),
             "", "## Settings", "", *_settings(runs), "", "## Results", "", *_results(runs),
             "", "## Curves", "",
             f"![loss]({rel}/loss.svg)", "", f"![main metric]({rel}/metric.svg)", "",
             f"![learning rate]({rel}/lr.svg)", ""]
    matrices = [line for r in runs for line in _confusion(r)]
    if matrices:
        lines += ["## Confusion matrices", "", *matrices]
    events = [(r, _events(r)) for r in runs]
    if any(items for _, items in events):
        lines += ["## Alerts and live changes", ""]
        for r, items in events:
            if items:
                lines += [f"### {r.run.id}", "", *items, ""]
    write_atomic(out, "\n".join(lines).rstrip() + "\n")
    return [out, *(images / name for name in charts)]
