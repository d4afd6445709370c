"""A run's evaluation on its test split, as `tuitrain eval` wrote it to `eval.json`: the
metrics, per-class precision and recall, and the confusion matrix drawn in the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tuitrain.core.evaluation import matrix_fits, worst_recalled
from tuitrain.ui.widgets.confusion_matrix import ConfusionMatrix


def metrics_text(report: dict[str, Any]) -> Text:
    """'accuracy 0.9650   loss 0.1123' with the checkpoint and split below."""
    text = Text()
    for i, (name, value) in enumerate(sorted(report.get("metrics", {}).items())):
        text.append("   " if i else "")
        text.append(f"{name} ", style="bold")
        text.append(f"{value:.4f}" if isinstance(value, (int, float)) else str(value))
    samples = sum(sum(row) for row in report.get("confusion", []))
    where = f"\ncheckpoint {report.get('checkpoint', '?')} on the {report.get('split', '?')} split"
    text.append(where + (f" ({samples:,} samples)" if samples else ""), style="dim")
    if report.get("units"):  # regression: real or standardized units
        text.append(f"\n{report['units']}", style="dim")
    return text


def per_class_table(report: dict[str, Any]) -> Group:
    """Precision, recall and support per class; weak values (< 0.5) stand out. Where the
    confusion matrix is too wide to draw, only the classes recalled worst."""
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for name, justify in (("class", "left"), ("precision", "right"), ("recall", "right"),
                          ("support", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    names, confusion = report.get("class_names", []), report.get("confusion", [])
    precision, recall = report.get("precision", []), report.get("recall", [])
    rows = range(min(len(names), len(precision), len(recall), len(confusion)))
    heading = "per class"
    if not matrix_fits(names, confusion):
        rows = worst_recalled(recall, confusion)
        heading = f"per class · the {len(rows)} of {len(names)} recalled worst (all in eval.json)"
    for i in rows:
        cells = [Text(f"{v:.3f}", style="red" if v < 0.5 else "")
                 for v in (precision[i], recall[i])]
        table.add_row(str(names[i]), *cells, str(sum(confusion[i])))
    return Group(Text(heading, style="dim"), table)


class EvaluationScreen(Screen[None]):
    """The test metrics of one run; Escape goes back."""

    BINDINGS = [Binding("escape,q", "back", "Back")]  # noqa: RUF012
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012

    def __init__(self, run_id: str, report: dict[str, Any]) -> None:
        super().__init__(id="evaluation")
        self.run_id = run_id
        self.report = report

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="eval-body"):
            yield Static(Text(f"Evaluation of {self.run_id}", style="bold"), id="eval-title")
            yield Static(metrics_text(self.report), id="eval-metrics")
            if self.report.get("class_names"):
                with Horizontal(id="eval-tables"):
                    yield Static(per_class_table(self.report), id="eval-per-class")
                    yield ConfusionMatrix(id="eval-confusion")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"evaluation · {self.run_id}"
        if self.report.get("class_names"):
            self.query_one(ConfusionMatrix).show(self.report["class_names"],
                                                 self.report.get("confusion", []))

    def action_back(self) -> None:
        self.dismiss()
