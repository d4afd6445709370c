"""The device choice. It starts as "auto" while detection runs in the background (a child
process per framework) and fills in each GPU with its name and free memory, MPS, and CPU
for the chosen framework when the results arrive."""

from __future__ import annotations

from typing import Any

from textual.widgets import Select

GIB = 2**30


def device_label(device: dict[str, Any]) -> str:
    """'cuda:0  NVIDIA H100 80GB HBM3 · 75.1/79.6 GiB free', 'cpu  CPU (8 threads)'."""
    label = f"{device.get('id', '?')}  {device.get('name', '')}".rstrip()
    total = device.get("memory_total") or 0
    if total:
        free = device.get("memory_free") or 0
        label += f" · {free / GIB:.1f}/{total / GIB:.1f} GiB free"
    return label


class DevicePicker(Select[str]):
    """A select of devices for the current framework; 'auto' until detection reports."""

    def __init__(self, value: str = "auto", framework: str = "torch", *,
                 id: str | None = None) -> None:
        self.framework = framework
        self.results: dict[str, dict[str, Any]] = {}
        self._wanted = value
        super().__init__(self.device_options(), value=self._valid(value), allow_blank=False,
                         compact=True, id=id)

    def _devices(self) -> list[dict[str, Any]] | None:
        result = self.results.get(self.framework)
        return None if result is None else list(result.get("devices", []))

    def device_options(self) -> list[tuple[str, str]]:
        devices = self._devices()
        if devices is None:
            options = [("auto (detecting devices…)", "auto"), ("cpu", "cpu")]
        else:
            error = self.results[self.framework].get("error")
            note = f"auto ({error})" if error and not devices else "auto (best available)"
            options = [(note, "auto")] + [(device_label(d), d["id"]) for d in devices]
            if not any(d.get("id") == "cpu" for d in devices):
                options.append(("cpu", "cpu"))
        if self._wanted not in {value for _, value in options}:
            options.append((f"{self._wanted} (not detected)", self._wanted))
        return options

    def _valid(self, value: str) -> str:
        return value if value in {v for _, v in self.device_options()} else "auto"

    @property
    def detected(self) -> bool:
        """Whether the current framework's devices are known."""
        return self.framework in self.results

    def _rebuild(self) -> None:
        keep = self.value if isinstance(self.value, str) else "auto"
        self._wanted = keep
        self._refill(self._valid(keep))

    def _refill(self, value: str) -> None:
        """New options, keeping `value` and redrawing its label (which may have changed)."""
        self.set_options(self.device_options())
        if self.value == value:
            self.mutate_reactive(Select.value)
        else:
            self.value = value

    def set_result(self, framework: str, result: dict[str, Any]) -> None:
        """A detection result arrived: {'devices': [...]} or {'error': ...}."""
        self.results[framework] = result
        if framework == self.framework:
            self._rebuild()

    def set_framework(self, framework: str) -> None:
        """Show the devices the newly chosen framework sees."""
        if framework != self.framework:
            self.framework = framework
            self._rebuild()

    def choose(self, value: str) -> None:
        """Select a device from code (CLI pre-fill); an unknown one is listed as not detected."""
        self._wanted = value
        self._refill(value)
