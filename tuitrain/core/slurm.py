"""A sweep on a SLURM cluster: the batch script of its job array, and the few `sbatch`,
`squeue` and `scontrol` calls tuitrain makes. SLURM schedules; tuitrain never runs its own
scheduler there.

Each array task is one trial: `tuitrain sweep task SWEEP N`, run in the foreground of the
batch script (`exec`, so that SLURM's signals reach it). The script asks SLURM for SIGUSR1
`WARN_SECONDS` before the time limit (`--signal=B:USR1@...`): the task then stops its
trial gracefully (a checkpoint) and requeues itself (`scontrol requeue`), and the requeued
task resumes from that checkpoint. A preemption sends SIGTERM: the trial stops with a
checkpoint the same way, and SLURM requeues the task (`--requeue`) where the cluster's
preemption mode is REQUEUE. Run folders live on the cluster's shared file system, where
`sweep show` reads them back from any node."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tuitrain.core.errors import UserError

WARN_SECONDS = 180  # the time-limit warning: enough for a large model's checkpoint
_SUBMITTED = re.compile(r"Submitted batch job (\d+)")


def batch_script(sweep_id: str, runs_dir: Path, log_dir: Path) -> str:
    """The job array's batch script; the array itself is given to `sbatch` (`submit`)."""
    runs = runs_dir.resolve()
    return "\n".join([
        "#!/bin/bash",
        f"#SBATCH --job-name={sweep_id}",
        f"#SBATCH --output={log_dir.resolve()}/{sweep_id}-%a.log",
        "#SBATCH --open-mode=append",
        "#SBATCH --requeue",
        f"#SBATCH --signal=B:USR1@{WARN_SECONDS}",
        "# One trial per array task; tuitrain resumes a requeued task from its checkpoint.",
        f"exec {shlex.quote(sys.executable)} -m tuitrain sweep task {shlex.quote(sweep_id)} "
        f'"$SLURM_ARRAY_TASK_ID" --runs-dir {shlex.quote(str(runs))}',
        "",
    ])


def array_spec(tasks: list[int], parallel: int | None) -> str:
    """`0-9%4`, `1,4,7`: the tasks, and at most `parallel` running at once."""
    if tasks == list(range(tasks[0], tasks[-1] + 1)) and len(tasks) > 1:
        text = f"{tasks[0]}-{tasks[-1]}"
    else:
        text = ",".join(str(t) for t in tasks)
    return text + (f"%{parallel}" if parallel else "")


def _call(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a SLURM command; a one-line error when the controller does not answer."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"`{Path(cmd[0]).name}` did not answer within {timeout:g} s "
                        "(is the SLURM controller up?)") from None


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise UserError(f"--on slurm: `{name}` is not on PATH; run this on a SLURM login node "
                        "(or load its module)")
    return found


def batch_tools() -> None:
    """Fail in one line, before anything is made, where SLURM's commands are missing."""
    for name in ("sbatch", "squeue", "scontrol"):
        _tool(name)


def submit(script: Path, tasks: list[int], parallel: int | None, extra: str) -> str:
    """`sbatch --array=... [extra] SCRIPT`; the job id, or a one-line error with sbatch's."""
    cmd = [_tool("sbatch"), f"--array={array_spec(tasks, parallel)}", *shlex.split(extra),
           str(script)]
    out = _call(cmd, 120)
    found = _SUBMITTED.search(out.stdout)
    if out.returncode != 0 or found is None:
        why = " ".join((out.stderr or out.stdout).split()) or f"exit {out.returncode}"
        raise UserError(f"sbatch refused the sweep's job array: {why}")
    return found.group(1)


def active_tasks(job_id: str) -> set[int]:
    """The array tasks of `job_id` still pending or running (`squeue`)."""
    out = _call([_tool("squeue"), "--noheader", "--array", f"--jobs={job_id}",
                 "--format=%K"], 60)
    return {int(t) for t in out.stdout.split() if t.isdigit()}


def requeue(job_id: str) -> bool:
    """Put this array task back in SLURM's queue; False where scontrol refused."""
    try:
        return _call([_tool("scontrol"), "requeue", job_id], 60).returncode == 0
    except UserError:
        return False
