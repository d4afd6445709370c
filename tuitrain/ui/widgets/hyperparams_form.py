"""The editable training settings: dataset, loss, metric, optimizer, learning rate, schedule,
batch size, epochs, precision, seed and device. Choices are limited to what fits the preset's
task; each field can show the reason its value is wrong."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Select

from tuitrain.core.catalog import OPTIMIZERS, PRECISIONS, SCHEDULES, Task, losses_for, metrics_for
from tuitrain.core.datasets import builtin_names, dataset_info
from tuitrain.core.errors import UserError
from tuitrain.core.spec import DataSpec, RunSpec
from tuitrain.ui.widgets.device_picker import DevicePicker
from tuitrain.ui.widgets.field_row import FieldRow

PATH_CHOICE = "__path__"  # the dataset select's "my own file or folder" entry
NO_METRIC = "__none__"
PRECISION_LABELS: dict[str, str] = {"32": "32 (full float32)", "bf16": "bf16 (mixed)",
                                    "16": "16 (mixed float16)"}
# Field name -> the preset key it overrides.
KEYS: dict[str, str] = {
    "dataset": "data.dataset", "loss": "train.loss", "metric": "train.metrics",
    "optimizer": "optimizer.name", "lr": "optimizer.lr", "schedule": "schedule.name",
    "batch_size": "train.batch_size", "epochs": "train.epochs", "precision": "run.precision",
    "seed": "run.seed", "device": "run.device",
}
FIELD_OF: dict[str, str] = {key: name for name, key in KEYS.items()}
INT_FIELDS: tuple[str, ...] = ("batch_size", "epochs", "seed")


def datasets_for(task: Task) -> list[tuple[str, str]]:
    """Built-in datasets that fit the task, marked when they need a download."""
    out = []
    for name in builtin_names():
        try:
            info = dataset_info(DataSpec(name))
        except UserError:
            continue
        if info.task == task:
            out.append((f"{name} (download)" if info.needs_download else name, name))
    return out


def parse_field(name: str, text: str) -> tuple[Any, str]:
    """A typed value from an input's text, or the reason it is not one."""
    text = text.strip()
    if name in INT_FIELDS:
        try:
            return int(text), ""
        except ValueError:
            return None, "enter a whole number"
    try:
        return float(text), ""
    except ValueError:
        return None, "enter a number, e.g. 0.001"


def _select(options: list[tuple[str, str]], id: str) -> Select[str]:
    return Select(options, allow_blank=False, compact=True, id=id)


def _input(kind: str, id: str) -> Input:
    return Input(type=kind, compact=True, id=id)  # type: ignore[arg-type]


