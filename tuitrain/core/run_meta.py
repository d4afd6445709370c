"""What people and sweeps say about a run, apart from what its runner writes: its tags, a
one-line note, and for a sweep's trial the sweep, the trial's number and its settings.
`meta.json` in the run folder, rewritten atomically; the runner never touches it, so it
holds across resumes and a runner's summary rewrites."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tuitrain.core.atomic import write_atomic

FILE = "meta.json"


@dataclass(frozen=True)
class RunMeta:
    tags: tuple[str, ...] = ()
    note: str = ""
    sweep: str = ""  # the sweep this run is a trial of
    trial: int | None = None  # its number in the sweep, from 0
    params: dict[str, Any] = field(default_factory=dict)  # the trial's settings
    pruned: bool = False  # stopped early by the sweep's pruner

    def with_changes(self, **changes: Any) -> RunMeta:
        return replace(self, **changes)


def settings_text(params: dict[str, Any]) -> str:
    """'optimizer.lr=0.00123 train.batch_size=64': a trial's settings on one line."""
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in params.items())


def read_meta(run_path: Path) -> RunMeta:
    """The run's meta, empty when it has none (or it cannot be read: it is never vital)."""
    try:
        raw = json.loads((run_path / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return RunMeta()
    if not isinstance(raw, dict):
        return RunMeta()
    known = {k: v for k, v in raw.items() if k in RunMeta.__dataclass_fields__}
    known["tags"] = tuple(str(t) for t in known.get("tags", ()))
    try:
        return RunMeta(**known)
    except TypeError:
        return RunMeta()


def write_meta(run_path: Path, meta: RunMeta) -> None:
    write_atomic(run_path / FILE, json.dumps(asdict(meta), indent=2))
