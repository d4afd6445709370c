"""The device panel: CPU and memory of the runner process (psutil) and, when the run uses
GPUs and NVML is available, each GPU's utilisation, memory and temperature (core/gpus.py).

Sampling happens once a second in a thread worker that posts `DeviceSampled`; it runs only
while the run is live, so a finished run's panel is static."""

from __future__ import annotations

import re
import time
from typing import Any

from rich.text import Text
from textual import work
from textual.widgets import Static
from textual.worker import get_current_worker

from tuitrain.core import gpus as gpu_status
from tuitrain.ui.messages import DeviceSampled, Sample

INTERVAL = 1.0
GB = 1024**3


def gpu_indices(device: str, placed: list[dict[str, Any]] | None) -> list[int]:
    """NVML's numbers for the GPUs a run uses: those it was placed on (summary.json's
    `gpus`), else those its device names (`cuda` -> [0], `cuda:2` -> [2], `cpu` -> [])."""
    if placed:
        return [int(g["index"]) for g in placed]
    m = re.fullmatch(r"(?:cuda|gpu)(?::(\d+))?", device.strip().lower())
    if not m:
        return []
    return [int(m.group(1) or 0)]


def sample_process(proc: Any) -> tuple[float, float, int]:
    """CPU percent (of one core), RSS bytes and threads of a process and its children."""
    cpu = proc.cpu_percent(None)
    rss = proc.memory_info().rss
    threads = proc.num_threads()
    for child in proc.children(recursive=True):
        try:
            rss += child.memory_info().rss
        except Exception:
            continue
    return cpu, float(rss), threads


def sample_text(pid: int | None, device: str, sample: Sample | None, live: bool) -> Text:
    """`CPU  96%  RAM 0.38 GB  4 thr` and one line per GPU (`GPU0 87% 12.3/80 GB 62°C name`)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not live or pid is None:
        text.append("runner not running", "dim")
        if device:
            text.append(f"\ndevice {device}", "dim")
        return text
    if sample is None:
        text.append("sampling…", "dim")
        return text
    if not sample.alive:
        text.append("runner exited", "dim")
        return text
    text.append("CPU ", "bold")
    text.append(f"{sample.cpu:4.0f}%  ")
    text.append("RAM ", "bold")
    text.append(f"{sample.rss / GB:.2f} GB")
    for g in sample.gpus:
        text.append(f"\nGPU{g.index} ", "bold")
        mem = f"{g.memory_used / GB:.1f}/{g.memory_total / GB:.0f} GB"
        util = "  ?%" if g.utilization is None else f"{g.utilization:3d}%"
        temp = "" if g.temperature is None else f"  {g.temperature}°C"
        text.append(f"{util}  {mem}{temp}  ")
        text.append(g.name, "dim")
    if not sample.gpus:
        text.append(f"\n{sample.gpu_note or 'no GPU'}", "dim")
    return text


class DevicePanel(Static):
    """Live resource use of the runner; static text once the run has ended."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "device"
        self.pid: int | None = None
        self.device = ""
        self.live = False
        self.sample: Sample | None = None

    def on_mount(self) -> None:
        self._render_text()

    def _render_text(self) -> None:
        self.update(sample_text(self.pid, self.device, self.sample, self.live))

    def watch_runner(self, pid: int | None, device: str, gpus: list[int]) -> None:
        """Start (or restart) sampling the runner `pid` on `device`, using the GPUs `gpus`
        (NVML's numbers)."""
        self.pid, self.device, self.live = pid, device, pid is not None
        self.sample = None
        self.border_title = f"device · runner pid {pid}" if pid is not None else "device"
        self._render_text()
        if pid is not None:
            self._sample(pid, gpus)

    def stop(self, device: str | None = None) -> None:
        """The run ended: stop sampling, show the static text."""
        self.live = False
        self.border_title = "device"
        if device:
            self.device = device
        self.workers.cancel_group(self, "device")
        self._render_text()

    @work(thread=True, exclusive=True, group="device")
    def _sample(self, pid: int, gpus: list[int]) -> None:
        import psutil

        worker = get_current_worker()
        reader = gpu_status.reader() if gpus else None
        note = "no GPU in use" if not gpus else "no GPU stats (no NVIDIA driver or nvidia-ml-py)"
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)
        except psutil.Error:
            self.post_message(DeviceSampled(Sample(alive=False)))
            return
        while True:
            deadline = time.monotonic() + INTERVAL
            while not worker.is_cancelled and time.monotonic() < deadline:
                time.sleep(0.1)
            if worker.is_cancelled:
                return
            try:
                cpu, rss, threads = sample_process(proc)
            except psutil.Error:
                self.post_message(DeviceSampled(Sample(alive=False)))
                return
            found = tuple(g for g in reader.gpus() if g.index in gpus) if reader else ()
            self.post_message(DeviceSampled(Sample(True, cpu, rss, threads, found,
                                                   note if not found else "")))

    def on_device_sampled(self, message: DeviceSampled) -> None:
        if self.live:
            self.sample = message.sample
            self._render_text()
