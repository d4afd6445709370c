"""The plain DistributedDataParallel loop the `ddp` figure compares tuitrain with, one worker
of `torchrun --standalone --nproc-per-node=N -m benchmarks.ddp_plain PRESET --epochs E`.

What a careful person writes from the PyTorch tutorial: the preset's network (tuitrain's
`build_model`, so the model is the same), wrapped in DDP over gloo; the training split whole
in memory; each epoch a permutation of it, each rank training its slice of every global
batch; Adam; the loss summed on the device and all-reduced once per epoch; then rank 0
validates and saves a checkpoint (fsync'd) and every rank waits for it (a broadcast of its
accuracy), as tuitrain does between epochs (its write in the background). Rank 0 prints the
seconds of each epoch, validation included, as one JSON line."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from tuitrain.backends.torch_backend import build_optimizer
from tuitrain.backends.torch_layers import build_model
from tuitrain.core.data import load_splits
from tuitrain.core.presets import load_spec


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("preset")
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    spec = load_spec(a.preset, {"train.epochs": a.epochs})
    splits = load_splits(spec.data, spec.run.seed, task=spec.task)
    torch.manual_seed(spec.run.seed)
    model = build_model(spec, splits.info)
    ddp = DistributedDataParallel(model)
    opt = build_optimizer(spec, list(model.parameters()))
    x, y = torch.from_numpy(splits.x_train), torch.from_numpy(splits.y_train)
    x_val, y_val = torch.from_numpy(splits.x_val), torch.from_numpy(splits.y_val)
    bs, n = spec.train.batch_size, len(x)
    share = bs // world
    steps = n // bs
    seconds = []
    checkpoint = Path(tempfile.mkdtemp()) / "plain.pt"
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.from_numpy(np.random.default_rng([spec.run.seed, epoch]).permutation(n))
        ddp.train()
        loss_sum = torch.zeros(())
        for step in range(steps):
            idx = order[step * bs + rank * share: step * bs + (rank + 1) * share]
            out = ddp(x[idx])
            loss = F.cross_entropy(out, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        dist.all_reduce(loss_sum)
        accuracy = [math.nan]
        if rank == 0:
            model.eval()
            with torch.no_grad():
                accuracy = [float((model(x_val).argmax(-1) == y_val).float().mean())]
        if rank == 0:  # and saves a checkpoint, as tuitrain does every epoch
            with open(checkpoint, "wb") as f:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, f)
                f.flush()
                os.fsync(f.fileno())
        dist.broadcast_object_list(accuracy, src=0)
        seconds.append(time.perf_counter() - t0)
    if rank == 0:
        print(json.dumps({"seconds": seconds, "steps": steps, "accuracy": accuracy[0]}),
              flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
