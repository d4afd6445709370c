"""Fine-tuning, framework-free: which run's checkpoint a new run starts from
(`--init-from RUN|CHECKPOINT`), which of a preset's layers `train.freeze` names, and the
matching of saved weights to a new model by name and shape (each backend lists both sides'
names and shapes and loads what this module says).

Names: a preset's layers are named by their top-level index in `[model] layers` ("0" is the
first; a block freezes whole) or by their summary label (`conv2d_0`); a person's own model
by its framework's names (torch `named_modules()`, Keras layer names), checked by the
backend that builds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from tuitrain.core.errors import UserError
from tuitrain.core.spec import RunSpec

Shape = tuple[int, ...]
SUFFIXES: dict[str, str] = {"torch": ".pt", "tensorflow": ".tfckpt", "keras": ".keras"}
LISTED = 8  # names an error lists before "…"


def _listed(names: list[str]) -> str:
    more = f", … ({len(names) - LISTED} more)" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more


def resolve_init(spec: RunSpec, runs_dir: Path) -> RunSpec:
    """The spec with `train.init_from` as an absolute checkpoint path: a run (folder, id or
    unique part of one: its best, else newest, checkpoint) or a checkpoint of the same
    framework. Unchanged when it is not set."""
    ref = spec.train.init_from
    if not ref:
        return spec
    framework = spec.run.framework
    suffix = SUFFIXES[framework]
    path = Path(ref)
    if path.name.endswith(suffix) and path.exists():
        ckpt = path.resolve()
    else:
        if path.suffix in SUFFIXES.values():
            raise UserError(f"--init-from {ref}: no such checkpoint")
        # Run folders (numpy, the event log) only here: the setup screen's first frame
        # checks freeze names through this module (validate.py).
        from tuitrain.core.checkpoints import CheckpointStore
        from tuitrain.core.rundir import find_run

        run = find_run(ref, runs_dir)
        source = run.read_spec().run.framework
        if source != framework:
            raise UserError(
                f"--init-from {ref}: that run trained with {source}; weights load into the "
                f"same framework only (this run: {framework})"
            )
        store = CheckpointStore(run.checkpoints, suffix)
        found = store.best() or store.latest()
        if found is None:
            raise UserError(f"--init-from {ref}: {run.id} has no complete checkpoint")
        ckpt = found.path.resolve()
    if not ckpt.name.endswith(suffix):
        raise UserError(
            f"--init-from {ref}: a {framework} run starts from a {suffix} checkpoint or a "
            f"{framework} run"
        )
    return replace(spec, train=replace(spec.train, init_from=str(ckpt)))


def frozen_indexes(spec: RunSpec, labels: list[str]) -> frozenset[int]:
    """The top-level layers of a preset that `train.freeze` names (`labels`: the summary's
    top-level labels, in order); an unknown name is a UserError listing the valid ones."""
    valid = {str(i): i for i in range(len(labels))} | {label: i for i, label in enumerate(labels)}
    for name in spec.train.freeze:
        if name not in valid:
            raise UserError(
                f"train.freeze: no layer {name!r} in the preset; name a top-level layer by "
                f"index (0-{len(labels) - 1}) or label: {_listed(labels)}"
            )
    return frozenset(valid[name] for name in spec.train.freeze)


def check_frozen_names(freeze: tuple[str, ...], names: list[str], where: str) -> None:
    """Every `train.freeze` name is one of a model's own layer names (`where` names it)."""
    unknown = [n for n in freeze if n not in names]
    if unknown:
        raise UserError(
            f"train.freeze: no layer {', '.join(map(repr, unknown))} in {where}; its layers: "
            f"{_listed(names)}"
        )


@dataclass(frozen=True)
class WeightMatch:
    """Which of a new model's weights come from the checkpoint (`loaded`), which start fresh
    (not in the checkpoint), and which of the checkpoint's are not used."""

    loaded: tuple[str, ...]
    fresh: tuple[str, ...]
    unused: tuple[str, ...]

    def describe(self, source: str) -> str:
        """One log line: what was loaded from where, and what was not."""
        text = f"initialized {len(self.loaded)} weights from {source}"
        if self.fresh:
            text += f"; trained from scratch: {_listed(list(self.fresh))}"
        if self.unused:
            text += f"; not used: {_listed(list(self.unused))}"
        return text


def match_weights(
    source: Mapping[str, Shape], target: Mapping[str, Shape], where: str
) -> WeightMatch:
    """Match a checkpoint's weights (`source`, name -> shape) to a new model's (`target`) by
    name and shape. A name in both with different shapes, or nothing in common, is a
    UserError listing what does not match; a new name starts fresh."""
    differ = [
        f"{n} {source[n]} vs {target[n]}"
        for n in target
        if n in source and tuple(source[n]) != tuple(target[n])
    ]
    if differ:
        raise UserError(
            f"--init-from {where}: weights differ in shape (checkpoint vs this model): "
            f"{_listed(differ)}; weights load by name and shape (a layer to train from "
            "scratch needs a name of its own)"
        )
    loaded = tuple(n for n in target if n in source)
    if not loaded:
        raise UserError(
            f"--init-from {where}: no weight of this model is in it by name; this model: "
            f"{_listed(list(target))}; the checkpoint: {_listed(list(source))}"
        )
    return WeightMatch(
        loaded,
        tuple(n for n in target if n not in source),
        tuple(n for n in source if n not in target),
    )
