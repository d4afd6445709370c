"""Figure 1 (PyTorch): tuitrain's engine + Trainer against a hand-written loop.

Run in its own process (`python -m benchmarks.engine_torch PRESET...`, the presets one after
the other: a process's start costs more than its measurements in --quick). Both loops train the same
network (tuitrain's `build_model` for the preset, so "same model" is exact), on the same
device-resident tensors, with the same batch order and the same per-step cosine learning rate.

The hand-written baseline is the loop a careful person writes: gather the batch by index,
forward, cross-entropy, zero_grad/backward/step, and accumulate the loss sum and the correct
count *on the device* (no per-step `.item()`), read once per epoch. On data labelled at each
position (`transformer-adder`) it is minGPT's loop: one cross-entropy over every answered
position (`ignore_index=-1`), and the count of whole answers right. That loss equals
tuitrain's (each sample's mean over its answered positions, then the batch's) only when every
sample has as many, as in addition, and only up to rounding: the weights check needs tuitrain's
own definition and is run on one-label presets. tuitrain's path is the
runner's: `Trainer.train_epoch` driving `TorchEngine.train_steps` with its defaults (blocks of
steps up to each log point, log every `train.log_every` steps into `metrics.jsonl`, NaN check,
control polling, per-step LR).

Timing: repetitions alternate (hand, tuitrain, hand, ...); each repetition is a block of whole
epochs' training steps; epoch-end work (validation, a checkpoint) is done by both and timed by
neither. The figure is judged on the ratios hand/tuitrain time of adjacent pairs (a throughput
ratio, 1.0 = no overhead; the parent takes each process's median). Pairs (not the two
medians) keep a neighbour's load burst on a shared machine from landing on one side only.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.common import emit, median
from tuitrain.backends.torch_backend import TorchEngine, build_optimizer
from tuitrain.backends.torch_layers import build_model
from tuitrain.core.checkpoints import CheckpointStore
from tuitrain.core.data import load_splits
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir
from tuitrain.core.trainer import Trainer


def cosine_lr(base: float, min_lr: float, t: float) -> float:
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * t))


def correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.argmax(dim=-1) == y).sum()


def answer_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """minGPT's: one mean over every position with a label (-1: none)."""
    return F.cross_entropy(out.flatten(0, 1), y.flatten(), ignore_index=-1)


def whole_answers_right(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out.argmax(dim=-1) == y) | (y < 0)).all(dim=1).sum()


class HandLoop:
    """A plain PyTorch loop over the same tensors."""

    def __init__(self, spec, splits) -> None:
        self.spec = spec
        torch.manual_seed(spec.run.seed)
        self.model = build_model(spec, splits.info)
        self.opt = build_optimizer(spec, list(self.model.parameters()))
        x = torch.from_numpy(np.ascontiguousarray(splits.x_train))
        if x.ndim == 4:
            x = x.permute(0, 3, 1, 2).contiguous()
        self.x, self.y = x, torch.from_numpy(splits.y_train)
        xv = torch.from_numpy(np.ascontiguousarray(splits.x_val))
        self.x_val = xv.permute(0, 3, 1, 2).contiguous() if xv.ndim == 4 else xv
        per_position = self.y.ndim == 2
        self.loss = answer_loss if per_position else F.cross_entropy
        self.right = whole_answers_right if per_position else correct
        self.n = len(self.x)
        self.bs = spec.train.batch_size
        self.steps = math.ceil(self.n / self.bs)
        self.total = spec.train.epochs * self.steps
        self.base, self.min_lr = spec.optimizer.lr, spec.schedule.min_lr
        self.global_step = 0

    @torch.no_grad()
    def epoch_end(self, path: Path) -> None:
        """What a plain loop does between epochs, as tuitrain's `epoch_done` does (untimed on
        both sides): validate, save a checkpoint and fsync it. Without it the hand loop ran
        its epochs back to back with warm caches while tuitrain's began after a checkpoint,
        which read as 5-7% of overhead on mlp-digits' 0.5 ms steps."""
        self.model.eval()
        self.model(self.x_val)
        with open(path, "wb") as f:
            torch.save({"model": self.model.state_dict(), "opt": self.opt.state_dict()}, f)
            f.flush()
            os.fsync(f.fileno())

    def epoch(self, epoch: int) -> tuple[float, float]:
        order = np.random.default_rng([self.spec.run.seed, epoch]).permutation(self.n)
        model, opt, x, y = self.model, self.opt, self.x, self.y
        loss_fn, right = self.loss, self.right
        model.train()
        loss_sum = torch.zeros(())
        hits = torch.zeros((), dtype=torch.long)
        for step in range(self.steps):
            lr = cosine_lr(self.base, self.min_lr, min(1.0, self.global_step / self.total))
            for group in opt.param_groups:
                group["lr"] = lr
            idx = torch.from_numpy(order[step * self.bs : (step + 1) * self.bs])
            xb, yb = x[idx], y[idx]
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(idx)
                hits += right(out, yb)
            self.global_step += 1
        return float(loss_sum) / self.n, float(hits) / self.n


