"""The small interface every framework backend implements, and helpers they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from tuitrain.core.data import Splits
from tuitrain.core.datasets import DatasetInfo
from tuitrain.core.errors import UserError
from tuitrain.core.generation import Forward
from tuitrain.core.preprocessing import Preprocessing
from tuitrain.core.spec import RunSpec
from tuitrain.core.trainer import Split, Trainer


@dataclass(frozen=True)
class DeviceInfo:
    """One device a framework can use."""

    framework: str
    id: str  # "cpu", "cuda:0", "mps"
    kind: Literal["cpu", "cuda", "mps"]
    name: str
    memory_total: int = 0  # bytes; 0 = unknown
    memory_free: int = 0


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint evaluated on one split: loss and metrics, and the raw model outputs."""

    metrics: dict[str, float]
    outputs: np.ndarray
    targets: np.ndarray


@dataclass(frozen=True)
class Signature:
    """What an exported model takes and returns: one sample's shape (the batch is free) and
    the dtype, of its input and of its output."""

    input_shape: tuple[int, ...]
    input_dtype: str
    output_shape: tuple[int, ...]
    output_dtype: str


class Backend(ABC):
    """Build, train, evaluate and checkpoint one framework's model from a RunSpec."""

    framework: ClassVar[str]
    checkpoint_suffix: ClassVar[str]
    checkpoint_is_dir: ClassVar[bool] = False

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Framework name -> version, for the run log."""

    @abstractmethod
    def devices(self) -> list[DeviceInfo]:
        """Every device this framework sees."""

    @abstractmethod
    def count_params(self, spec: RunSpec, info: DatasetInfo) -> int:
        """Trainable parameters of the model the spec builds."""

    @abstractmethod
    def check_model(self, spec: RunSpec, info: DatasetInfo, init: bool) -> tuple[int, int]:
        """Build the spec's model (a person's own file too: its output shape checked against
        the data) with `train.freeze` applied, and with `init`, load the `train.init_from`
        weights into it; returns its trainable and frozen parameter counts. A UserError
        says what does not fit."""

    @abstractmethod
    def train(self, trainer: Trainer, splits: Splits,
              resume: Path | None) -> Literal["completed", "stopped"]:
        """Build (or restore from `resume`) and train; `trainer` gets every event."""

    #: export formats: name -> file suffix ("" = a folder), the first one is the default
    export_formats: ClassVar[dict[str, str]]

    @abstractmethod
    def export(
        self,
        spec: RunSpec,
        splits: Splits,
        checkpoint: Path,
        dest: Path,
        fmt: str,
        preprocessing: Preprocessing | None,
    ) -> Signature:
        """Write the checkpoint's model for serving, in format `fmt`, to `dest` (a temp path
        that the caller renames into place). Every format takes its input in the layout
        tuitrain states for the data (images channels-last: (N, H, W, C)); with the run's
        saved `preprocessing`, the model standardizes raw inputs and returns regression
        outputs in the data's units (None: it takes and returns standardized values)."""

    @abstractmethod
    def evaluate(self, spec: RunSpec, splits: Splits, checkpoint: Path, split: Split) -> Evaluation:
        """Load a checkpoint (never running code from it) and evaluate one split."""

    @abstractmethod
    def forward(self, spec: RunSpec, splits: Splits, checkpoint: Path) -> Forward:
        """Load a checkpoint (never running code from it) and return its model in inference
        mode as a function: a batch of inputs as the data holds them -> the raw outputs
        (logits), float32; what sampling calls once per token."""

    def resolve_device(self, requested: str) -> DeviceInfo:
        """`auto` prefers CUDA, then MPS, then CPU; an unavailable device is a UserError."""
        devices = self.devices()
        if requested == "auto":
            for kind in ("cuda", "mps", "cpu"):
                for d in devices:
                    if d.kind == kind:
                        return d
        want = "cuda:0" if requested == "cuda" else requested
        for d in devices:
            if d.id == want:
                return d
        seen = ", ".join(d.id for d in devices) or "none"
        raise UserError(
            f"device {requested!r} is not available to {self.framework}; it sees: {seen}"
        )
