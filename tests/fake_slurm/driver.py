"""Runs a fake SLURM job array's tasks on this machine, `parallel` at a time. With
FAKE_SLURM_TIME_LIMIT=S a task's first attempt gets SIGUSR1 after S seconds (SLURM's
`--signal=B:USR1` before a time limit); a task requeued by `scontrol requeue` runs again."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import STATE, read_job, write_job

job = sys.argv[1]
limit = float(os.environ.get("FAKE_SLURM_TIME_LIMIT") or 0)
running: dict[str, tuple[subprocess.Popen, float, bool]] = {}
while True:
    record = read_job(job)
    for task, (proc, started, warned) in list(running.items()):
        first = record["attempts"].get(task, 1) == 1
        if limit and first and not warned and time.monotonic() - started > limit:
            os.kill(proc.pid, signal.SIGUSR1)
            running[task] = (proc, started, True)
        if proc.poll() is None:
            continue
        del running[task]
        marker = STATE / f"requeue-{job}_{task}"
        if marker.exists():
            marker.unlink()
            record["tasks"][task] = "PENDING"
            record["attempts"][task] = record["attempts"].get(task, 1) + 1
        else:
            record["tasks"][task] = "COMPLETED"
    for task, state in record["tasks"].items():
        if state == "PENDING" and len(running) < record["parallel"]:
            env = dict(os.environ, SLURM_ARRAY_JOB_ID=job, SLURM_ARRAY_TASK_ID=task,
                       SLURM_JOB_ID=f"{job}{int(task):03d}")
            with open(STATE / f"task-{job}_{task}.log", "ab") as log:
                proc = subprocess.Popen(["bash", record["script"]], env=env, stdout=log,
                                        stderr=log, stdin=subprocess.DEVNULL)
            running[task] = (proc, time.monotonic(), False)
            record["tasks"][task] = "RUNNING"
    write_job(job, record)
    if not running and "PENDING" not in record["tasks"].values():
        break
    time.sleep(0.1)
