"""Whole-spec checks before anything trains: the data exists and fits the task, the layers
connect, and the model ends in the shape the loss needs."""

from __future__ import annotations

from tuitrain.core.datainfo import dataset_info
from tuitrain.core.datasets import BUILTIN, DatasetInfo
from tuitrain.core.errors import UserError
from tuitrain.core.finetune import frozen_indexes
from tuitrain.core.measures import LOSSES, METRICS
from tuitrain.core.nodes import Nodes
from tuitrain.core.placement import DevicesRequest, parse_devices
from tuitrain.core.shapes import Summary, check_output, output_needed, summarize
from tuitrain.core.spec import RunSpec


def output_units(spec: RunSpec, info: DatasetInfo) -> int:
    """What `units = "auto"` means: 1 logit for binary cross-entropy, else the dataset's outputs."""
    return 1 if spec.train.loss == "binary_cross_entropy" else info.num_outputs


def _check_per_position(spec: RunSpec, info: DatasetInfo) -> None:
    """Data labelled at each position needs a loss and metrics that score positions."""
    measures = [LOSSES[spec.train.loss], *(METRICS[m] for m in spec.train.metrics)]
    unfit = [m.name for m in measures if not m.per_position]
    if unfit:
        fit = [m.name for m in (*LOSSES.values(), *METRICS.values()) if m.per_position]
        raise UserError(
            f"dataset {info.name!r} is labelled at each position; {', '.join(unfit)} scores "
            f"one label per sample; valid here: {', '.join(dict.fromkeys(fit))}"
        )


def needed_output(spec: RunSpec, info: DatasetInfo) -> tuple[int, ...]:
    """The output shape per sample the spec's loss needs on this data."""
    return output_needed(output_units(spec, info), spec.train.loss, info.target_shape)


def check(spec: RunSpec) -> tuple[DatasetInfo, Summary | None]:
    """Validate a spec against its dataset; returns the dataset info and the model summary
    (None for a person's own model file: the backend that builds it checks it,
    `backends.user_model`)."""
    check_devices(spec)
    if spec.data.target and spec.data.dataset in BUILTIN:
        raise UserError(
            f"data.target {spec.data.target!r} picks the labels of a table or a .npy file; the "
            f"built-in dataset {spec.data.dataset!r} has its own labels"
        )
    info = dataset_info(spec.data, task=spec.task)
    if info.task != spec.task:
        raise UserError(
            f"dataset {spec.data.dataset!r} is a {info.task} dataset but the preset's task is "
            f"{spec.task}; pick a {spec.task} dataset or preset"
        )
    if spec.train.loss == "binary_cross_entropy" and info.num_outputs != 2:
        raise UserError(
            f"loss 'binary_cross_entropy' needs 2 classes; {spec.data.dataset!r} has "
            f"{info.num_outputs}; use cross_entropy"
        )
    if info.target_shape:
        _check_per_position(spec, info)
    if spec.model_file is not None:
        return info, None
    units = output_units(spec, info)
    summary = summarize(spec.layers, info.input_shape, units)
    check_output(summary, units, spec.train.loss, info.target_shape)
    if spec.train.freeze:
        summary = summary.frozen(frozen_indexes(spec, [row.label for row in summary.rows]))
    return info, summary


def check_devices(spec: RunSpec) -> None:
    """Several devices (data parallel) are trained by PyTorch's DistributedDataParallel,
    TensorFlow's MirroredStrategy (TensorFlow, and Keras on it) or Keras' DataParallel
    distribution (Keras on jax), and `train.batch_size` is the global batch, split evenly
    among them."""
    request = parse_devices(spec.run.devices)
    if request == DevicesRequest("count"):
        return
    if spec.run.framework == "keras" and spec.run.keras_backend == "torch":
        raise UserError(
            f"--devices {spec.run.devices}: Keras on torch trains on one device here; several "
            "train with --keras-backend tensorflow (MirroredStrategy) or jax (DataParallel), "
            "--framework tensorflow, or --framework torch (DDP)"
        )
    if spec.run.device == "mps":
        raise UserError(f"--devices {spec.run.devices}: Apple's MPS is one device; several "
                        "train on CUDA GPUs or as processes on the CPU (--device cpu)")
    if request.kind != "count" and spec.run.device == "cpu":
        raise UserError(f"--devices {spec.run.devices} names GPUs, and --device is cpu; on "
                        "the CPU --devices is a number of processes (TensorFlow: of logical "
                        "CPUs)")
    if request.kind == "count":
        _split_evenly(spec, request.count, f"--devices {request.count}", "the devices")


def check_nodes(spec: RunSpec, nodes: Nodes) -> None:
    """Several machines train with PyTorch (torchrun's rendezvous) or TensorFlow
    (MultiWorkerMirroredStrategy), each with its `--devices`, and share the global batch
    evenly."""
    if spec.run.framework == "keras":
        raise UserError(
            f"--nodes {nodes.count}: training on several machines runs on PyTorch "
            "(DistributedDataParallel) or TensorFlow (MultiWorkerMirroredStrategy); Keras "
            "trains on one machine here: use --framework torch or --framework tensorflow"
        )
    request = parse_devices(spec.run.devices)
    if spec.run.framework == "tensorflow" and spec.run.device == "cpu" and request.count > 1:
        raise UserError(f"--nodes {nodes.count} --devices {request.count}: on the CPU each "
                        "machine trains one TensorFlow worker (MultiWorkerMirroredStrategy "
                        "sees the CPU as one device); use --devices 1")
    share = nodes.count * (request.count if request.kind == "count" else 1)
    _split_evenly(spec, share, f"--nodes {nodes.count}", "every machine's devices")


def _split_evenly(spec: RunSpec, share: int, option: str, among: str) -> None:
    """`train.batch_size` is the global batch: it must split into `share` equal parts."""
    bs = spec.train.batch_size
    if bs % share:
        raise UserError(f"{option}: the batch size {bs} is the global batch, split evenly "
                        f"among {among}; use a multiple of {share} (--batch-size)")
