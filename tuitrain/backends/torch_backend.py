"""The PyTorch backend: builds the preset's network (or a person's own model file's) as an
`nn.Module`, trains it in its own loop with metrics kept on the device (read every log
interval, never per step), and saves state dicts that load with `weights_only=True` (copied
to host memory on the training thread, written by the background checkpoint writer);
`--init-from` loads another run's by `state_dict` name and shape."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tuitrain.backends import user_model
from tuitrain.backends.base import Backend, DeviceInfo, Evaluation, Signature
from tuitrain.backends.torch_layers import build_model, frozen_norms, serving_model
from tuitrain.core import finetune, model_file
from tuitrain.core.batches import BatchSource, InMemorySource, StreamedSource
from tuitrain.core.data import Splits
from tuitrain.core.datasets import DatasetInfo
from tuitrain.core.errors import UserError
from tuitrain.core.generation import Forward
from tuitrain.core.group import SOLO, Group
from tuitrain.core.measures import GRAD_NORM, METRICS, lookup
from tuitrain.core.preprocessing import Preprocessing
from tuitrain.core.sources import collect
from tuitrain.core.spec import OptimizerSpec, RunSpec
from tuitrain.core.trainer import Split, Trainer
from tuitrain.core.validate import needed_output


def load_state(path: Path, device: torch.device) -> dict[str, Any]:
    """A checkpoint's state dicts, loaded with `weights_only=True` (never running code)."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # any unpickling refusal or corrupt file; never retried unsafely
        reason = _load_refusal(exc)
        raise UserError(f"{path}: cannot load checkpoint safely ({reason})") from None


def init_weights(model: nn.Module, checkpoint: Path) -> finetune.WeightMatch:
    """`--init-from`: the checkpoint's weights (and batch-norm statistics) whose names and
    shapes this model has; a mismatch is a UserError listing it."""
    source = load_state(checkpoint, torch.device("cpu"))["model"]
    target = model.state_dict()
    match = finetune.match_weights({k: tuple(v.shape) for k, v in source.items()},
                                   {k: tuple(v.shape) for k, v in target.items()},
                                   str(checkpoint))
    model.load_state_dict({k: source[k] for k in match.loaded}, strict=False)
    return match


def _adam(o: OptimizerSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)


# Each optimizer name of the catalogue (core/catalog.py) as a torch optimizer.
OPTIMIZERS: dict[str, Callable[[OptimizerSpec, list[nn.Parameter]], torch.optim.Optimizer]] = {
    "sgd": lambda o, params: torch.optim.SGD(
        params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0
    ),
    "adam": _adam,
    "adamw": _adam,  # decay is decoupled in every optimizer here, so adam with it is AdamW
    "rmsprop": lambda o, params: torch.optim.RMSprop(
        params, lr=o.lr, alpha=o.rho, eps=o.eps, momentum=o.momentum
    ),
    "adagrad": lambda o, params: torch.optim.Adagrad(
        params, lr=o.lr, eps=o.eps, initial_accumulator_value=0.1
    ),
}


