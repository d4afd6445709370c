"""`tuitrain export RUN [--format F] [--output PATH]`: the best checkpoint's model in a
serving format (`torch.export` / ONNX for PyTorch; `.keras` / SavedModel for TensorFlow and
Keras), written atomically and never over an existing file, and the input and output it
expects, as every framework's export takes them (images channels-last): raw inputs and
outputs in the data's units when the run saved its standardization statistics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tuitrain.cli.evaluate import load_best
from tuitrain.cli.framework_noise import fd2_into
from tuitrain.cli.options import runs_dir
from tuitrain.core.atomic import write_with
from tuitrain.core.errors import UserError, choices_error
from tuitrain.core.preprocessing import standardizes_inputs
from tuitrain.core.rundir import find_run

if TYPE_CHECKING:
    from tuitrain.backends.base import Signature
    from tuitrain.core.datasets import DatasetInfo
    from tuitrain.core.preprocessing import Preprocessing
    from tuitrain.core.spec import RunSpec


def cmd_export(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args))
    with fd2_into(run.runner_log):  # the framework's start-up noise
        spec, ckpt, backend, splits, saved = load_best(run, "export")
        formats = backend.export_formats
        fmt = args.format or next(iter(formats))
        if fmt not in formats:
            raise choices_error(f"export format for {spec.run.framework}", fmt, formats)
        suffix = formats[fmt]
        name = f"{run.id}{suffix or '-' + fmt}"
        dest = Path(args.output) if args.output else run.path / "export" / name
        if dest.exists():
            raise UserError(f"{dest} already exists; pass another --output or remove it first")
        signature = write_with(
            dest,
            lambda tmp: backend.export(spec, splits, ckpt.path, tmp, fmt, saved),
            is_dir=not suffix,
        )
    print(f"{run.id}: {ckpt.name} exported as {fmt} to {dest}")
    print("\n".join(describe(signature, spec, splits.info, saved)))
    return 0


_NOT_SAVED = "(the run predates saved statistics: they are not in the export)"


def describe(
    signature: Signature, spec: RunSpec, info: DatasetInfo, saved: Preprocessing | None
) -> list[str]:
    """The exported model's input and output, with what the data went through at training:
    with the run's saved statistics the export standardizes raw inputs and returns the
    data's units itself; without them it takes and returns standardized values."""
    if standardizes_inputs(info) and saved is not None:
        given = "raw, as in the data (the export standardizes them with the run's statistics)"
    elif standardizes_inputs(info):
        given = f"standardized per feature as at training {_NOT_SAVED}"
    elif info.input_dtype == "float32":
        given = "as loaded at training, not standardized"
    else:
        given = "token ids, as in the data"
    if info.task == "regression" and saved is not None:
        returned = "targets in the data's units (the export de-standardizes them)"
    elif info.task == "regression":
        returned = f"standardized targets as at training {_NOT_SAVED}"
    elif spec.train.loss == "binary_cross_entropy":
        returned = f"one logit, > 0 for class {info.class_names[1]}"
    else:
        names = ", ".join(info.class_names[:10]) + (", ..." if len(info.class_names) > 10 else "")
        returned = f"logits, one per class ({names})"
    return [
        f"  inputs:  {signature.input_dtype} {_shape(signature.input_shape)}, {given}",
        f"  outputs: {signature.output_dtype} {_shape(signature.output_shape)}, {returned}",
    ]


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"
