"""The model summary for the current choice: dataset, every layer's output shape and
parameters as a tree (the layers inside a block on branches under it), and the total for
the chosen framework — computed by `core.shapes`, so no framework is imported to show it;
for a person's own model file, what its `build_model` is given."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from tuitrain.core import model_file
from tuitrain.core.catalog import FRAMEWORK_TITLES
from tuitrain.core.validate import output_units

if TYPE_CHECKING:
    from tuitrain.core.datasets import DatasetInfo
    from tuitrain.core.shapes import Summary
    from tuitrain.core.spec import RunSpec


def summary_table(summary: Summary) -> Text:
    """The layer tree in aligned columns (core's `Summary.table`): the header bold, notes
    (a block's own parameters, PyTorch's extra LSTM bias) dim. Lines never wrap: a long
    one ends in an ellipsis rather than break the columns."""
    styles = {"header": "bold", "layer": "", "note": "dim"}
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, line in enumerate(summary.table()):
        text.append(("\n" if i else "") + line.text, style=styles[line.kind])
    return text


def totals(summary: Summary, framework: str) -> Text:
    """The total for the chosen framework, saying why PyTorch's differs when it does."""
    text = Text(f"total trainable params: {summary.params:,}", style="bold")
    if summary.non_trainable:
        text.append(f"   non-trainable: {summary.non_trainable:,}")
    if summary.torch_params != summary.params:
        extra = summary.torch_params - summary.params
        line = (f"\nPyTorch: {summary.torch_params:,} (+{extra:,}: its LSTM has a second bias "
                "vector)")
        text.append(line, style="bold" if framework == "torch" else "dim")
    return text


def dataset_line(info: DatasetInfo) -> Text:
    """'moons · 2 classes · input (2,) · 1,000 samples', then the description."""
    outputs = (f"{info.num_outputs} classes" if info.task == "classification"
               else f"{info.num_outputs} target" + ("s" if info.num_outputs != 1 else ""))
    text = Text(f"{info.name}", style="bold")
    text.append(f" · {outputs} · input {info.input_shape} · {info.size:,} samples")
    if info.needs_download:
        text.append(" · downloads on first use", style="yellow")
    text.append(f"\n{info.description}", style="dim")
    return text


class ModelSummary(Static):
    """Dataset line, layer table and totals; or the reason there is no summary."""

    def show(self, summary: Summary, info: DatasetInfo | None, framework: str) -> None:
        """Show a summary for `framework` (totals differ for PyTorch LSTMs)."""
        title = Text(f"Model for {FRAMEWORK_TITLES.get(framework, framework)}", style="bold")
        parts: list[Text] = [title]
        if info is not None:
            parts.append(dataset_line(info))
        parts += [Text(""), summary_table(summary), Text(""), totals(summary, framework)]
        self.update(Group(*parts))

    def show_own(self, spec: RunSpec, info: DatasetInfo) -> None:
        """A person's own model file: what its `build_model` will be given (no layer table:
        only its framework can build it, which happens when the run starts)."""
        assert spec.model_file is not None
        framework = spec.run.framework
        shape = model_file.input_shape_for(framework, info.input_shape)
        title = Text(f"Model for {FRAMEWORK_TITLES.get(framework, framework)}", style="bold")
        own = Text(f"your own model: {spec.model_file.file}\n", style="bold")
        own.append(f"build_model({shape}, {output_units(spec, info)})", style="")
        own.append(f"\n{model_file.LAYOUTS[framework]}; checked when the run starts",
                   style="dim")
        self.update(Group(title, dataset_line(info), Text(""), own))

    def show_error(self, message: str) -> None:
        """No summary: the layers do not connect, or the dataset cannot be read."""
        self.update(Group(Text("No model summary", style="bold"), Text(message, style="red")))
