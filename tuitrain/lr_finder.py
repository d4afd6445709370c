"""The learning-rate finder's process: `python -m tuitrain.lr_finder RUN_DIR --steps N
--start S --end E`, started by `tuitrain lr-find` and the setup screen on a throwaway run
folder (its settings). It places the run as a runner would, trains the range test
(core/lr_find.py) in the run's framework, and prints one JSON line: the rates, the losses,
the smoothed losses, the suggestion and whether the loss diverged."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitrain.lr_finder")
    parser.add_argument("run", type=Path)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--start", type=float, required=True)
    parser.add_argument("--end", type=float, required=True)
    args = parser.parse_args(argv)
    from tuitrain.core.errors import UserError
    from tuitrain.core.rundir import RunDir

    run = RunDir.open(args.run)
    spec = run.read_spec()
    if spec.run.framework == "keras":
        os.environ["KERAS_BACKEND"] = spec.run.keras_backend
    from tuitrain import backends
    from tuitrain.core.checkpoints import CheckpointStore
    from tuitrain.core.data import load_splits
    from tuitrain.core.lr_find import LrFinder
    from tuitrain.runner import place_devices

    try:
        spec, claims, _ = place_devices(run.id, spec)
        backend = backends.load(spec.run.framework)
        splits = load_splits(spec.data, spec.run.seed, task=spec.task)
        store = CheckpointStore(run.checkpoints, backend.checkpoint_suffix)
        finder = LrFinder(spec, run, splits.sizes[0], store)
        finder.start, finder.end, finder.steps = args.start, args.end, args.steps
        backend.train(finder, splits, None)
        if claims is not None:
            claims.release()
    except UserError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    assert finder.result is not None
    print(json.dumps(asdict(finder.result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