class HyperparamsForm(Vertical):
    """A column of labelled fields; `values()` turns them into preset overrides."""

    class Edited(Message):
        """A field's value changed (by the person or by loading a preset)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.preset_task: Task = "classification"
        self.other_metrics: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield FieldRow("dataset", _select(self.dataset_options(), "f-dataset"),
                       key="data.dataset", id="row-dataset")
        path_row = FieldRow("data path", Input(placeholder=".csv, .npz or image folder",
                                               compact=True, id="f-data-path"),
                            key="data.dataset", id="row-data-path")
        path_row.display = False
        yield path_row
        yield FieldRow("loss", _select([(n, n) for n in losses_for(self.preset_task)], "f-loss"),
                       key="train.loss", id="row-loss")
        yield FieldRow("metric", _select(self.metric_options(), "f-metric"),
                       key="train.metrics", id="row-metric")
        yield FieldRow("optimizer", _select([(n, n) for n in OPTIMIZERS], "f-optimizer"),
                       key="optimizer.name", id="row-optimizer")
        yield FieldRow("learning rate", _input("number", "f-lr"), key="optimizer.lr",
                       id="row-lr")
        yield FieldRow("schedule", _select([(n, n) for n in SCHEDULES], "f-schedule"),
                       key="schedule.name", id="row-schedule")
        yield FieldRow("batch size", _input("integer", "f-batch_size"), key="train.batch_size",
                       id="row-batch_size")
        yield FieldRow("epochs", _input("integer", "f-epochs"), key="train.epochs",
                       id="row-epochs")
        yield FieldRow("precision", _select([(PRECISION_LABELS[p], p) for p in PRECISIONS],
                                            "f-precision"), key="run.precision",
                       id="row-precision")
        yield FieldRow("seed", _input("integer", "f-seed"), key="run.seed", id="row-seed")
        yield FieldRow("device", DevicePicker(id="f-device"), key="run.device", id="row-device")

    def dataset_options(self) -> list[tuple[str, str]]:
        return [*datasets_for(self.preset_task), ("my own file or folder…", PATH_CHOICE)]

    def metric_options(self) -> list[tuple[str, str]]:
        return [*((m, m) for m in metrics_for(self.preset_task)), ("none (loss only)", NO_METRIC)]

    @property
    def device_picker(self) -> DevicePicker:
        return self.query_one("#f-device", DevicePicker)

    def load(self, spec: RunSpec) -> None:
        """Fill every field from a spec (a preset with any pre-set overrides)."""
        if spec.task != self.preset_task:
            self.preset_task = spec.task
            self.query_one("#f-dataset", Select).set_options(self.dataset_options())
            self.query_one("#f-loss", Select).set_options([(n, n) for n in losses_for(spec.task)])
            self.query_one("#f-metric", Select).set_options(self.metric_options())
        builtin = {value for _, value in datasets_for(spec.task)}
        is_path = spec.data.dataset not in builtin
        self.query_one("#f-dataset", Select).value = PATH_CHOICE if is_path else spec.data.dataset
        if is_path:
            self.query_one("#f-data-path", Input).value = spec.data.dataset
        self.query_one("#row-data-path").display = is_path
        self.query_one("#f-loss", Select).value = spec.train.loss
        main = spec.train.metrics[0] if spec.train.metrics else NO_METRIC
        self.other_metrics = spec.train.metrics[1:]
        self.query_one("#f-metric", Select).value = main
        self.query_one("#f-optimizer", Select).value = spec.optimizer.name
        self.query_one("#f-lr", Input).value = f"{spec.optimizer.lr:g}"
        self.query_one("#f-schedule", Select).value = spec.schedule.name
        self.query_one("#f-batch_size", Input).value = str(spec.train.batch_size)
        self.query_one("#f-epochs", Input).value = str(spec.train.epochs)
        self.query_one("#f-precision", Select).value = spec.run.precision
        self.query_one("#f-seed", Input).value = str(spec.run.seed)
        self.device_picker.choose(spec.run.device)
        self.mark({})

    def set_value(self, key: str, value: Any) -> bool:
        """Set the field that `key` overrides (a CLI pre-fill); False if no field takes it."""
        name = FIELD_OF.get(key)
        if name is None or name == "device":
            return False
        if name in ("lr", "batch_size", "epochs", "seed"):
            self.query_one(f"#f-{name}", Input).value = str(value)
            return True
        select = self.query_one(f"#f-{name}", Select)
        if name == "metric":
            metrics = list(value) if isinstance(value, (list, tuple)) else [value]
            self.other_metrics = tuple(metrics[1:])
            value = metrics[0] if metrics else NO_METRIC
        if name == "dataset" and value not in {v for _, v in datasets_for(self.preset_task)}:
            select.value = PATH_CHOICE
            self.query_one("#row-data-path").display = True
            self.query_one("#f-data-path", Input).value = str(value)
            return True
        if value not in self.choices(name):
            return False
        select.value = value
        return True

    def choices(self, name: str) -> set[str]:
        """The values a select field offers for the current task."""
        return {
            "loss": set(losses_for(self.preset_task)),
            "metric": {*metrics_for(self.preset_task), NO_METRIC},
            "optimizer": set(OPTIMIZERS),
            "schedule": set(SCHEDULES),
            "precision": set(PRECISIONS),
        }.get(name, set())

    def values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(overrides by preset key, errors by preset key for text that is not a value)."""
        out: dict[str, Any] = {}
        errors: dict[str, str] = {}
        dataset = self.query_one("#f-dataset", Select).value
        if dataset == PATH_CHOICE:
            path = self.query_one("#f-data-path", Input).value.strip()
            if path:
                out["data.dataset"] = path
            else:
                errors["data.dataset"] = "enter the path of a .csv or .npz file or image folder"
        elif isinstance(dataset, str):
            out["data.dataset"] = dataset
        for name in ("loss", "optimizer", "schedule", "precision"):
            value = self.query_one(f"#f-{name}", Select).value
            if isinstance(value, str):
                out[KEYS[name]] = value
        metric = self.query_one("#f-metric", Select).value
        if isinstance(metric, str):
            main = [] if metric == NO_METRIC else [metric]
            out["train.metrics"] = main + [m for m in self.other_metrics if m not in main]
        for name in ("lr", "batch_size", "epochs", "seed"):
            value, error = parse_field(name, self.query_one(f"#f-{name}", Input).value)
            if error:
                errors[KEYS[name]] = error
            else:
                out[KEYS[name]] = value
        return out, errors

    @property
    def device(self) -> str:
        value = self.device_picker.value
        return value if isinstance(value, str) else "auto"

    def mark(self, errors: dict[str, str]) -> None:
        """Show each error at its field; clear the others."""
        for row in self.query(FieldRow):
            if row.id == "row-dataset":
                row.set_error(None if self._path_chosen() else errors.get(row.key))
            elif row.id == "row-data-path":
                row.set_error(errors.get(row.key) if self._path_chosen() else None)
            else:
                row.set_error(errors.get(row.key))

    def _path_chosen(self) -> bool:
        return self.query_one("#f-dataset", Select).value == PATH_CHOICE

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "f-dataset":
            self.query_one("#row-data-path").display = event.value == PATH_CHOICE
        if event.select.id and event.select.id.startswith("f-"):
            event.stop()
            name = event.select.id.removeprefix("f-")
            self.post_message(self.Edited(KEYS.get(name, "data.dataset")))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("f-"):
            event.stop()
            name = event.input.id.removeprefix("f-")
            self.post_message(self.Edited(KEYS.get(name, "data.dataset")))
