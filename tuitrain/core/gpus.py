"""What the NVIDIA GPUs of this machine are doing, as NVML reports it (as nvidia-smi and nvitop
show it): each GPU's memory, utilisation and compute processes, with the user each process
runs as. No ML framework is imported: NVML is the driver's own library (the `nvidia-ml-py`
package), so the dashboard and the runner can look before a framework claims a device.

Readers: `NvmlReader` (the real one: `pynvml`, numbered as NVML numbers GPUs, by PCI bus)
and `FakeReader` (a JSON file named by TUITRAIN_FAKE_NVML: tests, and a way to see the
device field of a multi-GPU server on a laptop). `read()` picks one; a machine without the
driver or the package reads as no GPUs, never as an error."""

from __future__ import annotations

import functools
import json
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

FAKE_ENV = "TUITRAIN_FAKE_NVML"
GIB = 2**30


@dataclass(frozen=True)
class GpuProcess:
    """A compute process on a GPU: who runs it and how much of the GPU's memory it holds."""

    pid: int
    user: str  # "?" where this process cannot see it (another container's pid namespace)
    name: str
    memory_used: int  # bytes; 0 where NVML does not say

    def describe(self) -> str:
        """'alice (pid 4242 python, 60.1 GiB)'."""
        held = f", {self.memory_used / GIB:.1f} GiB" if self.memory_used else ""
        return f"{self.user} (pid {self.pid} {self.name}{held})"


@dataclass(frozen=True)
class Gpu:
    """One GPU as NVML sees it now; `index` is NVML's (PCI bus order)."""

    index: int
    uuid: str
    name: str
    memory_total: int  # bytes
    memory_used: int  # bytes
    utilization: int | None  # percent of the last sample period busy; None: not reported
    processes: tuple[GpuProcess, ...] = field(default_factory=tuple)
    temperature: int | None = None  # degrees C

    @property
    def memory_free(self) -> int:
        return max(0, self.memory_total - self.memory_used)

    def memory_text(self) -> str:
        """'70.1 of 79.6 GiB free'."""
        return f"{self.memory_free / GIB:.1f} of {self.memory_total / GIB:.1f} GiB free"


class Reader(Protocol):
    """Something that lists the GPUs of this machine."""

    def gpus(self) -> list[Gpu]: ...


@dataclass(frozen=True)
class FakeReader:
    """GPUs described in a JSON file: {"gpus": [{"index", "uuid", "name", "memory_total",
    "memory_used", "utilization", "processes": [{"pid", "user", "name", "memory_used"}]}]}.
    Memory in bytes. Read anew on every call, so a test can change what the GPUs do."""

    path: Path

    def gpus(self) -> list[Gpu]:
        document = json.loads(self.path.read_text(encoding="utf-8"))
        return [_gpu_of(entry) for entry in document["gpus"]]


def _gpu_of(entry: dict[str, Any]) -> Gpu:
    processes = tuple(GpuProcess(int(p["pid"]), str(p.get("user", "?")), str(p.get("name", "?")),
                                 int(p.get("memory_used", 0))) for p in entry.get("processes", ()))
    return Gpu(int(entry["index"]), str(entry["uuid"]), str(entry["name"]),
               int(entry["memory_total"]), int(entry["memory_used"]), entry.get("utilization"),
               processes, entry.get("temperature"))


class NvmlReader:
    """The driver's GPUs through `pynvml`: none where the package or the driver is missing.
    NVML is initialised once per process and left open: a reading every second (the device
    panel's) is then one query per GPU."""

    def gpus(self) -> list[Gpu]:
        nvml = _nvml()
        if nvml is None:
            return []
        try:
            return [self._gpu(nvml, i) for i in range(nvml.nvmlDeviceGetCount())]
        except nvml.NVMLError:  # a GPU fell off the bus, the driver was reloaded
            return []

    @staticmethod
    def _gpu(nvml: Any, index: int) -> Gpu:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        utilization = _optional(lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu, nvml)
        temperature = _optional(
            lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU), nvml)
        try:
            running = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        except nvml.NVMLError:
            running = []
        processes = tuple(GpuProcess(p.pid, _user_of(p.pid), _name_of(p.pid),
                                     int(p.usedGpuMemory or 0)) for p in running)
        return Gpu(index, _text(nvml.nvmlDeviceGetUUID(handle)),
                   _text(nvml.nvmlDeviceGetName(handle)), int(memory.total), int(memory.used),
                   utilization, processes, temperature)


@functools.cache
def _nvml() -> Any:
    """`pynvml`, initialised; None where the package or the NVIDIA driver is missing."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # ImportError, or NVMLError: no driver (pynvml has no common base)
        return None
    return pynvml


def _optional(read: Callable[[], int], nvml: Any) -> int | None:
    """A reading some GPUs do not report (MIG devices, virtual GPUs): None there."""
    try:
        return int(read())
    except nvml.NVMLError:
        return None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _user_of(pid: int) -> str:
    """The name of the user a process runs as; "?" where it is not visible from here."""
    try:
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return "?"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _name_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip() or "?"
    except OSError:
        return "?"


def reader(environ: dict[str, str] | os._Environ[str] = os.environ) -> Reader:
    """The fake reader where TUITRAIN_FAKE_NVML names a file, else NVML."""
    fake = environ.get(FAKE_ENV)
    return FakeReader(Path(fake)) if fake else NvmlReader()


def read() -> list[Gpu]:
    """The GPUs of this machine now, NVML's numbering; [] where there are none."""
    return reader().gpus()
