"""`tuitrain lr-find --preset P [train's options]`: the learning-rate range test, its loss
against the rate plotted in the terminal, and the suggested rate."""

from __future__ import annotations

import argparse
import sys

from tuitrain import backends
from tuitrain.cli.options import overrides, runs_dir
from tuitrain.core import finetune
from tuitrain.core.errors import UserError
from tuitrain.core.presets import load_spec


def cmd_lr_find(args: argparse.Namespace) -> int:
    from tuitrain.core import lr_find

    if not args.preset:
        raise UserError("lr-find needs --preset NAME or a .toml path; see `tuitrain presets`")
    spec = finetune.resolve_init(load_spec(args.preset, overrides(args)), runs_dir(args))
    spec = backends.preflight(spec)
    print(f"range test: {args.steps} steps, learning rate {args.start:g} to {args.end:g} "
          f"({spec.name}, {spec.run.framework}); the weights are thrown away after",
          flush=True)
    sweep = lr_find.find(spec, args.steps, args.start, args.end)
    if sys.stdout.isatty():
        print(lr_find.plot_text(sweep))
    low = min(sweep.smoothed) if sweep.smoothed else float("nan")
    print(f"{len(sweep.lrs)} steps" + (", stopped when the loss diverged" if sweep.diverged
                                        else "") + f"; lowest smoothed loss {low:.4g}")
    if sweep.suggested is None:
        print("no suggestion: the loss did not fall; try a wider --start/--end or more --steps")
        return 1
    print(f"suggested learning rate: {sweep.suggested:.3g} (steepest descent of the smoothed "
          f"loss)\n  use it: tuitrain train -p {args.preset} --lr {sweep.suggested:.3g}")
    return 0
