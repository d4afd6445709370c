"""Figure 8: time to first frame of `tuitrain` against a bare Textual app, in a real pty
(160x48), launches interleaved; and which ML frameworks are imported by then.

First frame: from fork to the end of the first complete frame the program writes (Textual
frames are wrapped in synchronized-output marks once the terminal says it supports them, as
the harness does, like most modern terminals)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import emit, median
from benchmarks.ptyterm import PtyProgram
from benchmarks.ui_live import DECRQM_SYNC, FRAME_END, SYNC_YES


def first_frame(argv: list[str], runs_dir: str) -> float:
    p = PtyProgram(argv, cwd=runs_dir)
    try:
        if p.wait_for(DECRQM_SYNC, 30) is not None:
            p.send(SYNC_YES)
        t = p.wait_for(FRAME_END, 30)
        if t is None:
            raise RuntimeError(f"{argv}: no frame:\n{p.output()[-1500:]!r}")
        return t
    finally:
        p.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = str(Path(tmp, "runs"))
        ours = [sys.executable, "-m", "tuitrain", "--runs-dir", runs]
        bare = [sys.executable, "-m", "benchmarks.bare_app"]
        first_frame(ours, tmp), first_frame(bare, tmp)  # warm the page cache for both
        t_ours, t_bare = [], []
        for r in range(a.reps):
            for which in ((ours, bare) if r % 2 == 0 else (bare, ours)):
                (t_ours if which is ours else t_bare).append(first_frame(which, tmp))
        probe_out = str(Path(tmp, "probe.json"))
        p = PtyProgram([sys.executable, "-m", "benchmarks.app_probe", probe_out, "3",
                        "--runs-dir", runs], cwd=tmp)
        try:
            if p.wait_for(DECRQM_SYNC, 30) is not None:
                p.send(SYNC_YES)
            deadline = time.time() + 30
            while not Path(probe_out).exists() and time.time() < deadline:
                time.sleep(0.1)
            probe = json.loads(Path(probe_out).read_text())
        finally:
            p.close()
    emit({"ratio": median(t_ours) / median(t_bare), "tuitrain_s": median(t_ours),
          "bare_s": median(t_bare), "tuitrain": t_ours, "bare": t_bare,
          "frameworks": probe["frameworks"]})


if __name__ == "__main__":
    main()
