"""Presets: finding TOML recipes, applying overrides, and validating them into a RunSpec.

Every mistake becomes a one-line `UserError` naming where the bad value came from (the file
and line where it can be found, or the command-line argument that set it), the key, and the
valid choices."""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tuitrain.core import placement
from tuitrain.core.catalog import (
    FRAMEWORKS,
    KERAS_BACKENDS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    TASKS,
)
from tuitrain.core.datasets import MAX_DIGITS
from tuitrain.core.errors import UserError, choices_error
from tuitrain.core.layers import LAYER_TYPES, REPEAT
from tuitrain.core.measures import LOSSES, losses_for, metrics_for
from tuitrain.core.shapes import layer_label
from tuitrain.core.spec import (
    AUGMENTATIONS,
    SECTIONS,
    STREAM_MODES,
    LayerSpec,
    ModelFile,
    RunSpec,
    section_keys,
)
from tuitrain.core.text import MAX_BLOCK_SIZE

TOP_KEYS = ("name", "description", "task", "model", *SECTIONS)  # SECTIONS has "data"
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

# Short CLI options and the document keys they set.
OPTION_KEYS: dict[str, str] = {
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "optimizer.lr",
    "loss": "train.loss",
    "optimizer": "optimizer.name",
    "schedule": "schedule.name",
    "device": "run.device",
    "devices": "run.devices",
    "seed": "run.seed",
    "data": "data.dataset",
    "target": "data.target",
    "precision": "run.precision",
    "framework": "run.framework",
    "keras_backend": "run.keras_backend",
    "auto_batch": "train.auto_batch",
    "model": "model.file",
    "init_from": "train.init_from",
    "notify_cmd": "run.notify_cmd",
    "tensorboard": "run.tensorboard",
}


@dataclass(frozen=True)
class PresetFile:
    """A preset found on disk, with the fields a listing shows."""

    name: str
    path: Path
    description: str
    task: str
    dataset: str


