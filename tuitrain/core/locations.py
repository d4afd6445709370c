"""Where tuitrain keeps run folders unless told otherwise: `$TUITRAIN_RUNS_DIR`, else
`./runs`. Its own module so that the dashboard's start-up finds the folder without
importing the run-folder code (`core.rundir`) before its first frame."""

from __future__ import annotations

import os
from pathlib import Path


def default_runs_dir() -> Path:
    """`$TUITRAIN_RUNS_DIR`, else `./runs`."""
    return Path(os.environ.get("TUITRAIN_RUNS_DIR") or "runs")