def make_trainer(spec, splits, folder: Path) -> tuple[Trainer, TorchEngine]:
    run = RunDir.create(folder, spec)
    store = CheckpointStore(run.checkpoints, ".pt", spec.train.keep_checkpoints)
    trainer = Trainer(spec, run, len(splits.x_train), store)
    engine = TorchEngine(spec, splits, "cpu")
    trainer.begin(engine, "cpu", "cpu", engine.params, {"torch": torch.__version__})
    return trainer, engine


def tuitrain_epoch(trainer: Trainer) -> None:
    """The training steps of one epoch exactly as `Trainer.fit` runs them."""
    if not trainer.train_epoch():
        raise RuntimeError("stopped")


def timing(preset: str, reps: int, block: int) -> dict:
    epochs = 2 * reps * block + 4
    spec = load_spec(preset, {"train.epochs": epochs})
    splits = load_splits(spec.data, spec.run.seed, task=spec.task)
    with tempfile.TemporaryDirectory() as tmp:
        trainer, engine = make_trainer(spec, splits, Path(tmp))
        hand = HandLoop(spec, splits)
        hand_epoch = [0]

        def run_hand() -> float:
            spent = 0.0
            for _ in range(block):
                t0 = time.perf_counter()
                hand.epoch(hand_epoch[0])
                spent += time.perf_counter() - t0
                hand_epoch[0] += 1
                hand.epoch_end(Path(tmp) / "hand.pt")  # not timed, as tuitrain's epoch_done
            return spent

        def run_tuitrain() -> float:
            spent = 0.0
            for _ in range(block):
                t0 = time.perf_counter()
                tuitrain_epoch(trainer)
                spent += time.perf_counter() - t0
                trainer.epoch_done(engine.evaluate("val"))  # not timed (validation, checkpoint)
                trainer.flush_checkpoints()  # nor the checkpoint's background write
            return spent

        run_hand(), run_tuitrain()  # warm-up: allocator, first-call costs
        t_hand, t_tt = [], []
        for r in range(reps):
            pair = (run_hand, run_tuitrain) if r % 2 == 0 else (run_tuitrain, run_hand)
            for fn in pair:
                (t_hand if fn is run_hand else t_tt).append(fn())
        steps = block * hand.steps
    return {
        "preset": preset,
        "threads": torch.get_num_threads(),
        "steps_per_block": steps,
        "hand_ms_per_step": 1e3 * median(t_hand) / steps,
        "tuitrain_ms_per_step": 1e3 * median(t_tt) / steps,
        "ratios": [h / t for h, t in zip(t_hand, t_tt, strict=True)],
        "hand": t_hand,
        "tuitrain": t_tt,
    }


def weights(preset: str, epochs: int) -> dict:
    """Deterministic mode: tuitrain's `Trainer.fit` and the hand loop from the same seed end
    with bit-identical weights."""
    torch.use_deterministic_algorithms(True)
    spec = load_spec(preset, {"train.epochs": epochs})
    splits = load_splits(spec.data, spec.run.seed, task=spec.task)
    with tempfile.TemporaryDirectory() as tmp:
        trainer, engine = make_trainer(spec, splits, Path(tmp))
        trainer.fit()
        ours = {k: v.clone() for k, v in engine.model.state_dict().items()}
    hand = HandLoop(spec, splits)
    for epoch in range(epochs):
        hand.epoch(epoch)
    theirs = hand.model.state_dict()
    diffs = {k: float((ours[k].double() - theirs[k].double()).abs().max()) for k in ours}
    equal = all(torch.equal(ours[k], theirs[k]) for k in ours)
    return {"preset": preset, "epochs": epochs, "equal": equal, "max_abs_diff": max(diffs.values())}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("presets", nargs="+", help="measured one after the other in this process")
    p.add_argument("--mode", choices=("timing", "weights"), default="timing")
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--blocks", default="3", help="epochs per repetition, one per preset")
    p.add_argument("--epochs", type=int, default=2, help="epochs of the weights check")
    p.add_argument("--weights", default="", help="presets whose weights are checked here")
    a = p.parse_args()
    if a.mode == "weights":
        emit({name: weights(name, a.epochs) for name in a.presets})
        return
    blocks = [int(b) for b in a.blocks.split(",")]
    if len(blocks) != len(a.presets):
        p.error("--blocks needs one number per preset")
    checked = set(filter(None, a.weights.split(",")))
    out = {}
    for preset, block in zip(a.presets, blocks, strict=True):
        # The weights check first (it seeds and switches on deterministic algorithms
        # itself), then the timing in the same interpreter with them off again.
        check = weights(preset, a.epochs) if preset in checked else None
        torch.use_deterministic_algorithms(False)
        out[preset] = {**timing(preset, a.reps, block), "weights": check}
    emit({"presets": out})


if __name__ == "__main__":
    main()
