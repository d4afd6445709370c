"""Shared by the fake SLURM commands (tests only): the state folder and a job's record."""

import json
import os
from pathlib import Path

STATE = Path(os.environ["FAKE_SLURM_DIR"])


def job_file(job: str) -> Path:
    return STATE / f"job-{job}.json"


def read_job(job: str) -> dict:
    return json.loads(job_file(job).read_text())


def write_job(job: str, record: dict) -> None:
    tmp = job_file(job).with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, job_file(job))