def build_optimizer(spec: RunSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The spec's optimizer; `weight_decay` is decoupled in all of them (`_decoupled_decay`),
    so `adam` with weight decay is AdamW, as in Keras."""
    o = spec.optimizer
    opt = lookup(OPTIMIZERS, o.name, "torch optimizer")(o, params)
    if o.weight_decay:
        opt.register_step_pre_hook(_decoupled_decay(o.weight_decay))
    return opt


def _decoupled_decay(weight_decay: float) -> Callable[..., None]:
    """A step pre-hook: before each update every weight shrinks by lr * weight_decay, apart
    from the gradient (Keras' `weight_decay` in every optimizer, torch's AdamW). As a hook it
    runs only when the step does: a step the float16 loss scaler skips decays nothing."""

    @torch.no_grad()
    def decay(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        for group in opt.param_groups:
            torch._foreach_mul_(group["params"], 1 - group["lr"] * weight_decay)

    return decay


Tensors = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """F.cross_entropy; with a label per position (out (N, L, classes), y (N, L), -1 = none),
    each sample's mean over its labelled positions, then the batch mean (core/measures.py)."""
    if out.ndim == 2:
        return F.cross_entropy(out, y)
    return _sample_cross_entropy(out, y).mean()


def _sample_cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sample's cross-entropy: with a label per position, its mean over the labelled ones."""
    if out.ndim == 2:
        return F.cross_entropy(out, y, reduction="none")
    per_position = F.cross_entropy(out.transpose(1, -1), y, ignore_index=-1, reduction="none")
    return per_position.sum(dim=1) / (y >= 0).sum(dim=1).clamp(min=1)


# Each loss of the registry (core/measures.py): the batch mean, from raw outputs (logits).
LOSSES: dict[str, Tensors] = {
    "cross_entropy": _cross_entropy,
    "binary_cross_entropy": lambda out, y: F.binary_cross_entropy_with_logits(
        out[:, 0], y.to(out.dtype)
    ),
    "mse": F.mse_loss,
    "mae": F.l1_loss,
    "huber": F.huber_loss,
}


def _correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    pred = (out[:, 0] > 0).long() if out.shape[-1] == 1 else out.argmax(dim=-1)
    return (pred == y).sum()


def _exact_matches(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Samples whose every answered position (target >= 0) is right (core/measures.py)."""
    pred = (out[..., 0] > 0).long() if out.shape[-1] == 1 else out.argmax(dim=-1)
    y = y.reshape(pred.shape)
    right = (pred == y) | (y < 0)
    return right.reshape(len(right), -1).all(dim=1).sum()


# Each metric of the registry: the sum of its per-sample values over the batch (correct
# count, |error|, error²); the registry's `finish` turns sums and counts into the value, so
# per-step work stays as small as a hand-written loop's.
METRIC_SUMS: dict[str, Tensors] = {
    "accuracy": _correct,
    "exact_match": _exact_matches,
    "perplexity": lambda out, y: _sample_cross_entropy(out, y).sum(),  # e^mean in `finish`
    "mae": lambda out, y: (out - y).abs().sum() / out.shape[-1],
    "rmse": lambda out, y: ((out - y) ** 2).sum() / out.shape[-1],
}


# The gradient norm is taken on every NORM_EVERY-th step, unless clipping computes it anyway:
# on the CPU a norm is a kernel per gradient, and every step's cost 5-7% of a small MLP's
# step (0.66 -> 0.69-0.70 ms on mlp-digits); every 4th costs under 2%, and catches every
# burst of 4 steps and more.
NORM_EVERY = 4


class TorchEngine:
    """The model, optimizer and device-resident data of one run: the training split as an
    in-memory batch source, validation and test whole for evaluation."""

    def __init__(self, spec: RunSpec, splits: Splits, device: str, group: Group = SOLO) -> None:
        self.spec = spec
        self.device = torch.device(device)
        torch.manual_seed(spec.run.seed)
        random.seed(spec.run.seed)
        self.model = build_model(spec, splits.info).to(self.device)
        # Training steps go through DistributedDataParallel on several processes (gradients
        # averaged over the ranks in backward); evaluation and checkpoints use the model.
        self.trained: nn.Module = self.model
        if group.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.trained = DistributedDataParallel(self.model, device_ids=ids)
            # Dropout draws its own masks on each rank (the same seed everywhere would give
            # every rank's share of a batch the same mask).
            torch.manual_seed(spec.run.seed + group.rank)
        self.frozen_norms = frozen_norms(spec, self.model)
        for norm in self.frozen_norms:  # inference mode from the start (train_steps keeps it)
            norm.eval()
        self.opt = build_optimizer(spec, [p for p in self.model.parameters() if p.requires_grad])
        self.names = ["loss", *spec.train.metrics]
        self.loss_fn = lookup(LOSSES, spec.train.loss, "torch loss")
        self.metric_fns = [lookup(METRIC_SUMS, m, "torch metric") for m in spec.train.metrics]
        # Each step's loss and metric sums, as 0-d device tensors, until the driver reads
        # them at its next log point: appending costs nothing, where writing into a slot
        # tensor was an indexing kernel per value per step.
        self.pending: list[list[torch.Tensor]] = []
        self.sizes: list[int] = []
        self._steps = 0  # steps trained by this engine: every NORM_EVERY-th has its norm
        self.sparse_grads = any(getattr(m, "sparse", False) is True for m in self.model.modules())
        self._lr = -1.0
        self.splits = splits
        self.source: BatchSource[Any, torch.Tensor]
        if splits.streams is None:
            self.source = InMemorySource(*self._tensors(splits.x_train, splits.y_train),
                                         to_rows=self._rows)
            self.data = {
                "val": self._tensors(splits.x_val, splits.y_val),
                "test": self._tensors(splits.x_test, splits.y_test),
            }
        else:  # streamed: torch's DataLoader loads each batch; evaluation reads the splits
            from tuitrain.backends import torch_data

            pin = self.device.type == "cuda"
            self.source = StreamedSource(torch_data.pipeline(splits.streams, pin), self._batch)
        precision = spec.run.precision
        self.autocast_dtype = {"bf16": torch.bfloat16, "16": torch.float16}.get(precision)
        scaled = precision == "16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=scaled)
        self.staging = HostStaging(pinned=self.device.type == "cuda")
        self._poison = False  # TUITRAIN_FAULT test hook: the next batch becomes inf

    def inject_fault(self, kind: str) -> None:
        """Test hook (core/faults.py): make the next step's loss non-finite, or fail the
        step with the typed out-of-memory error a real GPU raises."""
        if kind == "nan":
            self._poison = True
        elif kind == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB "
                                         "(injected by TUITRAIN_FAULT)")

    def _tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """A split held whole, on the device: images channels-last -> NCHW on the host, so
        the device never holds both layouts."""
        xt, yt = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, y))
        if xt.ndim == 4:
            xt = xt.permute(0, 3, 1, 2).contiguous()
        return xt.to(self.device), yt.to(self.device)

    def _batch(self, x: np.ndarray | torch.Tensor,
               y: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A streamed batch on the device: copied there first (asynchronously from the
        DataLoader's pinned memory), images channels-last -> NCHW there."""
        xt = torch.as_tensor(x).to(self.device, non_blocking=True)
        yt = torch.as_tensor(y).to(self.device, non_blocking=True)
        return (xt.permute(0, 3, 1, 2).contiguous() if xt.ndim == 4 else xt), yt

    def _rows(self, block: np.ndarray) -> torch.Tensor:
        """A block's index rows on the device, in one copy."""
        rows = torch.from_numpy(block)
        return rows if self.device.type == "cpu" else rows.to(self.device, non_blocking=True)

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    @property
    def non_trainable(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if not p.requires_grad)

    def _forward(self, x: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
        model = model or self.model
        if self.autocast_dtype is None:
            return model(x)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype):
            return model(x).float()

    def start_epoch(self, epoch: int, rows: Iterator[np.ndarray]) -> None:
        self.source.start_epoch(epoch, rows)

    def train_steps(self, batches: np.ndarray, lrs: np.ndarray, slot: int) -> None:
        """The driver's block of steps; values go to `pending` (slot = its length)."""
        # Everything decided once per block: on a small model each step is well under a
        # millisecond, and per-step Python is what separates this loop from a hand-written one.
        source = self.source
        loss_fn, metric_fns = self.loss_fn, self.metric_fns
        trained = self.trained
        forward = trained if self.autocast_dtype is None else (
            lambda x: self._forward(x, trained))
        opt, scaler, clip = self.opt, self.scaler, self.spec.train.grad_clip > 0
        rows = source.stage(batches)
        if not self.model.training:
            self.model.train()
            for norm in self.frozen_norms:
                norm.eval()
        params = [p for p in self.model.parameters() if p.requires_grad]
        for idx, lr in zip(rows, lrs.tolist(), strict=True):
            if lr != self._lr:
                self.set_lr(lr)
            xb, yb = source.batch(idx)
            if self._poison:
                xb, self._poison = xb * float("inf"), False
            out = forward(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            if scaler.is_enabled():
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                norm = self._grad_norm(params, clip)
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                norm = self._grad_norm(params, clip)
                opt.step()
            with torch.no_grad():  # `out` needs no detach here; `loss` would keep its graph
                self.pending.append([loss.detach(), *(fn(out, yb) for fn in metric_fns), *norm])
        self.sizes.extend([batches.shape[1]] * len(batches))

    def _grad_norm(self, params: list[nn.Parameter], clip: bool) -> list[torch.Tensor]:
        """The step's global gradient norm (unscaled, before clipping by it when `clip`) in
        parts whose squares sum to its square (read_slots adds them up): the total that
        clipping computes anyway, or each gradient's norm in one call on every
        NORM_EVERY-th step (none on the others, or when no parameter got a gradient)."""
        self._steps += 1
        if clip:
            return [nn.utils.clip_grad_norm_(params, self.spec.train.grad_clip)]
        if self._steps % NORM_EVERY:
            return []
        grads = [p.grad for p in params if p.grad is not None]
        if self.sparse_grads:  # an embedding's `sparse=True`: its values' norm (once each)
            grads = [g.coalesce().values() if g.is_sparse else g for g in grads]
        return list(torch._foreach_norm(grads)) if grads else []

    def read_slots(self, n: int) -> dict[str, np.ndarray]:
        steps, self.pending = self.pending[:n], self.pending[n:]
        sizes, self.sizes = np.asarray(self.sizes[:n], dtype=np.float64), self.sizes[n:]
        flat = torch.stack([value for step in steps for value in step])  # one device op
        rows = np.split(flat.double().cpu().numpy(), np.cumsum([len(step) for step in steps])[:-1])
        width = len(self.names)  # loss and metrics; the gradient norm's parts after them
        values = np.array([row[:width] for row in rows]).T
        norms = [math.hypot(*row[width:]) if len(row) > width else math.nan for row in rows]
        out = {"loss": values[0], GRAD_NORM: np.array(norms)}
        for i, name in enumerate(self.spec.train.metrics, 1):
            out[name] = METRICS[name].finish(values[i], sizes)
        return out

    def _batches(self, split: Split) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """A split's x and y on the device in evaluation batches: slices of the tensors
        held there, or batches read from the streams."""
        bs = max(self.spec.train.batch_size, 256)
        if self.splits.streams is None:
            x, y = self.data[split]
            return ((x[i:i + bs], y[i:i + bs]) for i in range(0, len(x), bs))
        return (self._batch(*batch) for batch in self.splits.streams.batches(split, bs))

    @torch.no_grad()
    def predict(self, split: Split) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """Loss and metrics over a split, with the model's outputs and the targets."""
        self.model.eval()
        size = self.splits.size(split)
        got = collect(size, ((self._forward(xb), yb) for xb, yb in self._batches(split)),
                      lambda shape, like: like.new_empty(shape))
        if got is None:
            return {}, np.zeros((0,)), np.zeros((0,))
        out, y = got
        sums = torch.stack([self.loss_fn(out, y), *(fn(out, y) for fn in self.metric_fns)])
        values = sums.double().cpu().numpy()
        metrics = {"loss": float(values[0])}
        for i, name in enumerate(self.spec.train.metrics, 1):
            metrics[name] = float(METRICS[name].finish(values[i], np.array(len(y))))
        return metrics, out.float().cpu().numpy(), y.cpu().numpy()

    def evaluate(self, split: Split) -> dict[str, float]:
        return self.predict(split)[0]

    def fingerprint(self) -> str:
        """A hash of every weight's bytes (a test compares the ranks' with it)."""
        digest = hashlib.sha256()
        for tensor in self.model.state_dict().values():
            digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr
        self._lr = lr

    def snapshot(self) -> Callable[[Path], None]:
        state = self.staging.copy({
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        })
        return functools.partial(torch.save, state)

    def load(self, path: Path, with_optimizer: bool = True) -> None:
        state = load_state(path, self.device)
        self.model.load_state_dict(state["model"])
        if with_optimizer:
            self.opt.load_state_dict(state["optimizer"])
            for group in self.opt.param_groups:  # the decay is the step hook's; checkpoints
                group["weight_decay"] = 0.0  # from before it kept torch's own (coupled) one
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng_cpu"].cpu())
            if state.get("rng_cuda"):
                torch.cuda.set_rng_state_all([s.cpu() for s in state["rng_cuda"]])


class HostStaging:
    """Host memory a checkpoint's state is copied into on the training thread, kept from one
    save to the next (as torch.distributed.checkpoint's async save stages it): a copy into
    memory already mapped costs no page faults and no zeroing, and from a GPU, into pinned
    memory, it runs asynchronously (one synchronize at the end). Reusing it is safe because
    a save waits for the write before it (the writer is done with the buffers)."""

    def __init__(self, pinned: bool) -> None:
        self.pinned = pinned
        self.buffers: dict[tuple, torch.Tensor] = {}

    def copy(self, state: object) -> object:
        """`state` with every tensor copied to host memory (the live ones change as
        training goes on while the copy is written); everything else as it is."""
        copies: dict[tuple, torch.Tensor] = {}
        out = self._copy(state, (), copies)
        if self.pinned:
            torch.cuda.synchronize()
        return out

    def _copy(self, value: object, path: tuple, copies: dict[tuple, torch.Tensor]) -> object:
        """A tensor that appears twice (tied weights: one parameter under two names) is
        copied once, so the copies share it as the originals do and `torch.save` writes it
        once."""
        if isinstance(value, torch.Tensor):
            # state_dict() detaches each name's tensor anew: the same memory says "the same one"
            key = (value.data_ptr(), value.dtype, tuple(value.shape), tuple(value.stride()))
            if value.numel() == 0 or key not in copies:
                copies[key] = self._buffer(path, value)
                copies[key].copy_(value.detach(), non_blocking=self.pinned)
            return copies[key]
        if isinstance(value, dict):
            return {k: self._copy(v, (*path, k), copies) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._copy(v, (*path, i), copies) for i, v in enumerate(value))
        return value

    def _buffer(self, path: tuple, like: torch.Tensor) -> torch.Tensor:
        """The host buffer kept for the tensor at `path`, made (again) when its shape or
        dtype changed."""
        buffer = self.buffers.get(path)
        if buffer is None or buffer.dtype != like.dtype or buffer.shape != like.shape:
            buffer = torch.empty(like.shape, dtype=like.dtype, device="cpu",
                                 pin_memory=self.pinned)
            self.buffers[path] = buffer
        return buffer


def _dtype_name(dtype: torch.dtype) -> str:
    """`torch.float32` -> "float32", as numpy and Keras name dtypes."""
    return str(dtype).removeprefix("torch.")


def _load_refusal(exc: Exception) -> str:
    """One line from torch.load's (long, multi-line) refusal: what the file tried to call."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (f"Weights only load failed: it would call {found.group(1)}, which a file of "
                "tensors never needs; tuitrain loads checkpoints with weights_only=True only")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:200]}"


class TorchBackend(Backend):
    framework = "torch"
    checkpoint_suffix = ".pt"

    def versions(self) -> dict[str, str]:
        out = {"torch": torch.__version__}
        if torch.version.cuda:  # a CUDA build: the toolkit and cuDNN it runs with
            out["cuda"] = torch.version.cuda
            cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
            if cudnn:
                out["cudnn"] = str(cudnn)
        return out

    def devices(self) -> list[DeviceInfo]:
        found = []
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                free, total = torch.cuda.mem_get_info(i)
                found.append(DeviceInfo("torch", f"cuda:{i}", "cuda", props.name, total, free))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            found.append(DeviceInfo("torch", "mps", "mps", "Apple Metal (MPS)"))
        threads = torch.get_num_threads()
        plural = "s" if threads > 1 else ""
        found.append(DeviceInfo("torch", "cpu", "cpu", f"CPU ({threads} thread{plural})"))
        return found

    def count_params(self, spec: RunSpec, info: DatasetInfo) -> int:
        model = build_model(spec, info)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def check_model(self, spec: RunSpec, info: DatasetInfo, init: bool) -> tuple[int, int]:
        model = build_model(spec, info)
        if spec.model_file is not None:
            shape = model_file.input_shape_for("torch", info.input_shape)
            dtype = torch.int64 if info.input_dtype == "int64" else torch.float32
            model.eval()
            try:
                with torch.no_grad():
                    out = model(torch.zeros((2, *shape), dtype=dtype))
            except Exception as exc:
                raise user_model.does_not_run(spec.model_file, "torch", shape, exc) from None
            if not isinstance(out, torch.Tensor):
                raise UserError(f"{spec.model_file.file}: the model returns "
                                f"{type(out).__name__}; torch expects one tensor of raw scores")
            user_model.check_output(spec.model_file, tuple(out.shape[1:]),
                                    needed_output(spec, info))
        if init and spec.train.init_from:
            init_weights(model, Path(spec.train.init_from))
        params = list(model.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad)
        return trainable, sum(p.numel() for p in params) - trainable

    def train(self, trainer: Trainer, splits: Splits,
              resume: Path | None) -> Literal["completed", "stopped"]:
        device = self.resolve_device(trainer.spec.run.device)
        if trainer.spec.run.precision == "16" and device.kind == "cpu":
            trainer.recorder.log("warning",
                                 "float16 on CPU is slow and unscaled; consider --precision bf16")
        group = trainer.group
        engine = TorchEngine(trainer.spec, splits, device.id, group)
        if resume is not None:
            engine.load(resume)
        elif trainer.spec.train.init_from:
            source = trainer.spec.train.init_from
            trainer.recorder.log("info", init_weights(engine.model, Path(source)).describe(source))
        trainer.begin(engine, device.id, device.name, engine.params, self.versions(),
                      engine.non_trainable, group.describe())
        return trainer.fit()

    export_formats = {"torch-export": ".pt2", "onnx": ".onnx"}  # noqa: RUF012

    def export(
        self,
        spec: RunSpec,
        splits: Splits,
        checkpoint: Path,
        dest: Path,
        fmt: str,
        preprocessing: Preprocessing | None,
    ) -> Signature:
        """A `torch.export` program (load with `torch.export.load`) or ONNX (weights inside
        the file up to ONNX's 2 GB limit, beyond it in `NAME.data` beside it), batch size
        free, taking images channels-last as every framework's export does."""
        engine = TorchEngine(spec, splits, "cpu")
        engine.load(checkpoint, with_optimizer=False)
        model = serving_model(engine.model, splits.info, preprocessing)
        model.eval()
        example = (torch.from_numpy(np.ascontiguousarray(splits.example(2))),)
        batch = ({0: torch.export.Dim("batch")},)
        if fmt == "onnx":
            if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript")):
                raise UserError("ONNX export needs: pip install onnx onnxscript")
            torch.onnx.export(
                model,
                example,
                str(dest),
                dynamo=True,
                dynamic_shapes=batch,
                external_data=False,
                verbose=False,
            )
        else:
            torch.export.save(torch.export.export(model, example, dynamic_shapes=batch), dest)
        with torch.no_grad():
            out = model(*example)
        x = example[0]
        return Signature(
            tuple(x.shape[1:]), _dtype_name(x.dtype), tuple(out.shape[1:]), _dtype_name(out.dtype)
        )

    def evaluate(self, spec: RunSpec, splits: Splits, checkpoint: Path, split: Split) -> Evaluation:
        device = self.resolve_device(spec.run.device)
        engine = TorchEngine(spec, splits, device.id)
        engine.load(checkpoint, with_optimizer=False)
        return Evaluation(*engine.predict(split))

    def forward(self, spec: RunSpec, splits: Splits, checkpoint: Path) -> Forward:
        engine = TorchEngine(spec, splits, self.resolve_device(spec.run.device).id)
        engine.load(checkpoint, with_optimizer=False)
        engine.model.eval()

        @torch.no_grad()
        def run(x: np.ndarray) -> np.ndarray:
            out = engine._forward(torch.from_numpy(x).to(engine.device))
            return out.float().cpu().numpy()

        return run


BACKEND = TorchBackend()
