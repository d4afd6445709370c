"""Test-set metrics computed from model outputs: accuracy, per-class precision and recall,
and the confusion matrix (classification); MAE and RMSE (regression). Pure NumPy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Report:
    """What `tuitrain eval` prints and writes to `eval.json`."""

    metrics: dict[str, float]
    class_names: tuple[str, ...] = ()
    precision: tuple[float, ...] = ()
    recall: tuple[float, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = field(default_factory=tuple)


def predictions(outputs: np.ndarray, binary: bool) -> np.ndarray:
    """Class indices from logits."""
    return (outputs[:, 0] > 0).astype(np.int64) if binary else outputs.argmax(axis=-1)


def classification_report(outputs: np.ndarray, targets: np.ndarray, class_names: tuple[str, ...],
                          metrics: dict[str, float], binary: bool = False) -> Report:
    k = len(class_names)
    pred = predictions(outputs, binary)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (targets.astype(np.int64), pred), 1)
    tp = np.diag(confusion).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / confusion.sum(axis=0))
        recall = np.nan_to_num(tp / confusion.sum(axis=1))
    all_metrics = {**metrics, "accuracy": float(tp.sum() / max(1, len(targets)))}
    return Report(all_metrics, class_names, tuple(map(float, precision)), tuple(map(float, recall)),
                  tuple(tuple(int(v) for v in row) for row in confusion))


def regression_report(outputs: np.ndarray, targets: np.ndarray,
                      metrics: dict[str, float]) -> Report:
    err = outputs.reshape(targets.shape) - targets
    return Report({**metrics, "mae": float(np.abs(err).mean()),
                   "rmse": float(np.sqrt((err**2).mean()))})


def render(report: Report) -> list[str]:
    """Plain-text lines: metrics, then the per-class table and confusion matrix."""
    lines = ["  ".join(f"{k} {v:.4f}" for k, v in report.metrics.items())]
    if report.class_names:
        width = max(5, *(len(n) for n in report.class_names))
        lines += ["", f"{'class':<{width}}  precision  recall"]
        for name, p, r in zip(report.class_names, report.precision, report.recall, strict=True):
            lines.append(f"{name:<{width}}  {p:9.3f}  {r:6.3f}")
        cell = max(4, *(len(str(v)) for row in report.confusion for v in row)) + 1
        lines += ["", "confusion (rows: true, columns: predicted)"]
        heads = "".join(f"{n[:cell - 1]:>{cell}}" for n in report.class_names)
        lines.append(" " * (width + 1) + heads)
        for name, row in zip(report.class_names, report.confusion, strict=True):
            lines.append(f"{name:<{width}} " + "".join(f"{v:>{cell}}" for v in row))
    return lines
