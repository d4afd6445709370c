"""Test-set metrics computed from model outputs: accuracy, per-class precision and recall,
and the confusion matrix (classification); MAE and RMSE, in the data's own units when the
run saved its statistics (regression). Pure NumPy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

REAL_UNITS = "metrics in the data's units (de-standardized with the run's saved statistics)"
STANDARDIZED_UNITS = (
    "metrics in standardized units (the run predates saved statistics: no preprocessing.json)"
)


@dataclass(frozen=True)
class Report:
    """What `tuitrain eval` prints and writes to `eval.json`."""

    metrics: dict[str, float]
    class_names: tuple[str, ...] = ()
    precision: tuple[float, ...] = ()
    recall: tuple[float, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = field(default_factory=tuple)
    units: str = ""  # regression: the units the metrics are in, as a line


def predictions(outputs: np.ndarray, binary: bool) -> np.ndarray:
    """Class indices from logits."""
    return (outputs[:, 0] > 0).astype(np.int64) if binary else outputs.argmax(axis=-1)


def classification_report(outputs: np.ndarray, targets: np.ndarray, class_names: tuple[str, ...],
                          metrics: dict[str, float], binary: bool = False) -> Report:
    """Accuracy, per-class precision and recall and the confusion matrix over every label:
    one per sample, or with labels per position those that ask something (target >= 0)."""
    k = len(class_names)
    asked = targets >= 0
    pred, targets = predictions(outputs, binary)[asked], targets[asked]
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (targets.astype(np.int64), pred), 1)
    tp = np.diag(confusion).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / confusion.sum(axis=0))
        recall = np.nan_to_num(tp / confusion.sum(axis=1))
    all_metrics = {**metrics, "accuracy": float(tp.sum() / max(1, len(targets)))}
    return Report(all_metrics, class_names, tuple(map(float, precision)), tuple(map(float, recall)),
                  tuple(tuple(int(v) for v in row) for row in confusion))


def regression_report(outputs: np.ndarray, targets: np.ndarray, metrics: dict[str, float],
                      loss: str, real_units: bool) -> Report:
    """MAE and RMSE of `outputs` against `targets`, both in the data's units when
    `real_units` (else standardized); so is the loss where it is an MAE or MSE (a Huber
    loss depends on the scale it was computed at and stays standardized)."""
    err = outputs.reshape(targets.shape).astype(np.float64) - targets
    mae, mse = float(np.abs(err).mean()), float((err**2).mean())
    all_metrics = {**metrics, "mae": mae, "rmse": float(np.sqrt(mse))}
    units = REAL_UNITS if real_units else STANDARDIZED_UNITS
    if real_units and loss in ("mse", "mae"):
        all_metrics["loss"] = mse if loss == "mse" else mae
    elif real_units and "loss" in all_metrics:
        units += f"; the {loss} loss in standardized units"
    return Report(all_metrics, units=units)


def render(report: Report) -> list[str]:
    """Plain-text lines: metrics, then the per-class table and confusion matrix; where the
    matrix would be wider than WIDTH columns (a character-level model's 96 classes), the
    classes recalled worst and the pairs confused most instead (all of it is in eval.json)."""
    lines = ["  ".join(f"{k} {v:.4f}" for k, v in report.metrics.items())]
    if report.units:
        lines.append(report.units)
    if not report.class_names:
        return lines
    names = report.class_names
    width = max(5, *(len(n) for n in names))
    if matrix_fits(names, report.confusion):
        cell = _cell(report.confusion)
        return lines + _table(report, range(len(names)), width, "") + _matrix(report, width, cell)
    worst = worst_recalled(report.recall, report.confusion)
    heading = f" ({len(worst)} of {len(names)} recalled worst; every class in eval.json)"
    lines += _table(report, worst, width, heading)
    lines += ["", "confused most (true -> predicted: samples)"]
    lines += [f"{names[t]:>{width}} -> {names[p]:<{width}}  {n}"
              for t, p, n in confused_most(report.confusion)]
    return lines


WIDTH = 100  # columns a confusion matrix may take before it is summarized
SHOWN = 10  # classes and confused pairs a summary lists


def matrix_fits(names: Sequence[str], confusion: Sequence[Sequence[int]]) -> bool:
    """Whether the whole matrix fits in WIDTH columns; else it is shown summarized (the
    CLI's report and the dashboard's evaluation screen decide alike)."""
    width = max(5, *(len(n) for n in names)) if names else 5
    return width + 1 + _cell(confusion) * len(names) <= WIDTH


def worst_recalled(recall: Sequence[float], confusion: Sequence[Sequence[int]]) -> list[int]:
    """The SHOWN classes with samples that were recalled worst, worst first."""
    support = np.array(confusion).sum(axis=1)
    present = np.flatnonzero(support)
    return [int(i) for i in present[np.argsort(np.array(recall)[present], kind="stable")][:SHOWN]]


def confused_most(confusion: Sequence[Sequence[int]]) -> list[tuple[int, int, int]]:
    """The SHOWN largest off-diagonal cells as (true, predicted, samples), largest first."""
    off = np.array(confusion)
    np.fill_diagonal(off, 0)
    cells = [divmod(int(i), len(off)) for i in np.argsort(-off, axis=None, kind="stable")[:SHOWN]]
    return [(t, p, int(off[t, p])) for t, p in cells if off[t, p] > 0]


def _cell(confusion: Sequence[Sequence[int]]) -> int:
    return max(4, *(len(str(v)) for row in confusion for v in row)) + 1


def _table(report: Report, rows: Iterable[int], width: int, heading: str) -> list[str]:
    lines = ["", f"{'class':<{width}}  precision  recall{heading}"]
    for i in rows:
        name, p, r = report.class_names[i], report.precision[i], report.recall[i]
        lines.append(f"{name:<{width}}  {p:9.3f}  {r:6.3f}")
    return lines


def _matrix(report: Report, width: int, cell: int) -> list[str]:
    lines = ["", "confusion (rows: true, columns: predicted)"]
    heads = "".join(f"{n[:cell - 1]:>{cell}}" for n in report.class_names)
    lines.append(" " * (width + 1) + heads)
    for name, row in zip(report.class_names, report.confusion, strict=True):
        lines.append(f"{name:<{width}} " + "".join(f"{v:>{cell}}" for v in row))
    return lines
