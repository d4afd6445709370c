"""The run specification: frozen dataclasses for everything a run needs, and their
round trip to a plain TOML-shaped document (what presets and `config.toml` contain)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from tuitrain.core.catalog import Task
from tuitrain.core.layers import LayerSpec

StreamMode = Literal["auto", "always", "never"]
STREAM_MODES: tuple[StreamMode, ...] = ("auto", "always", "never")
AUGMENTATIONS: tuple[str, ...] = ("crop", "flip")  # core/augment.py applies them


@dataclass(frozen=True)
class DataSpec:
    """Which data to train on and how to split it."""

    dataset: str
    target: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    samples: int = 0  # synthetic sets and text: how many samples (0 = the dataset's default)
    digits: int | None = None  # generated tasks: digits of each number (None = the default)
    seed: int | None = None  # generates the data and draws its split (None = the run's seed)
    block_size: int | None = None  # text: characters per window (None = the default)
    # Streaming (core/sources.py): "auto" streams what does not fit in memory and whatever is
    # augmented, "always" streams any data, "never" holds it whole where the model trains.
    stream: StreamMode = "auto"
    workers: int | None = None  # data-loading worker processes (None = auto, 0 = none)
    augment: tuple[str, ...] = ()  # training images: "crop" and/or "flip" (core/augment.py)
    crop_padding: int = 4  # pixels padded on each side before a random crop
    # image folders: the side every image is resized to (None = the images' own size when
    # they all share it, else 32)
    image_size: int | None = None


@dataclass(frozen=True)
class OptimizerSpec:
    """Optimizer name and hyper-parameters; each framework reads the keys its optimizer has."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7
    rho: float = 0.9


@dataclass(frozen=True)
class ScheduleSpec:
    """Learning-rate schedule, stepped per epoch (one-cycle per batch)."""

    name: str = "constant"
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    pct_start: float = 0.3
    factor: float = 0.5
    patience: int = 3


@dataclass(frozen=True)
class TrainSpec:
    """Loss, length and bookkeeping of the training loop."""

    loss: str
    epochs: int = 10
    batch_size: int = 32
    metrics: tuple[str, ...] = ()
    log_every: int = 20
    # Steps run per engine call (Keras' name); 0 = auto: as many as take BLOCK_SECONDS, up to
    # the next log point. Stop, pause and commands act between calls.
    steps_per_execution: int = 0
    checkpoint_every: int = 1
    keep_checkpoints: int = 3
    grad_clip: float = 0.0  # 0 = off
    # Early stopping (Keras' EarlyStopping): end the run, completed, after this many epochs
    # without a better monitored value (the best checkpoint's); 0 = off.
    early_stopping: int = 0
    auto_batch: bool = False  # on out of memory, retry once with half the batch
    stop_timeout: float = 30.0  # seconds a stop may take before the runner exits anyway
    # Fine-tuning: layers not updated (a preset's by top-level index or summary label, an own
    # model's by the framework's names; core/finetune.py), and the checkpoint whose weights
    # a new run starts from ('' = none; set by `--init-from RUN|CHECKPOINT`).
    freeze: tuple[str, ...] = ()
    init_from: str = ""


@dataclass(frozen=True)
class ModelFile:
    """A person's own model: a Python file defining `build_model(input_shape, num_outputs)`.
    In a run folder, `file` is the run's own copy and `sha256` that copy's hash."""

    file: str
    sha256: str = ""


@dataclass(frozen=True)
class RunSettings:
    """Where and how to run: framework, device, precision, seed."""

    framework: str = "torch"
    device: str = "auto"
    # How many devices train together, or which (core/placement.py): a count, "all", or
    # GPU numbers ("0,2,3"; "3," is GPU 3); on the CPU a count of processes. The global
    # batch (train.batch_size) is split among them.
    devices: str = "1"
    precision: str = "32"
    seed: int = 0
    keras_backend: str = "tensorflow"
    # Run by the shell when the run ends or raises an alert (core/notify.py); "" = the
    # environment's TUITRAIN_NOTIFY_CMD, if any.
    notify_cmd: str = ""
    tensorboard: bool = False  # also write TensorBoard event files (core/tensorboard_log.py)


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to reproduce a run."""

    name: str
    description: str
    task: Task
    data: DataSpec
    layers: tuple[LayerSpec, ...]
    train: TrainSpec
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    run: RunSettings = field(default_factory=RunSettings)
    model_file: ModelFile | None = None  # set: the model is built by this file, not `layers`

    @property
    def main_metric(self) -> str:
        """The metric the run is judged by: the first listed, else the loss."""
        return self.train.metrics[0] if self.train.metrics else "loss"

    def with_run(self, **changes: Any) -> RunSpec:
        return replace(self, run=replace(self.run, **changes))

    def to_document(self) -> dict[str, Any]:
        """The spec as a TOML-shaped dict; `presets.spec_from_document` reads it back."""
        train = asdict(self.train)
        train["metrics"] = list(self.train.metrics)
        train["freeze"] = list(self.train.freeze)
        data = {k: v for k, v in asdict(self.data).items() if v is not None}
        data["augment"] = list(self.data.augment)
        return {
            "name": self.name,
            "description": self.description,
            "task": self.task,
            "data": data,
            "model": (
                {k: v for k, v in asdict(self.model_file).items() if v}
                if self.model_file is not None
                else {"layers": [layer.to_dict() for layer in self.layers]}
            ),
            "train": train,
            "optimizer": asdict(self.optimizer),
            "schedule": asdict(self.schedule),
            "run": asdict(self.run),
        }


SECTIONS: dict[str, type] = {
    "data": DataSpec,
    "train": TrainSpec,
    "optimizer": OptimizerSpec,
    "schedule": ScheduleSpec,
    "run": RunSettings,
}


def section_keys(section: str) -> list[str]:
    """The keys a document section accepts."""
    return [f.name for f in fields(SECTIONS[section])]
