"""Which GPUs a run trains on, decided from what NVML reports (core/gpus.py) and which GPUs
other tuitrain runs have claimed (core/gpu_claims.py). Pure: no NVML, no locks, no framework.

- How many or which: a count (`2`), `all`, or GPU numbers (`0,2,3`; one GPU is `3,`), the
  numbers as CUDA numbers the GPUs this process may see: CUDA_VISIBLE_DEVICES (as SLURM sets
  it) is respected, its indices read in PCI bus order, as NVML numbers GPUs (the runner sets
  CUDA_DEVICE_ORDER=PCI_BUS_ID so that CUDA agrees).
- Which are free: a GPU with another compute process on it is busy; where NVML lists no
  processes (inside a container it often cannot see them) more than IDLE_MEMORY in use is
  the signal. A GPU another tuitrain run has claimed is never chosen.
- Preference: free GPUs with the most free memory first, then the least busy, then NVML's
  order. A count takes the first free ones; `all` takes every free one; numbers take exactly
  those (busy ones with a warning, claimed ones refused)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tuitrain.core.errors import UserError
from tuitrain.core.gpus import GIB, Gpu

IDLE_MEMORY = 1 * GIB  # used memory an idle GPU may show (driver, display) before it is busy
DEVICES_HELP = "a count (2), all, or GPU numbers (0,2,3; one GPU: 3,)"

RequestKind = Literal["count", "all", "numbers"]


@dataclass(frozen=True)
class DevicesRequest:
    """What `--devices` asked for."""

    kind: RequestKind
    count: int = 1  # kind "count"
    numbers: tuple[int, ...] = ()  # kind "numbers": CUDA's numbers among the visible GPUs
    given: str = ""  # how the person asked, for messages; default `--devices TEXT`

    def said(self) -> str:
        """How the person asked: '--devices 2', '--device cuda:3'."""
        return self.given or f"--devices {self.text()}"

    def text(self) -> str:
        """As a person types it: '2', 'all', '0,2,3', '3,'."""
        if self.kind == "count":
            return str(self.count)
        if self.kind == "all":
            return "all"
        joined = ",".join(str(n) for n in self.numbers)
        return joined + ("," if len(self.numbers) == 1 else "")


def parse_devices(text: str, name: str = "--devices") -> DevicesRequest:
    """'2' -> two GPUs, 'all' -> every free one, '0,2,3' or '3,' -> those; one-line errors
    naming the setting as `name` says it."""
    value = text.strip().lower()
    if value == "all":
        return DevicesRequest("all")
    if "," not in value:
        if not value.isdigit() or int(value) < 1:
            raise UserError(f"{name} must be {DEVICES_HELP}; got {text!r}")
        return DevicesRequest("count", count=int(value))
    parts = [p.strip() for p in value.split(",")]
    if parts[-1] == "":
        parts.pop()
    if not parts or not all(p.isdigit() for p in parts):
        raise UserError(f"{name} must be {DEVICES_HELP}; got {text!r}")
    numbers = tuple(int(p) for p in parts)
    if len(set(numbers)) != len(numbers):
        raise UserError(f"{name} names a GPU twice: {text!r}")
    return DevicesRequest("numbers", numbers=numbers)


def visible(gpus: Sequence[Gpu], cuda_visible: str | None) -> list[Gpu]:
    """The GPUs CUDA will show, in CUDA's order: all of them (NVML's order) when
    CUDA_VISIBLE_DEVICES is unset, else those it names (indices or GPU-... UUIDs) in its order."""
    ordered = sorted(gpus, key=lambda g: g.index)
    if cuda_visible is None:
        return ordered
    shown: list[Gpu] = []
    for entry in (e.strip() for e in cuda_visible.split(",")):
        if not entry:
            continue
        if entry.isdigit():
            found = [g for g in ordered if g.index == int(entry)]
        else:  # a UUID, or as CUDA allows, its unambiguous start
            found = [g for g in ordered if g.uuid.startswith(entry)]
        if len(found) != 1:
            listed = ", ".join(str(g.index) for g in ordered) or "none"
            raise UserError(f"CUDA_VISIBLE_DEVICES names GPU {entry!r}, which this machine does "
                            f"not have (NVML lists GPUs {listed})")
        if found[0] not in shown:
            shown.append(found[0])
    return shown


def busy(gpu: Gpu) -> str | None:
    """Why the GPU is not free ('in use by alice (pid 4242 python, 60.1 GiB)'), or None."""
    if gpu.processes:
        return "in use by " + ", ".join(p.describe() for p in gpu.processes)
    if gpu.memory_used > IDLE_MEMORY:
        return (f"{gpu.memory_used / GIB:.1f} GiB of its memory in use by processes NVML cannot "
                "list (another container?)")
    return None


@dataclass(frozen=True)
class Candidate:
    """A visible GPU with CUDA's number for it and why it may not be free."""

    gpu: Gpu
    number: int  # CUDA's number among the visible GPUs
    busy: str | None = None
    claimed_by: str | None = None  # the tuitrain run that holds it

    def why_not_free(self) -> str | None:
        """'claimed by tuitrain run R', 'in use by alice (...)', or None for a free GPU."""
        return f"claimed by tuitrain run {self.claimed_by}" if self.claimed_by else self.busy

    def describe(self) -> str:
        """'GPU 2 (NVIDIA H100, 70.1 of 79.6 GiB free)', and why it is not free."""
        why = self.why_not_free()
        return f"GPU {self.number} ({self.gpu.name}, {self.gpu.memory_text()})" + (
            f": {why}" if why else "")


