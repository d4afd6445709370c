"""The setup screen's settings as data: one `Field` per setting (framework, Keras backend,
model, dataset, loss, metric, optimizer, learning rate, schedule, batch size, epochs,
precision, seed, device), the choices each offers for the preset's task, the text typed into
the number fields, the devices detection found, and the preset overrides all of it makes.
The model choice (the preset's layers, or a person's own model file found in the working
directory or its `models/` folder) is shown only when such files exist.

No Textual here: `ui.widgets.settings_table` draws these fields and edits them."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tuitrain import backends
from tuitrain.core.catalog import (
    FRAMEWORK_TITLES,
    FRAMEWORKS,
    KERAS_BACKENDS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    Task,
    parallel_strategy,
)
from tuitrain.core.datasets import BUILTIN, OWN_DATA, catalogue_info
from tuitrain.core.measures import losses_for, metrics_for
from tuitrain.core.spec import RunSpec

FieldKind = Literal["choice", "integer", "number", "path"]
PATH_CHOICE = "__path__"  # the dataset choice "my own file or folder"
NO_METRIC = "__none__"
PRESET_LAYERS = "the preset's layers"  # the model choice that is not a file
GIB = 2**30
PRECISION_LABELS: dict[str, str] = {"32": "32 (full float32)", "bf16": "bf16 (mixed)",
                                    "16": "16 (mixed float16)"}
# Number fields accept only these characters, as a typed input would.
TYPABLE: dict[FieldKind, str] = {"integer": "0123456789-", "number": "0123456789.eE+-"}


@dataclass
class Field:
    """One setting: what it overrides, what it offers, and what it holds now."""

    name: str
    label: str
    key: str  # the preset key it overrides, e.g. "optimizer.lr"
    kind: FieldKind
    options: list[tuple[str, str]] = field(default_factory=list)  # (label, value) choices
    value: str = ""  # the chosen value, or the text typed
    error: str = ""  # why the value is wrong, '' when it is not
    shown: bool = True

    @property
    def is_choice(self) -> bool:
        return self.kind == "choice"

    @property
    def display(self) -> str:
        """What the field shows: a choice's label, or the text typed."""
        if not self.is_choice:
            return self.value
        return next((label for label, value in self.options if value == self.value),
                    self.value)


def package_installed(name: str) -> bool:
    """Whether a framework (or a Keras backend like jax) can be imported, without importing it."""
    if name in backends.PACKAGES:
        return backends.is_installed(name)
    return importlib.util.find_spec(name) is not None


def framework_label(framework: str, installed: bool) -> str:
    """'PyTorch', or 'TensorFlow (not installed)'."""
    title = FRAMEWORK_TITLES[framework]
    return title if installed else f"{title} (not installed)"


def datasets_for(task: Task) -> list[tuple[str, str]]:
    """Built-in datasets that fit the task, marked when they need a download (from the
    catalogue alone: no text is read, nothing generated)."""
    out = []
    for name, entry in BUILTIN.items():
        info = catalogue_info(entry)
        if info.task == task:
            out.append((f"{name} (download)" if info.needs_download else name, name))
    return out


def parse_field(kind: FieldKind, text: str) -> tuple[Any, str]:
    """A typed value from a number field's text, or the reason it is not one."""
    text = text.strip()
    if kind == "integer":
        try:
            return int(text), ""
        except ValueError:
            return None, "enter a whole number"
    try:
        return float(text), ""
    except ValueError:
        return None, "enter a number, e.g. 0.001"


def device_label(device: dict[str, Any], use: str = "") -> str:
    """'cuda:0  NVIDIA H100 80GB HBM3 · 75.1/79.6 GiB free', 'cpu  CPU (8 threads)'; with
    `use` (who uses the GPU, from NVML) after it: '· 87% util · in use by alice (...)'."""
    label = f"{device.get('id', '?')}  {device.get('name', '')}".rstrip()
    total = device.get("memory_total") or 0
    if total:
        free = device.get("memory_free") or 0
        label += f" · {free / GIB:.1f}/{total / GIB:.1f} GiB free"
    return label + (f" · {use}" if use else "")


