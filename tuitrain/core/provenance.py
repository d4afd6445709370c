"""What a run needs to be made again, recorded when its folder is created
(`reproduce.json`, and `git.diff` for uncommitted changes): the command that created it and
where, the git commit of that folder's repository, the installed packages and their
versions, Python, the host, its CPU and GPU models. The framework, CUDA and cuDNN versions
the run trained with are in its event log (`RunStarted.versions`). `tuitrain reproduce`
turns all of it into commands (`reproduce_commands`).

Collected once per process (a sweep makes hundreds of folders) and never fatal: a run is
created even where git or a file cannot be read."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from tuitrain.core.atomic import write_atomic

FILE = "reproduce.json"
DIFF = "git.diff"
DIFF_LIMIT = 8 << 20  # bytes of uncommitted changes kept; a larger diff is cut and says so


def _git(cwd: str, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", cwd, *args], capture_output=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode("utf-8", "replace") if out.returncode == 0 else None


@functools.lru_cache(maxsize=8)
def _git_state(cwd: str) -> tuple[dict[str, Any], str]:
    """The repository `cwd` is in: root, commit, branch, untracked files; and the diff of
    uncommitted changes to tracked files (empty when clean)."""
    root = _git(cwd, "rev-parse", "--show-toplevel")
    if root is None:
        return {}, ""
    commit = (_git(cwd, "rev-parse", "HEAD") or "").strip()
    diff = _git(cwd, "diff", "HEAD", "--binary") or ""
    untracked = (_git(cwd, "ls-files", "--others", "--exclude-standard") or "").split()
    info = {"root": root.strip(), "commit": commit,
            "branch": (_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or "").strip(),
            "dirty": bool(diff), "untracked": untracked[:200]}
    if len(diff) > DIFF_LIMIT:
        info["diff_cut_at"] = DIFF_LIMIT
        diff = diff[:DIFF_LIMIT]
    return info, diff


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def _machine() -> dict[str, Any]:
    """This process's machine and software: the same for every run it creates."""
    from tuitrain.core import gpus

    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:  # as pip names it: lower case, '-' for '_' and '.'
            packages[name.lower().replace("_", "-").replace(".", "-")] = dist.version
    return {
        "python": sys.version.split()[0], "executable": sys.executable,
        "platform": platform.platform(), "host": socket.gethostname(),
        "cpu": _cpu_model(), "cores": os.cpu_count(),
        "gpus": [g.name for g in gpus.read()], "packages": dict(sorted(packages.items())),
    }


def record(run_path: Path, argv: list[str] | None = None, cwd: str | None = None) -> None:
    """Write the run's `reproduce.json` (and `git.diff`); nothing raises."""
    argv = list(sys.argv if argv is None else argv)
    cwd = cwd or os.getcwd()
    with contextlib.suppress(Exception):  # a record, never a reason for a run not to start
        git, diff = _git_state(cwd)
        document = {"command": argv, "cwd": cwd, "git": git, **_machine()}
        if diff:
            write_atomic(run_path / DIFF, diff)
        else:
            (run_path / DIFF).unlink(missing_ok=True)
        write_atomic(run_path / FILE, json.dumps(document, indent=2))


def read(run_path: Path) -> dict[str, Any]:
    try:
        raw = json.loads((run_path / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def reproduce_commands(run_path: Path, versions: dict[str, str],
                       changes: list[tuple[int, str, str, str]]) -> list[str]:
    """Shell lines that make the run again: the folder and code it was started from, the
    packages it trained with, and `tuitrain train` on its resolved settings; `versions` are
    its framework's (RunStarted), `changes` (step, key, old, new) its live changes."""
    import shlex

    record_ = read(run_path)
    lines = [f"# {run_path.name}: made again from its record ({FILE}, config.toml)"]
    if not record_:
        lines.append(f"# (no {FILE}: a run made before tuitrain recorded it; the settings "
                     "below are all there is)")
    if record_.get("host"):
        gpus = ", ".join(record_.get("gpus") or []) or "no GPU"
        lines.append(f"# it ran on {record_['host']}: {record_.get('cpu', '?')}, "
                     f"{record_.get('cores', '?')} cores, {gpus}; Python "
                     f"{record_.get('python', '?')}")
    if versions:
        lines.append("# trained with " + ", ".join(f"{k} {v}" for k, v in sorted(
            versions.items())))
    if record_.get("cwd"):
        lines.append(f"cd {shlex.quote(record_['cwd'])}")
    git = record_.get("git") or {}
    if git.get("commit"):
        lines.append(f"git checkout {git['commit']}  # {git.get('branch') or 'detached'}")
        if (run_path / DIFF).exists():
            lines.append(f"git apply {shlex.quote(str(run_path / DIFF))}  # its uncommitted "
                         "changes" + (" (cut: it was larger)" if git.get("diff_cut_at") else ""))
        if git.get("untracked"):
            lines.append(f"# untracked files then, not recorded: {', '.join(git['untracked'][:5])}"
                         + (" ..." if len(git["untracked"]) > 5 else ""))
    packages = record_.get("packages") or {}
    wanted = [*(f"{v}" for k, v in versions.items() if k == "keras_backend"),
              *(k for k in versions if k not in ("keras_backend", "cuda", "cudnn")), "numpy"]
    pinned = [f"{dist}=={packages[dist]}" for name in dict.fromkeys(wanted)
              for dist in (name, f"{name}-cpu") if dist in packages]
    if pinned:
        lines.append("pip install " + " ".join(pinned))
    if "tuitrain" in packages:
        lines.append(f"pip install -e .  # tuitrain {packages['tuitrain']}, from the checkout")
    lines.append(f"tuitrain train --preset {shlex.quote(str(run_path / 'config.toml'))}")
    for step, key, old, new in changes:
        lines.append(f"# changed live at step {step}: {key} {old} -> {new}  "
                     f"(tuitrain set RUN {key}={new})")
    if record_.get("command"):
        argv = record_["command"]
        lines.append("# first started as: tuitrain " + shlex.join(argv[1:]))
    return lines
