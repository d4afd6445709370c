"""Device detection without importing a framework here: each installed framework is asked
in its own child process (`tuitrain.backends.probe`), in parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tuitrain.core import gpu_claims, gpus, placement
from tuitrain.core.catalog import FRAMEWORKS
from tuitrain.core.errors import UserError


def probe(framework: str, timeout: float = 60.0) -> dict[str, Any]:
    """{'framework', 'versions', 'devices': [...]} or {'error': ...} for one framework."""
    # CUDA numbers GPUs by PCI bus here, as NVML does and as the runner sets it (core/placement)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_DEVICE_ORDER="PCI_BUS_ID")
    if framework == "keras":
        env.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        out = subprocess.run([sys.executable, "-m", "tuitrain.backends.probe", framework],
                             capture_output=True, text=True, timeout=timeout, env=env, check=False)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return {"framework": framework, "error": f"device probe failed: {exc}", "devices": []}


def detect_all(frameworks: tuple[str, ...] = FRAMEWORKS) -> list[dict[str, Any]]:
    """Probe several frameworks at once."""
    with ThreadPoolExecutor(len(frameworks)) as pool:
        return list(pool.map(probe, frameworks))


def check_available(framework: str, device: str) -> None:
    """Refuse an explicit accelerator (`cuda`, `cuda:N`, `mps`) the framework does not see,
    before a run folder is made; `auto` and `cpu` always work. Asks in a child process."""
    if device in ("auto", "cpu"):
        return
    found = probe(framework)
    if found.get("error"):
        return  # the framework itself is broken or missing: the runner reports that
    ids = [d["id"] for d in found.get("devices", [])]
    if ("cuda:0" if device == "cuda" else device) not in ids:
        raise UserError(f"device {device!r} is not available to {framework}; it sees: "
                        + (", ".join(ids) or "no devices"))


def gpu_use() -> list[placement.Candidate]:
    """Each GPU this process may use (CUDA's numbers), as NVML sees it now: its memory,
    utilisation and processes, and whether another tuitrain run has claimed it. [] without
    NVIDIA GPUs; a CUDA_VISIBLE_DEVICES that names GPUs the machine lacks shows them all."""
    return gpu_claims.candidates(gpus.read(), os.environ.get("CUDA_VISIBLE_DEVICES"),
                                 lenient=True)


def use_line(candidate: placement.Candidate) -> str:
    """'87% util · in use by alice (pid 4242 python, 60.1 GiB)', or '0% util · free'."""
    util = "" if candidate.gpu.utilization is None else f"{candidate.gpu.utilization}% util · "
    return util + (candidate.why_not_free() or "free")
