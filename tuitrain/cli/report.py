"""`tuitrain report RUN [RUN...] --out report.md`: a Markdown report with SVG charts."""

from __future__ import annotations

import argparse

from tuitrain.cli.options import runs_dir
from tuitrain.core.report import write_report
from tuitrain.core.rundir import find_run


def cmd_report(args: argparse.Namespace) -> int:
    runs = [find_run(ref, runs_dir(args)) for ref in args.runs]
    written = write_report(runs, args.out)
    print(f"wrote {written[0]} and {len(written) - 1} charts in {written[1].parent}")
    return 0
