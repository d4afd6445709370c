"""Check a preset with a set of overrides and say which override is wrong.

The setup screen edits one value per field; when the whole spec is invalid, each override is
tried alone against the preset so the error can be shown at the field that causes it. An
error that only a combination causes goes to the field edited last. Framework-free and
cheap for built-in datasets (nothing is loaded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuitrain.core import validate
from tuitrain.core.datasets import DatasetInfo
from tuitrain.core.errors import UserError
from tuitrain.core.presets import load_spec
from tuitrain.core.shapes import Summary
from tuitrain.core.spec import RunSpec

# Overrides that change the model's shape: the summary is computed from these alone, so it
# stays visible while, say, the learning rate is being typed.
STRUCTURE_KEYS: tuple[str, ...] = (
    "model.file", "data.dataset", "data.target", "data.samples", "train.loss"
)


@dataclass(frozen=True)
class CheckResult:
    """The outcome: a valid spec, or errors keyed by override key; plus the model summary."""

    spec: RunSpec | None = None
    info: DatasetInfo | None = None
    summary: Summary | None = None  # None also for a person's own model (no layer table)
    summary_error: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    general: str = ""  # an error no single key explains (e.g. a broken preset file)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors and not self.general


def _try(
    preset: str, overrides: dict[str, Any]
) -> tuple[RunSpec, DatasetInfo, Summary | None] | str:
    """The checked spec with its dataset info and summary, or the error text."""
    try:
        spec = load_spec(preset, overrides)
        info, summary = validate.check(spec)
    except UserError as exc:
        return str(exc)
    return spec, info, summary


def check_overrides(preset: str, overrides: dict[str, Any], fixed: dict[str, Any] | None = None,
                    last_edited: str | None = None) -> CheckResult:
    """Validate `preset` + `fixed` + `overrides`; errors are attributed to `overrides` keys.

    `fixed` holds values that are never wrong on their own (framework, device picked from a
    list) and are applied to every trial."""
    fixed = fixed or {}
    structure = {k: v for k, v in overrides.items() if k in STRUCTURE_KEYS}
    shaped = _try(preset, {**fixed, **structure})
    summary = info = None
    summary_error = ""
    if isinstance(shaped, str):
        summary_error = shaped
    else:
        _, info, summary = shaped
    full = _try(preset, {**fixed, **overrides})
    if not isinstance(full, str):
        spec, info, summary = full
        return CheckResult(spec, info, summary)
    base = _try(preset, fixed)
    if isinstance(base, str):
        return CheckResult(summary_error=summary_error, general=base)
    errors: dict[str, str] = {}
    for key, value in overrides.items():
        alone = _try(preset, {**fixed, key: value})
        if isinstance(alone, str):
            errors[key] = alone
    if not errors:
        target = last_edited if last_edited in overrides else next(iter(overrides), None)
        if target is None:
            return CheckResult(info=info, summary=summary, summary_error=summary_error,
                               general=full)
        errors[target] = full
    return CheckResult(info=info, summary=summary, summary_error=summary_error, errors=errors)
