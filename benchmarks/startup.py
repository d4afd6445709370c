"""Figure 8: time to first frame of `tuitrain` against a bare Textual app, in a real pty
(160x48), launches interleaved; and which ML frameworks are imported by then.

First frame: from fork to the end of the first complete frame the program writes (Textual
frames are wrapped in synchronized-output marks once the terminal says it supports them, as
the harness does, like most modern terminals), and that frame must show the program's first
screen (a marker text), so a blank placeholder frame would not count.

Both programs run as installed programs do, from cached bytecode: pip compiles Textual when
it installs it, and Python caches the bytecode of an editable tuitrain on its first run. With
PYTHONDONTWRITEBYTECODE=1 (set on some machines, this one included) tuitrain's sources would be
compiled again on every launch while Textual's would not, so the launches here write their
caches to a temporary PYTHONPYCACHEPREFIX, filled by the warm-up launches."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import child_env, emit, median
from benchmarks.ptyterm import PtyProgram
from benchmarks.ui_live import DECRQM_SYNC, FRAME_END, SYNC_YES

TUITRAIN_MARK = b"Preset"  # the setup screen's list title
BARE_MARK = b"bare textual app"


def installed_env(cache: str) -> dict[str, str]:
    """The benchmark's child environment with bytecode caching on, into `cache`."""
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


LOST_SYNC: list[str] = []  # launches that never drew a synchronized frame (retried)


def first_frame(argv: list[str], cwd: str, mark: bytes, env: dict[str, str]) -> float:
    """Seconds from launch to the end of the first synchronized frame showing `mark`.

    Now and then (twice in about 150 launches here) the terminal's answer
    to the synchronized-output query is lost and the program draws unsynchronized frames,
    whose end cannot be seen: that launch is dropped, counted in LOST_SYNC, and made again."""
    for _ in range(3):
        p = PtyProgram(argv, cwd=cwd, env=env)
        try:
            if p.wait_for(DECRQM_SYNC, 30) is not None:
                p.send(SYNC_YES)
            start = 0
            while (t := p.wait_for(FRAME_END, 10, start)) is not None:
                out = p.output()
                end = out.index(FRAME_END, start) + len(FRAME_END)
                if mark in out[:end]:
                    return t
                start = end
            if FRAME_END in p.output() or mark not in p.output():
                raise RuntimeError(f"{argv}: no frame showing {mark!r}:\n{p.output()[-1500:]!r}")
            LOST_SYNC.append(argv[-1])
        finally:
            p.close(grace=0)  # measured: no need to wait for a graceful exit
    raise RuntimeError(f"{argv}: no synchronized frame in 3 launches")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = str(Path(tmp, "runs"))
        env = installed_env(str(Path(tmp, "pycache")))
        ours = [sys.executable, "-m", "tuitrain", "--runs-dir", runs]
        bare = [sys.executable, "-m", "benchmarks.bare_app"]
        marks = {id(ours): TUITRAIN_MARK, id(bare): BARE_MARK}
        for argv in (ours, bare):  # write the bytecode caches, warm the page cache
            first_frame(argv, tmp, marks[id(argv)], env)
        t_ours, t_bare = [], []
        for r in range(a.reps):
            for which in (ours, bare) if r % 2 == 0 else (bare, ours):
                t = first_frame(which, tmp, marks[id(which)], env)
                (t_ours if which is ours else t_bare).append(t)
        probe_out = str(Path(tmp, "probe.json"))
        p = PtyProgram(
            [sys.executable, "-m", "benchmarks.app_probe", probe_out, "3", "--runs-dir", runs],
            cwd=tmp,
            env=env,
        )
        try:
            if p.wait_for(DECRQM_SYNC, 30) is not None:
                p.send(SYNC_YES)
            deadline = time.time() + 30
            while not Path(probe_out).exists() and time.time() < deadline:
                time.sleep(0.1)
            probe = json.loads(Path(probe_out).read_text())
        finally:
            p.close()
    emit(
        {
            "tuitrain_s": median(t_ours),
            "bare_s": median(t_bare),
            "tuitrain": t_ours,
            "bare": t_bare,
            "lost_sync": LOST_SYNC,
            "frameworks": probe["frameworks"],
        }
    )


if __name__ == "__main__":
    main()