def builtin_dir() -> Path:
    """Presets shipped with tuitrain: inside the installed package, or the repo's presets/."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "presets"
    return packaged if packaged.is_dir() else here.parent / "presets"


def user_dir() -> Path:
    """The person's own presets: $TUITRAIN_PRESETS_DIR or ~/.config/tuitrain/presets."""
    env = os.environ.get("TUITRAIN_PRESETS_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tuitrain" / "presets"


def discover() -> dict[str, Path]:
    """Preset name -> file; a user preset with a built-in's name takes its place."""
    found: dict[str, Path] = {}
    for folder in (builtin_dir(), user_dir()):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = path
    return found


def resolve_path(name_or_path: str) -> Path:
    """A preset name or a path to a TOML file."""
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise UserError(f"preset file {name_or_path!r} does not exist")
        return path
    known = discover()
    if name_or_path not in known:
        raise choices_error("preset", name_or_path, known)
    return known[name_or_path]


def read_source(path: Path) -> str:
    """A preset's text; an unreadable or non-UTF-8 file is a UserError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read preset: {exc}") from None


def read_document(path: Path, text: str | None = None) -> dict[str, Any]:
    """Parse a TOML file (or its already-read `text`); a syntax error names the file and line."""
    try:
        return tomllib.loads(read_source(path) if text is None else text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: TOML syntax error: {exc}") from None


def list_presets() -> list[PresetFile]:
    """Every preset that parses, for listings; broken ones are skipped here, reported on use."""
    out = []
    for name, path in discover().items():
        try:
            doc = read_document(path)
        except UserError:
            continue
        out.append(
            PresetFile(
                name=str(doc.get("name", name)),
                path=path,
                description=str(doc.get("description", "")),
                task=str(doc.get("task", "")),
                dataset=str(doc.get("data", {}).get("dataset", "")),
            )
        )
    return out


def parse_value(text: str) -> Any:
    """A `--set` value: TOML syntax when it parses (numbers, booleans, lists), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


class Overrides(dict[str, Any]):
    """Overrides by dotted key (`optimizer.lr`), each with the command-line argument that set
    it (`--lr 0.1`, `--set optimizer.lr=0.1`), so that a bad value is reported at that
    argument rather than at a line of the preset file."""

    def __init__(self) -> None:
        super().__init__()
        self.arguments: dict[str, str] = {}

    def add(self, key: str, value: Any, argument: str) -> None:
        self[key] = value
        self.arguments[key] = argument


def argument_of(overrides: Mapping[str, Any], key: str) -> str:
    """The argument that set `key`: the one recorded in `Overrides`, else (an override made
    by the setup screen or in code) the `--set` that would have."""
    if isinstance(overrides, Overrides) and key in overrides.arguments:
        return overrides.arguments[key]
    value = overrides[key]
    return f"--set {key}={value if isinstance(value, str) else json.dumps(value)}"


def apply_overrides(doc: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of `doc` with dotted keys (`train.epochs`) set."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        where = argument_of(overrides, dotted)
        if section == "model":  # your own model file in place of the preset's layers
            if key != "file":
                raise choices_error("key in [model] to set", key, ["file"], where=where)
            out["model"] = {"file": value}
            continue
        if not key:
            if section not in ("name", "description", "task"):
                raise UserError(
                    f"{where}: expected SECTION.KEY=VALUE; sections: " + ", ".join(SECTIONS)
                )
            out[section] = value
            continue
        if section not in SECTIONS:
            raise choices_error("section", section, SECTIONS, where=where)
        if key not in section_keys(section):
            raise choices_error(f"key in [{section}]", key, section_keys(section), where=where)
        out.setdefault(section, {})[key] = value
    return out


class _Where:
    """Locates a key or value so errors can name where it came from: the command-line
    argument that overrode it, else a line of the source text (a section's keys are looked
    for inside its `[table]`, a layer's keys inside that layer)."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")
    _TYPE = re.compile(r"(^|[\s{,])type\s*=")

    def __init__(
        self, source: str, text: str | None, arguments: Mapping[str, str] | None = None
    ) -> None:
        self.source = source
        self.lines = text.splitlines() if text else []
        self.arguments = arguments or {}

    def _region(self, section: str | None) -> range:
        """Line indexes of `[section]`'s body; the top-level keys when `section` is None."""
        headers = [
            (i, m.group(1)) for i, line in enumerate(self.lines) if (m := self._HEADER.match(line))
        ]
        if section is None:
            return range(headers[0][0] if headers else len(self.lines))
        for n, (i, name) in enumerate(headers):
            if name == section:
                end = headers[n + 1][0] if n + 1 < len(headers) else len(self.lines)
                return range(i + 1, end)
        return range(0)

    def _find(self, needles: tuple[str, ...], lines: range) -> str | None:
        for needle in needles:
            n = re.escape(needle)
            pattern = re.compile(rf"(^|[\s{{,\[]){n}\s*=|[\"']{n}[\"']|^\s*\[\[?\s*{n}\s*\]")
            for i in lines:
                if pattern.search(self.lines[i]):
                    return f"{self.source}:{i + 1}"
        return None

    def at(self, *needles: str, section: str | None = None) -> str:
        """The argument that overrode a needle (a key of `section`), else `file:line` of the
        first needle found (in `section` first), else just the file."""
        for needle in needles:
            key = f"{section}.{needle}" if section else needle
            if key in self.arguments:
                return self.arguments[key]
        return (
            self._find(needles, self._region(section))
            or self._find(needles, range(len(self.lines)))
            or self.source
        )

    def layer(self, index: int, *needles: str) -> str:
        """`file:line` of a key of layer `index` (the index-th `type =`), else of the layer."""
        starts = [i for i, line in enumerate(self.lines) if self._TYPE.search(line)]
        if index >= len(starts):
            return self.at(*needles)
        end = starts[index + 1] if index + 1 < len(starts) else len(self.lines)
        found = self._find(needles, range(starts[index], end))
        return found or f"{self.source}:{starts[index] + 1}"


def _coerce(value: Any, kind: type, where: str, key: str) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: {key} must be a whole number, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: {key} must be a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: {key} must be a string, got {value!r}")
        return value
    if kind is list:
        if not isinstance(value, list):
            raise UserError(f"{where}: {key} must be a list, got {value!r}")
        return tuple(value)
    return value


def _section(doc: dict[str, Any], name: str, where: _Where, required: tuple[str, ...] = ()):
    cls = SECTIONS[name]
    raw = doc.get(name, {})
    if not isinstance(raw, dict):
        raise UserError(f"{where.at(name)}: [{name}] must be a table")
    valid = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in valid:
            raise choices_error(f"key in [{name}]", key, valid, where=where.at(key, section=name))
        kind = {"int": int, "float": float, "bool": bool, "str": str}.get(
            str(valid[key].type).split(" | ")[0], object
        )
        if key in ("metrics", "freeze", "augment"):
            kind = list
        at = where.at(key, section=name)
        if (name, key) == ("run", "devices") and type(value) is int:
            value = str(value)  # `devices = 2` as well as `devices = "0,1"`
        kwargs[key] = _coerce(value, kind, at, f"{name}.{key}")
        if kind is list and not all(isinstance(item, str) for item in kwargs[key]):
            raise UserError(f"{at}: {name}.{key} must be a list of strings, got {value!r}")
    for key in required:
        if key not in kwargs:
            raise UserError(f"{where.source}: [{name}] needs {key!r}")
    return cls(**kwargs)


def _layers(raw: list[Any], parent: tuple[int, ...], where: _Where, count: list[int]):
    """Read a list of layer tables (`parent` is the path of the layer holding them). `count`
    numbers layers in the order the file writes them, to find each one's line. A block with
    `repeat = N` becomes N copies in a row; paths count the copies, as the summary does."""
    out: list[LayerSpec] = []
    for item in raw:
        layer, times = _layer(item, (*parent, len(out)), where, count)
        out += [layer] * times
    return tuple(out)


def _layer(
    raw: Any, path: tuple[int, ...], where: _Where, count: list[int]
) -> tuple[LayerSpec, int]:
    """One layer table as a LayerSpec, and how many copies of it in a row (`repeat`)."""
    label = layer_label(path)
    order = count[0]
    count[0] += 1
    if not isinstance(raw, dict) or "type" not in raw:
        raise UserError(f"{where.source}: {label} must be a table with a 'type' key")
    kind = raw["type"]
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise choices_error("layer type", kind, LAYER_TYPES, where=f"{where.layer(order)} {label}")
    entry = LAYER_TYPES[kind]
    params = []
    nested: tuple[LayerSpec, ...] = ()
    times = 1
    for key, value in raw.items():
        if key == "type":
            continue
        at = f"{where.layer(order, key)} {label}"
        if key not in entry.params:
            raise choices_error(f"key for {kind}", key, list(entry.params) or ["(none)"], where=at)
        if entry.nests and key == "layers":
            if not isinstance(value, list) or not value:
                raise UserError(f"{at}: {kind} layers must be a non-empty list of layer tables")
            nested = _layers(value, path, where, count)
            continue
        p = entry.params[key]
        coerced = _coerce(value, p.kind, at, key)
        if p.choices and coerced not in p.choices:
            raise choices_error(f"{key} for {kind}", coerced, p.choices, where=at)
        if p.rule and not p.rule.ok(coerced):
            raise UserError(f"{at}: {kind} {key} must be {p.rule.must}, got {value!r}")
        if key == REPEAT:
            times = coerced
        else:
            params.append((key, coerced))
    for key, p in entry.params.items():
        if p.required and key not in raw:
            raise UserError(f"{where.layer(order)} {label}: {kind} needs {key!r}")
    return LayerSpec(kind, tuple(params), nested), times


# Numeric keys and the values they accept (NaN and infinities never).
_RANGES: tuple[tuple[str, str, Callable[[Any], bool], str], ...] = (
    ("data", "samples", lambda v: v >= 0, ">= 0"),
    ("data", "val_fraction", lambda v: 0 <= v < 0.9, "in [0, 0.9)"),
    ("data", "test_fraction", lambda v: 0 <= v < 0.9, "in [0, 0.9)"),
    ("data", "digits", lambda v: v is None or 1 <= v <= MAX_DIGITS, f"in [1, {MAX_DIGITS}]"),
    ("data", "seed", lambda v: v is None or 0 <= v < 2**31, "in [0, 2**31)"),
    (
        "data",
        "block_size",
        lambda v: v is None or 1 <= v <= MAX_BLOCK_SIZE,
        f"in [1, {MAX_BLOCK_SIZE}]",
    ),
    ("data", "workers", lambda v: v is None or 0 <= v <= 64, "in [0, 64]"),
    ("data", "crop_padding", lambda v: 1 <= v <= 256, "in [1, 256]"),
    ("data", "image_size", lambda v: v is None or 1 <= v <= 4096, "in [1, 4096]"),
    ("train", "epochs", lambda v: v >= 1, ">= 1"),
    ("train", "batch_size", lambda v: v >= 1, ">= 1"),
    ("train", "log_every", lambda v: v >= 1, ">= 1"),
    ("train", "steps_per_execution", lambda v: v >= 0, ">= 0 (0 = auto)"),
    ("train", "checkpoint_every", lambda v: v >= 1, ">= 1"),
    ("train", "keep_checkpoints", lambda v: v >= 1, ">= 1"),
    ("train", "grad_clip", lambda v: v >= 0, ">= 0 (0 = off)"),
    ("train", "early_stopping", lambda v: v >= 0, ">= 0 (epochs without improvement; 0 = off)"),
    ("train", "stop_timeout", lambda v: v > 0, "> 0"),
    ("optimizer", "lr", lambda v: v > 0, "> 0"),
    ("optimizer", "weight_decay", lambda v: v >= 0, ">= 0"),
    ("optimizer", "momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("optimizer", "beta1", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("optimizer", "beta2", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("optimizer", "eps", lambda v: v > 0, "> 0"),
    ("optimizer", "rho", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("schedule", "step_size", lambda v: v >= 1, ">= 1"),
    ("schedule", "gamma", lambda v: v > 0, "> 0"),
    ("schedule", "min_lr", lambda v: v >= 0, ">= 0"),
    ("schedule", "pct_start", lambda v: 0 < v < 1, "in (0, 1)"),
    ("schedule", "factor", lambda v: 0 < v < 1, "in (0, 1)"),
    ("schedule", "patience", lambda v: v >= 0, ">= 0"),
    ("run", "seed", lambda v: 0 <= v < 2**31, "in [0, 2**31)"),
)


def spec_from_document(
    doc: dict[str, Any],
    source: str = "<preset>",
    text: str | None = None,
    arguments: Mapping[str, str] | None = None,
) -> RunSpec:
    """Validate a preset/config document into a RunSpec, or raise one clear UserError.
    `arguments` names, by dotted key, the command-line argument that set a value."""
    where = _Where(source, text, arguments)
    for key in doc:
        if key not in TOP_KEYS:
            raise choices_error("top-level key", key, TOP_KEYS, where=where.at(key))
    task = doc.get("task")
    if task not in TASKS:
        raise choices_error("task", task, TASKS, where=where.at("task"))
    data = _section(doc, "data", where, required=("dataset",))
    model = doc.get("model", {})
    model_file = _model_file(model, where)
    layers: tuple[LayerSpec, ...] = ()
    if model_file is None:
        layers_raw = model.get("layers") if isinstance(model, dict) else None
        if not isinstance(layers_raw, list) or not layers_raw:
            raise UserError(
                f"{where.source}: [model] needs a non-empty 'layers' list "
                '(or file = "my_model.py": your own model)'
            )
        layers = _layers(layers_raw, (), where, [0])
    train = _section(doc, "train", where, required=("loss",))
    optimizer = _section(doc, "optimizer", where)
    schedule = _section(doc, "schedule", where)
    run = _section(doc, "run", where)

    def check(value: Any, valid: Any, what: str, key: str, section: str) -> None:
        if value not in valid:
            at = where.at(key, str(value), section=section)
            raise choices_error(what, value, valid, where=at)

    check(train.loss, LOSSES, "loss", "loss", "train")
    if LOSSES[train.loss].task != task:
        raise choices_error(
            f"loss for a {task} task",
            train.loss,
            losses_for(task),
            where=where.at("loss", section="train"),
        )
    for metric in train.metrics:
        check(metric, metrics_for(task), f"metric for a {task} task", "metrics", "train")
    check(data.stream, STREAM_MODES, "stream mode", "stream", "data")
    for name in data.augment:
        check(name, AUGMENTATIONS, "augmentation", "augment", "data")
    check(optimizer.name, OPTIMIZERS, "optimizer", "name", "optimizer")
    check(schedule.name, SCHEDULES, "schedule", "name", "schedule")
    check(run.framework, FRAMEWORKS, "framework", "framework", "run")
    check(run.precision, PRECISIONS, "precision", "precision", "run")
    check(run.keras_backend, KERAS_BACKENDS, "keras backend", "keras_backend", "run")
    if not DEVICE_RE.match(run.device):
        raise UserError(
            f"{where.at('device', section='run')}: unknown device {run.device!r}; "
            "valid: auto, cpu, cuda, cuda:N, mps"
        )
    try:
        devices = placement.parse_devices(run.devices, "run.devices")
    except UserError as exc:
        raise UserError(f"{where.at('devices', section='run')}: {exc}") from None
    if ":" in run.device and devices != placement.DevicesRequest("count"):
        raise UserError(f"{where.at('devices', section='run')}: run.device {run.device!r} "
                        f"names one GPU and run.devices {run.devices!r} asks for others; give "
                        "one of them (GPU numbers go in run.devices, e.g. '0,1')")
    values = dict(data=data, train=train, optimizer=optimizer, schedule=schedule, run=run)
    for section, key, ok, valid in _RANGES:
        value = getattr(values[section], key)
        if not ((not isinstance(value, float) or math.isfinite(value)) and ok(value)):
            raise UserError(
                f"{where.at(key, section=section)}: {section}.{key} must be {valid}, got {value!r}"
            )
    if data.val_fraction + data.test_fraction >= 0.9:
        raise UserError(
            f"{where.at('val_fraction', 'test_fraction', section='data')}: "
            "data.val_fraction + data.test_fraction must be below 0.9 "
            "(at least 10% of the samples train)"
        )
    return RunSpec(
        name=str(doc.get("name", Path(source).stem)),
        description=str(doc.get("description", "")),
        task=task,
        data=data,
        layers=layers,
        train=train,
        optimizer=optimizer,
        schedule=schedule,
        run=run,
        model_file=model_file,
    )


def _model_file(model: Any, where: _Where) -> ModelFile | None:
    """`[model] file = "my_model.py"` (with `sha256` in a run folder's copy), else None."""
    if not isinstance(model, dict) or "file" not in model:
        return None
    at = where.at("file", section="model")
    extra = [key for key in model if key not in ("file", "sha256")]
    if extra:
        raise UserError(
            f"{at}: [model] takes either 'file' (your own model) or 'layers', not "
            f"{', '.join(repr(k) for k in extra)} too"
        )
    file, sha256 = model["file"], model.get("sha256", "")
    if not isinstance(file, str) or not file.endswith(".py"):
        raise UserError(
            f"{at}: model.file must be a .py file defining build_model(input_shape, "
            f"num_outputs), got {file!r}"
        )
    if not isinstance(sha256, str):
        raise UserError(f"{at}: model.sha256 must be a string, got {sha256!r}")
    return ModelFile(file, sha256)


def load_spec(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> RunSpec:
    """Find a preset, apply overrides, validate. The one entry point for CLI and UI. A bad
    override is reported at its argument (see `Overrides`), not at the preset's line."""
    path = resolve_path(name_or_path)
    text = read_source(path)
    doc = read_document(path, text)
    overrides = overrides or {}
    doc = apply_overrides(doc, overrides)
    arguments = {key: argument_of(overrides, key) for key in overrides}
    return spec_from_document(doc, source=str(path), text=text, arguments=arguments)
