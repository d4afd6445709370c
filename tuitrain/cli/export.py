"""`tuitrain export RUN [--format F] [--output PATH]`: the best checkpoint's model in a
serving format (`torch.export` / ONNX for PyTorch; `.keras` / SavedModel for TensorFlow and
Keras), written atomically and never over an existing file."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuitrain.cli.evaluate import load_best
from tuitrain.cli.framework_noise import fd2_into
from tuitrain.cli.options import runs_dir
from tuitrain.core.atomic import write_with
from tuitrain.core.errors import UserError, choices_error
from tuitrain.core.rundir import find_run


def cmd_export(args: argparse.Namespace) -> int:
    run = find_run(args.run, runs_dir(args))
    with fd2_into(run.runner_log):  # the framework's start-up noise
        spec, ckpt, backend, splits = load_best(run, "export")
        formats = backend.export_formats
        fmt = args.format or next(iter(formats))
        if fmt not in formats:
            raise choices_error(f"export format for {spec.run.framework}", fmt, formats)
        suffix = formats[fmt]
        name = f"{run.id}{suffix or '-' + fmt}"
        dest = Path(args.output) if args.output else run.path / "export" / name
        if dest.exists():
            raise UserError(f"{dest} already exists; pass another --output or remove it first")
        write_with(
            dest, lambda tmp: backend.export(spec, splits, ckpt.path, tmp, fmt), is_dir=not suffix
        )
    print(f"{run.id}: {ckpt.name} exported as {fmt} to {dest}")
    return 0
