"""Presets: finding TOML recipes, applying overrides, and validating them into a RunSpec.

Every mistake becomes a one-line `UserError` naming the file (and line where it can be
found), the key, and the valid choices."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tuitrain.core.catalog import (
    FRAMEWORKS,
    KERAS_BACKENDS,
    LAYERS,
    LOSSES,
    METRICS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    TASKS,
)
from tuitrain.core.errors import UserError, choices_error
from tuitrain.core.spec import SECTIONS, LayerSpec, RunSpec, section_keys

TOP_KEYS = ("name", "description", "task", "data", "model", *SECTIONS.keys())
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
    "seed": "run.seed",
    "data": "data.dataset",
    "precision": "run.precision",
    "framework": "run.framework",
    "keras_backend": "run.keras_backend",
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


def read_document(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a syntax error names the file and line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: TOML syntax error: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read preset: {exc}") from None


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


def apply_overrides(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `doc` with dotted keys (`train.epochs`) set."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if not key:
            if section not in ("name", "description", "task"):
                raise UserError(
                    f"--set {dotted}: expected SECTION.KEY=VALUE; sections: "
                    + ", ".join(SECTIONS)
                )
            out[section] = value
            continue
        if section not in SECTIONS:
            raise choices_error("section", section, SECTIONS, where=f"--set {dotted}")
        if key not in section_keys(section):
            raise choices_error(
                f"key in [{section}]", key, section_keys(section), where=f"--set {dotted}"
            )
        out.setdefault(section, {})[key] = value
    return out


class _Where:
    """Locates a key or value in the source text so errors can name a line."""

    def __init__(self, source: str, text: str | None) -> None:
        self.source = source
        self.lines = text.splitlines() if text else []

    def at(self, *needles: str) -> str:
        for needle in needles:
            pattern = re.compile(rf"(^|[\s{{,\[]){re.escape(needle)}\s*=|[\"']{re.escape(needle)}[\"']")
            for number, line in enumerate(self.lines, 1):
                if pattern.search(line):
                    return f"{self.source}:{number}"
        return self.source


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
            raise choices_error(f"key in [{name}]", key, valid, where=where.at(key))
        kind = {"int": int, "float": float, "bool": bool, "str": str}.get(
            str(valid[key].type).split(" | ")[0], object
        )
        if key == "metrics":
            kind = list
        kwargs[key] = _coerce(value, kind, where.at(key), f"{name}.{key}")
    for key in required:
        if key not in kwargs:
            raise UserError(f"{where.source}: [{name}] needs {key!r}")
    return cls(**kwargs)


def _layer(raw: Any, index: int, where: _Where) -> LayerSpec:
    label = f"model.layers[{index}]"
    if not isinstance(raw, dict) or "type" not in raw:
        raise UserError(f"{where.source}: {label} must be a table with a 'type' key")
    kind = raw["type"]
    if kind not in LAYERS:
        raise choices_error("layer type", kind, LAYERS, where=f"{where.at(kind)} {label}")
    schema = LAYERS[kind]
    params = []
    for key, value in raw.items():
        if key == "type":
            continue
        if key not in schema:
            valid = list(schema) or ["(none)"]
            raise choices_error(f"key for {kind}", key, valid, where=f"{where.at(key)} {label}")
        p = schema[key]
        if kind == "dense" and key == "units":
            if not (value == "auto" or (isinstance(value, int) and value > 0)):
                raise UserError(f"{where.at(key)} {label}: dense units must be > 0 or \"auto\"")
        else:
            value = _coerce(value, p.kind, f"{where.at(key)} {label}", key)
        if p.choices and value not in p.choices:
            raise choices_error(f"{key} for {kind}", value, p.choices, where=f"{where.at(key)} {label}")
        if p.kind is int and p.default != 0 and key != "stride" and value < 1:
            raise UserError(f"{where.at(key)} {label}: {key} must be >= 1, got {value}")
        if kind == "dropout" and not 0 <= value < 1:
            raise UserError(f"{where.at(key)} {label}: rate must be in [0, 1), got {value}")
        params.append((key, list(value) if isinstance(value, tuple) else value))
    for key, p in schema.items():
        if p.required and key not in raw:
            raise UserError(f"{where.source} {label}: {kind} needs {key!r}")
    return LayerSpec(kind, tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in params))


def spec_from_document(doc: dict[str, Any], source: str = "<preset>", text: str | None = None) -> RunSpec:
    """Validate a preset/config document into a RunSpec, or raise one clear UserError."""
    where = _Where(source, text)
    for key in doc:
        if key not in TOP_KEYS:
            raise choices_error("top-level key", key, TOP_KEYS, where=where.at(key))
    task = doc.get("task")
    if task not in TASKS:
        raise choices_error("task", task, TASKS, where=where.at("task"))
    data = _section(doc, "data", where, required=("dataset",))
    for key in ("val_fraction", "test_fraction"):
        if not 0 <= getattr(data, key) < 0.9:
            raise UserError(f"{where.at(key)}: data.{key} must be in [0, 0.9)")
    model = doc.get("model", {})
    layers_raw = model.get("layers") if isinstance(model, dict) else None
    if not isinstance(layers_raw, list) or not layers_raw:
        raise UserError(f"{where.source}: [model] needs a non-empty 'layers' list")
    layers = tuple(_layer(raw, i, where) for i, raw in enumerate(layers_raw))
    train = _section(doc, "train", where, required=("loss",))
    optimizer = _section(doc, "optimizer", where)
    schedule = _section(doc, "schedule", where)
    run = _section(doc, "run", where)

    def check(value: Any, valid: Any, what: str, key: str) -> None:
        if value not in valid:
            raise choices_error(what, value, valid, where=where.at(key, str(value)))

    check(train.loss, LOSSES, "loss", "loss")
    if LOSSES[train.loss] != task:
        fits = [n for n, t in LOSSES.items() if t == task]
        raise choices_error(f"loss for a {task} task", train.loss, fits, where=where.at("loss"))
    for metric in train.metrics:
        fits = [n for n, t in METRICS.items() if t == task]
        check(metric, fits, f"metric for a {task} task", "metrics")
    check(optimizer.name, OPTIMIZERS, "optimizer", "name")
    check(schedule.name, SCHEDULES, "schedule", "name")
    check(run.framework, FRAMEWORKS, "framework", "framework")
    check(run.precision, PRECISIONS, "precision", "precision")
    check(run.keras_backend, KERAS_BACKENDS, "keras backend", "keras_backend")
    if not DEVICE_RE.match(run.device):
        raise UserError(
            f"{where.at('device')}: unknown device {run.device!r}; valid: auto, cpu, cuda, cuda:N, mps"
        )
    for key, value, low in (
        ("train.epochs", train.epochs, 1),
        ("train.batch_size", train.batch_size, 1),
        ("train.log_every", train.log_every, 1),
        ("train.checkpoint_every", train.checkpoint_every, 1),
        ("train.keep_checkpoints", train.keep_checkpoints, 1),
    ):
        if value < low:
            raise UserError(f"{where.at(key.split('.')[1])}: {key} must be >= {low}, got {value}")
    if not optimizer.lr > 0:
        raise UserError(f"{where.at('lr')}: optimizer.lr must be > 0, got {optimizer.lr}")
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
    )


def load_spec(name_or_path: str, overrides: dict[str, Any] | None = None) -> RunSpec:
    """Find a preset, apply overrides, validate. The one entry point for CLI and UI."""
    path = resolve_path(name_or_path)
    text = path.read_text(encoding="utf-8")
    doc = read_document(path)
    if overrides:
        doc = apply_overrides(doc, overrides)
    return spec_from_document(doc, source=str(path), text=text)
