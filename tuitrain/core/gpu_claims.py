"""GPU claims: a run holds a lock per GPU it trains on, in one folder for the whole host, so
two tuitrain processes started at the same moment never pick the same free GPU.

Each GPU has a lock file named by its UUID in CLAIMS (TUITRAIN_GPU_CLAIMS overrides it; the
default is a folder in the system's temporary directory, open to every user as /tmp is). A
run takes the lock (an `flock`, core/liveness.py) and writes who it is into the file; the
kernel releases the lock when the run's process dies, however it dies, so a claim never
outlives its run on this host. A placement skips GPUs whose lock is held, and the lock is
taken before the GPU is used: the first process to take it wins, the other moves on to its
next choice (`claim`)."""

from __future__ import annotations

import contextlib
import os
import pwd
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tuitrain.core import gpus, placement
from tuitrain.core.errors import UserError
from tuitrain.core.gpus import GIB, Gpu
from tuitrain.core.liveness import Lock, LockBusy, is_held

CLAIMS_ENV = "TUITRAIN_GPU_CLAIMS"
READ_WAIT = 0.2  # seconds a claim retries while another process only reads the lock


def folder() -> Path:
    """The host's claims folder, made (sticky and open to all, as /tmp is) if missing."""
    path = Path(os.environ.get(CLAIMS_ENV) or Path(tempfile.gettempdir()) / "tuitrain-gpu-claims")
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # made by another user meanwhile
            path.chmod(0o1777)
    return path


def _lock_path(gpu: Gpu) -> Path:
    return folder() / f"{gpu.uuid}.lock"


def holders(found: Sequence[Gpu]) -> dict[str, str]:
    """{uuid: 'RUN (pid N, user)'} for the GPUs another live process has claimed."""
    held = {}
    for gpu in found:
        path = _lock_path(gpu)
        if is_held(path):
            try:
                held[gpu.uuid] = path.read_text(encoding="utf-8").strip() or "?"
            except OSError:
                held[gpu.uuid] = "?"
    return held


@dataclass
class Claims:
    """The GPUs a run holds, in the order it uses them (CUDA's numbers among the visible)."""

    chosen: tuple[placement.Candidate, ...]
    warnings: tuple[str, ...] = ()
    locks: list[Lock] = field(default_factory=list)

    def cuda_visible(self) -> str:
        """CUDA_VISIBLE_DEVICES for the run: the chosen GPUs' NVML indices (PCI bus order)."""
        return ",".join(str(c.gpu.index) for c in self.chosen)

    def describe(self) -> str:
        """'GPU 2 (NVIDIA H100 80GB HBM3, 79.1 of 79.6 GiB free)', one per GPU."""
        return ", ".join(c.describe() for c in self.chosen)

    def record(self) -> list[dict[str, object]]:
        """The chosen GPUs as summary.json keeps them."""
        return [{"number": c.number, "index": c.gpu.index, "uuid": c.gpu.uuid,
                 "name": c.gpu.name} for c in self.chosen]

    def memory_now(self) -> str:
        """After running out of memory: each chosen GPU's free memory now and who holds the
        rest ('GPU 0 had 1.2 of 79.6 GiB free; held by this run 60.2 GiB, bob (pid ...)')."""
        now = {g.uuid: g for g in gpus.read()}
        parts = []
        for c in self.chosen:
            gpu = now.get(c.gpu.uuid, c.gpu)
            held = [("this run" + (f" {p.memory_used / GIB:.1f} GiB" if p.memory_used else ""))
                    if p.pid == os.getpid() else p.describe() for p in gpu.processes]
            parts.append(f"GPU {c.number} had {gpu.memory_text()}"
                         + (f", held by {', '.join(held)}" if held else ""))
        return "; ".join(parts)

    def release(self) -> None:
        for lock in self.locks:
            lock.release()
        self.locks.clear()

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _take(gpu: Gpu, owner: str) -> Lock | None:
    """The GPU's lock with `owner` written in it, or None where another process holds it."""
    path = _lock_path(gpu)
    with contextlib.suppress(FileExistsError):  # one another user can open too (not umask's)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
        path.chmod(0o666)
    try:  # a reader's probe lasts microseconds; a holder, as long as its run
        lock = Lock(path).acquire(wait=READ_WAIT)
    except LockBusy:
        return None
    os.ftruncate(lock.fd, 0)
    os.pwrite(lock.fd, f"{owner} (pid {os.getpid()}, {_user()})\n".encode(), 0)
    return lock


def _user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def candidates(found: Sequence[Gpu], cuda_visible: str | None,
               lenient: bool = False) -> list[placement.Candidate]:
    """The GPUs of `found` (NVML's) that CUDA_VISIBLE_DEVICES lets this process use, in
    CUDA's numbering, each with its users and tuitrain claim. `lenient`: a
    CUDA_VISIBLE_DEVICES naming GPUs the machine lacks shows them all (else its error)."""
    try:
        shown = placement.visible(found, cuda_visible)
    except UserError:
        if not lenient:
            raise
        shown = list(found)
    return placement.candidates(shown, holders(shown))


def claim(request: placement.DevicesRequest, owner: str, found: Sequence[Gpu],
          cuda_visible: str | None, anyway: str) -> Claims:
    """Choose GPUs for `request` among those of `found` visible here and claim them for
    `owner` (a run id): the best free ones, each locked before it counts as chosen; a GPU
    taken by another process meanwhile is skipped. A one-line UserError where too few can
    be had (`anyway`: how to name a busy GPU instead, as `placement.plan` says it)."""
    chosen_plan = placement.plan(request, candidates(found, cuda_visible), anyway)
    claims = Claims((), chosen_plan.warnings)
    chosen: list[placement.Candidate] = []
    for candidate in chosen_plan.order:
        if chosen_plan.need is not None and len(chosen) == chosen_plan.need:
            break
        lock = _take(candidate.gpu, owner)
        if lock is None:
            if chosen_plan.strict:
                claims.release()
                raise UserError(f"{request.said()}: GPU {candidate.number} was just "
                                f"claimed by another tuitrain run")
            continue
        claims.locks.append(lock)
        chosen.append(candidate)
    if len(chosen) < (chosen_plan.need or 1):
        claims.release()
        now = candidates(found, cuda_visible)  # who took them meanwhile
        raise UserError(placement.shortfall(request, now, len(chosen), anyway))
    claims.chosen = tuple(chosen)
    return claims