@dataclass(frozen=True)
class Plan:
    """The GPUs to try to claim, in order, and how many of them the run needs (None: every
    one of them, at least one). `strict`: each of them, or the run does not start."""

    order: tuple[Candidate, ...]
    need: int | None
    strict: bool
    warnings: tuple[str, ...] = ()


def candidates(gpus: Sequence[Gpu], claimed: Mapping[str, str]) -> list[Candidate]:
    """Every visible GPU (in CUDA's order) with what keeps it from being free."""
    return [Candidate(g, n, busy(g), claimed.get(g.uuid)) for n, g in enumerate(gpus)]


def preferred(found: Sequence[Candidate]) -> list[Candidate]:
    """Free GPUs first, those with the most free memory first, then the least busy."""
    return sorted(found, key=lambda c: (c.busy is not None or c.claimed_by is not None,
                                        -c.gpu.memory_free, c.gpu.utilization or 0, c.number))


def plan(request: DevicesRequest, found: Sequence[Candidate], anyway: str) -> Plan:
    """The GPUs a request may use, best first; a one-line error where it cannot be met
    (`anyway`: how a person names a busy GPU to use it all the same, e.g. --devices 0,)."""
    if not found:
        raise UserError("no GPU is visible to this process (see CUDA_VISIBLE_DEVICES)")
    if request.kind == "numbers":
        by_number = {c.number: c for c in found}
        missing = [n for n in request.numbers if n not in by_number]
        if missing:
            raise UserError(f"{request.said()}: no GPU {missing[0]}; this process sees "
                            f"GPUs 0-{len(found) - 1}")
        chosen = tuple(by_number[n] for n in request.numbers)
        taken = [c for c in chosen if c.claimed_by]
        if taken:
            held = "; ".join(c.describe() for c in taken)
            raise UserError(f"{request.said()}: {held}")
        warnings = tuple(c.describe() + " (used as asked)" for c in chosen if c.busy)
        return Plan(chosen, len(chosen), strict=True, warnings=warnings)
    free = [c for c in preferred(found) if c.busy is None and c.claimed_by is None]
    need = request.count if request.kind == "count" else None
    if len(free) < (need or 1):
        raise UserError(shortfall(request, found, len(free), anyway))
    return Plan(tuple(free), need, strict=False)


def shortfall(request: DevicesRequest, found: Sequence[Candidate], free: int, anyway: str) -> str:
    """The one line for a request that found too few free GPUs: each GPU and why not."""
    asked = "a free GPU" if request.kind == "all" else (
        f"{request.count} free GPU{'s' if request.count > 1 else ''}")
    gpus = "; ".join(c.describe() for c in found)
    return (f"{request.said()} needs {asked}, {free} {'is' if free == 1 else 'are'} "
            f"free: {gpus}. Name a busy GPU to use it anyway ({anyway}), or wait")
