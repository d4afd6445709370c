"""`tuitrain eval RUN`: the best checkpoint on the test split, in this process (which then
imports exactly one framework), written to `eval.json` in the run folder too, with the
outputs and targets in `eval-predictions.npz` (regression: in the data's units when the run
saved its statistics)."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from tuitrain import backends
from tuitrain.cli.framework_noise import fd2_into
from tuitrain.cli.options import runs_dir
from tuitrain.core import preprocessing, split_index
from tuitrain.core.atomic import write_atomic, write_with
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.data import load_splits
from tuitrain.core.errors import UserError
from tuitrain.core.evaluation import classification_report, regression_report, render
from tuitrain.core.rundir import RunDir, find_run
from tuitrain.core.spec import RunSpec

if TYPE_CHECKING:
    from tuitrain.backends.base import Backend
    from tuitrain.core.checkpoints import Checkpoint
    from tuitrain.core.data import Splits
    from tuitrain.core.preprocessing import Preprocessing


PREDICTIONS = "eval-predictions.npz"


def open_best(run: RunDir, purpose: str) -> tuple[RunSpec, Checkpoint, Backend]:
    """The run's spec, its best (else newest) complete checkpoint and its framework's
    backend. No checkpoint is said before the seconds a framework import takes."""
    spec = run.read_spec()
    if spec.run.framework == "keras":
        os.environ.setdefault("KERAS_BACKEND", spec.run.keras_backend)
    store = CheckpointStore(run.checkpoints, "", spec.train.keep_checkpoints)  # read only
    ckpt = store.best() or store.latest()
    if ckpt is None:
        raise UserError(f"{run.id}: no complete checkpoint to {purpose}")
    return spec, ckpt, backends.load(spec.run.framework)


def load_best(
    run: RunDir, purpose: str
) -> tuple[RunSpec, Checkpoint, Backend, Splits, Preprocessing | None]:
    """`open_best`, with the run's data (split as the run recorded it, standardized with the
    run's saved statistics) and those statistics (None for a run from before they were
    saved): what `eval` and `export` start from."""
    saved = preprocessing.read(run.preprocessing)
    recorded = split_index.read(run.splits)
    spec, ckpt, backend = open_best(run, purpose)
    splits = load_splits(spec.data, spec.run.seed, spec.task, saved, recorded)
    return spec, ckpt, backend, splits, saved


def cmd_eval(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args))
    with fd2_into(run.runner_log):  # the framework's start-up noise
        spec, ckpt, backend, splits, saved = load_best(run, "evaluate")
        _, n_val, n_test = splits.sizes
        split = "test" if n_test else "val"
        if not n_val and split == "val":
            raise UserError(
                f"{run.id}: nothing to evaluate on; the run has no test or "
                "validation samples (data.test_fraction and data.val_fraction are 0)"
            )
        result = backend.evaluate(spec, splits, ckpt.path, split)
    if spec.task == "classification":
        binary = spec.train.loss == "binary_cross_entropy"
        report = classification_report(
            result.outputs, result.targets, splits.info.class_names, result.metrics, binary=binary
        )
        outputs, targets = result.outputs, result.targets
    else:
        outputs, targets = result.outputs.reshape(result.targets.shape), result.targets
        scaling = saved.targets if saved else None
        if scaling is not None:  # the data's own units
            outputs, targets = scaling.restore(outputs), scaling.restore(targets)
        report = regression_report(
            outputs, targets, result.metrics, spec.train.loss, real_units=scaling is not None
        )
    write_with(
        run.path / PREDICTIONS,
        lambda tmp: np.savez(tmp, outputs=outputs, targets=targets),
    )
    result_doc = {"checkpoint": ckpt.name, "split": split, **asdict(report)}
    write_atomic(run.path / "eval.json", json.dumps(result_doc, indent=2, allow_nan=True))
    print(f"{run.id}: {ckpt.name} on the {split} split ({len(result.targets)} samples)")
    print("\n".join(render(report)))
    return 0