class Settings:
    """Every setting of the run the setup screen would start, in display order."""

    def __init__(self, framework: str = "torch", keras_backend: str = "tensorflow",
                 model_files: list[Path] | None = None) -> None:
        self.task: Task = "classification"
        found = [str(p) for p in (model_files or [])]
        self.other_metrics: tuple[str, ...] = ()  # a preset's metrics after the first
        self.device_results: dict[str, dict[str, Any]] = {}  # framework -> detection result
        self.wanted_device = "auto"
        self.wanted_devices = "1"
        fields = [
            Field("framework", "framework", "run.framework", "choice",
                  [(framework_label(f, package_installed(f)), f) for f in FRAMEWORKS],
                  framework),
            Field("keras_backend", "Keras backend", "run.keras_backend", "choice",
                  [(b if package_installed(b) else f"{b} (not installed)", b)
                   for b in KERAS_BACKENDS], keras_backend, shown=framework == "keras"),
            Field("model", "model", "model.file", "choice",
                  [(PRESET_LAYERS, ""), *((f, f) for f in found)], "", shown=bool(found)),
            Field("dataset", "dataset", "data.dataset", "choice"),
            Field("data_path", "data path", "data.dataset", "path", shown=False),
            Field("loss", "loss", "train.loss", "choice"),
            Field("metric", "metric", "train.metrics", "choice"),
            Field("optimizer", "optimizer", "optimizer.name", "choice",
                  [(n, n) for n in OPTIMIZERS]),
            Field("lr", "learning rate", "optimizer.lr", "number"),
            Field("schedule", "schedule", "schedule.name", "choice",
                  [(n, n) for n in SCHEDULES]),
            Field("batch_size", "batch size", "train.batch_size", "integer"),
            Field("epochs", "epochs", "train.epochs", "integer"),
            Field("precision", "precision", "run.precision", "choice",
                  [(PRECISION_LABELS[p], p) for p in PRECISIONS]),
            Field("seed", "seed", "run.seed", "integer"),
            Field("device", "device", "run.device", "choice"),
            Field("devices", "devices", "run.devices", "choice"),
        ]
        self.fields: dict[str, Field] = {f.name: f for f in fields}
        self._set_task_options()
        self._refill_devices()

    def __getitem__(self, name: str) -> Field:
        return self.fields[name]

    @property
    def shown(self) -> list[Field]:
        """The fields on screen, in order (the data path only for your own data, the Keras
        backend only for Keras)."""
        return [f for f in self.fields.values() if f.shown]

    @property
    def framework(self) -> str:
        return self["framework"].value

    @property
    def keras_backend(self) -> str:
        return self["keras_backend"].value

    @property
    def device(self) -> str:
        return self["device"].value or "auto"

    # --- choices ----------------------------------------------------------------------

    def dataset_options(self) -> list[tuple[str, str]]:
        return [*datasets_for(self.task), ("my own file or folder…", PATH_CHOICE)]

    def choices(self, name: str) -> set[str]:
        """The values a choice field offers now."""
        return {value for _, value in self[name].options}

    def _set_task_options(self) -> None:
        self["dataset"].options = self.dataset_options()
        self["loss"].options = [(n, n) for n in losses_for(self.task)]
        self["metric"].options = [*((m, m) for m in metrics_for(self.task)),
                                  ("none (loss only)", NO_METRIC)]

    def choose(self, name: str, value: str) -> bool:
        """Set a field to `value` (a choice's value or a number field's text) as a person
        would; False when a choice does not offer it or nothing changed."""
        f = self[name]
        if f.value == value or (f.is_choice and value not in self.choices(name)):
            return False
        f.value = value
        if name == "dataset":
            self["data_path"].shown = value == PATH_CHOICE
        elif name == "framework":
            self["keras_backend"].shown = value == "keras"
            self._refill_devices()
        elif name == "keras_backend":
            self._refill_devices()
        elif name == "device":
            self.wanted_device = value
            self._refill_devices()
        elif name == "devices":
            self.wanted_devices = value
        return True

    def cycle(self, name: str, step: int) -> bool:
        """Move a choice field to its next (+1) or previous (-1) option, wrapping."""
        values = [value for _, value in self[name].options]
        if not values:
            return False
        index = values.index(self[name].value) if self[name].value in values else -step
        return self.choose(name, values[(index + step) % len(values)])

    # --- presets and CLI pre-fill ---------------------------------------------------------

    def load(self, spec: RunSpec) -> None:
        """Fill every field from a spec (a preset with any pre-set overrides)."""
        if spec.task != self.task:
            self.task = spec.task
            self._set_task_options()
        builtin = {value for _, value in datasets_for(spec.task)}
        is_path = spec.data.dataset not in builtin
        self["dataset"].value = PATH_CHOICE if is_path else spec.data.dataset
        self["data_path"].value = spec.data.dataset if is_path else ""
        self["data_path"].shown = is_path
        self["loss"].value = spec.train.loss
        self["metric"].value = spec.train.metrics[0] if spec.train.metrics else NO_METRIC
        self.other_metrics = spec.train.metrics[1:]
        self["optimizer"].value = spec.optimizer.name
        self["lr"].value = f"{spec.optimizer.lr:g}"
        self["schedule"].value = spec.schedule.name
        self["batch_size"].value = str(spec.train.batch_size)
        self["epochs"].value = str(spec.train.epochs)
        self["precision"].value = spec.run.precision
        self["seed"].value = str(spec.run.seed)
        self.choose_model(spec.model_file.file if spec.model_file else "")
        self.choose_device(spec.run.device)
        self.mark({})

    def choose_model(self, file: str) -> None:
        """Select the model: "" for the preset's layers, else a file (listed if it is not)."""
        f = self["model"]
        if file not in self.choices("model"):
            f.options.append((file, file))
            f.shown = True
        f.value = file

    def snapshot(self) -> dict[str, Any]:
        """What the person set for this preset (not the framework, backend or devices, which
        stay as they are from preset to preset), for `restore`."""
        kept: dict[str, Any] = {f.name: f.value for f in self.fields.values()
                                if f.name not in ("framework", "keras_backend", "device",
                                                  "devices")}
        return {**kept, "other_metrics": self.other_metrics}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put back a `snapshot` of the same preset, loaded again."""
        for name, value in snapshot.items():
            if name == "other_metrics":
                self.other_metrics = value
            else:
                self[name].value = value
        self["data_path"].shown = self["dataset"].value == PATH_CHOICE

    def set_value(self, key: str, value: Any) -> bool:
        """Set the field that preset key `key` overrides (a CLI pre-fill); False if no field
        takes it or its choices do not offer `value`."""
        name = next((f.name for f in self.fields.values()
                     if f.key == key and f.name not in ("data_path", "device", "devices")),
                    None)
        if name is None:
            return False
        f = self[name]
        if not f.is_choice:
            f.value = str(value)
            return True
        if name == "model":
            self.choose_model(str(value))
            return True
        if name == "metric":
            metrics = list(value) if isinstance(value, (list, tuple)) else [value]
            self.other_metrics = tuple(metrics[1:])
            value = metrics[0] if metrics else NO_METRIC
        if name == "dataset" and value not in {v for _, v in datasets_for(self.task)}:
            self.choose("dataset", PATH_CHOICE)
            self["data_path"].value = str(value)
            return True
        if value not in self.choices(name):
            return False
        self.choose(name, str(value))
        return True

    # --- devices ------------------------------------------------------------------------

    def device_options(self) -> list[tuple[str, str]]:
        """'auto', then each device the framework's detection found (or a note while it
        runs), then cpu, and the wanted device when detection did not see it."""
        result = self.device_results.get(self.framework)
        if result is None:
            options = [("auto (detecting devices…)", "auto"), ("cpu", "cpu")]
        else:
            devices = list(result.get("devices", []))
            error = result.get("error")
            note = f"auto ({error})" if error and not devices else (
                "auto (the free GPU with the most free memory)" if result.get("use")
                else "auto (best available)")
            use = result.get("use", {})
            options = [(note, "auto")] + [(device_label(d, use.get(d["id"], "")), d["id"])
                                          for d in devices]
            if not any(d.get("id") == "cpu" for d in devices):
                options.append(("cpu", "cpu"))
        if self.wanted_device not in {value for _, value in options}:
            options.append((f"{self.wanted_device} (not detected)", self.wanted_device))
        return options

    @property
    def detected(self) -> bool:
        """Whether the current framework's devices are known."""
        return self.framework in self.device_results

    def devices_options(self) -> list[tuple[str, str]]:
        """'1', then where the framework trains on several devices (PyTorch: DDP; TensorFlow
        and Keras on it: MirroredStrategy; Keras on jax: DataParallel) and the device allows
        it the data-parallel choices: 2 to the number of GPUs detection found and `all`, or 2
        on the CPU; and what was asked for (a CLI pre-fill) when it is not among them."""
        options = [("1", "1")]
        result = self.device_results.get(self.framework) or {}
        gpus = sum(1 for d in result.get("devices", []) if d.get("kind") == "cuda")
        strategy = parallel_strategy(self.framework, self.keras_backend)
        if strategy and self.device != "mps" and ":" not in self.device:
            torch = strategy == "DDP"
            if gpus > 1 and self.device != "cpu":
                how = "DDP, nccl" if torch else strategy
                options += [(f"{n} GPUs ({how})", str(n)) for n in range(2, gpus + 1)]
                options.append((f"all free GPUs ({how})", "all"))
            else:
                options.append(("2 processes (DDP, gloo)" if torch
                                else f"2 logical CPUs ({strategy})", "2"))
        if self.wanted_devices not in {value for _, value in options}:
            options.append((f"{self.wanted_devices} (as asked)", self.wanted_devices))
        return options

    def _refill_devices(self) -> None:
        self["device"].options = self.device_options()
        self["device"].value = self.wanted_device
        self["devices"].options = self.devices_options()
        self["devices"].value = self.wanted_devices

    def set_devices(self, framework: str, result: dict[str, Any]) -> None:
        """A detection result arrived: {'devices': [...]} or {'error': ...}."""
        self.device_results[framework] = result
        self._refill_devices()

    def choose_device(self, device: str, devices: str | None = None) -> None:
        """Select a device (and how many) from code (CLI pre-fill); an unknown device is
        listed as not detected."""
        self.wanted_device = device
        if devices is not None:
            self.wanted_devices = devices
        self._refill_devices()

    # --- overrides and errors -------------------------------------------------------------

    def values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(overrides by preset key, errors by preset key for text that is not a value);
        the framework, Keras backend and device are in `picked()`."""
        out: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if self["dataset"].value == PATH_CHOICE:
            path = self["data_path"].value.strip()
            if path:
                out["data.dataset"] = path
            else:
                errors["data.dataset"] = f"enter the path of {OWN_DATA}"
        else:
            out["data.dataset"] = self["dataset"].value
        if self["model"].value:
            out["model.file"] = self["model"].value
        for name in ("loss", "optimizer", "schedule", "precision"):
            out[self[name].key] = self[name].value
        metric = self["metric"].value
        main = [] if metric == NO_METRIC else [metric]
        out["train.metrics"] = main + [m for m in self.other_metrics if m not in main]
        for name in ("lr", "batch_size", "epochs", "seed"):
            value, error = parse_field(self[name].kind, self[name].value)
            if error:
                errors[self[name].key] = error
            else:
                out[self[name].key] = value
        return out, errors

    def picked(self) -> dict[str, str]:
        """The framework, Keras backend and devices: picked from lists, never wrong alone."""
        return {"run.framework": self.framework, "run.keras_backend": self.keras_backend,
                "run.device": self.device, "run.devices": self["devices"].value or "1"}

    def mark(self, errors: dict[str, str]) -> bool:
        """Show each error (by preset key) at its field and clear the others; a dataset error
        goes to the data path when that is what was typed. True when any field changed."""
        path = self["dataset"].value == PATH_CHOICE
        changed = False
        for f in self.fields.values():
            error = errors.get(f.key, "")
            if f.key == "data.dataset" and (f.name == "dataset") == path:
                error = ""
            if f.error != error:
                f.error = error
                changed = True
        return changed

    def label_of(self, key: str) -> str:
        """The label of the setting that shows preset key `key`'s error ('train.epochs' ->
        'epochs'; 'data.dataset' -> 'data path' when a path was typed)."""
        fields = [f for f in self.fields.values() if f.key == key]
        marked = [f for f in fields if f.error] or fields
        return marked[0].label if marked else key
