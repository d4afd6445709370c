"""PyTorch's processes of a data-parallel run: `torch.distributed` set up from the environment
the elastic agent gives each worker (RANK, WORLD_SIZE, LOCAL_RANK, GROUP_WORLD_SIZE (the
machines), MASTER_ADDR/PORT: what `torchrun` sets), and the driver's collectives
(core/group.py) over a gloo group.

Gradients travel on the default group (NCCL on CUDA, gloo on the CPU) inside
DistributedDataParallel; the driver's few small collectives (a decision after every block,
the logged sums) always go over gloo on the CPU, so they never wait behind the GPU's
queue and work the same on every device."""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

# A rank that dies closes its sockets and gloo fails the others at once; this bounds the
# wait where it cannot tell (a hung rank, a lost network), so no rank waits forever.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)
LEAVE_TIMEOUT = datetime.timedelta(seconds=30)  # for the others to reach the end, at exit


@dataclass(frozen=True)
class TorchGroup:
    """This worker's rank among the run's processes, with gloo collectives."""

    rank: int
    world_size: int
    local_rank: int
    backend: str  # of the default group: "nccl" or "gloo"
    control: Any  # the gloo group the driver's collectives use
    nodes: int = 1  # machines

    def all_sum(self, values: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=self.control)
        return tensor.numpy()

    def broadcast(self, value: Any) -> Any:
        box = [value]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def describe(self) -> str:
        """'DDP x2 gloo' (or 'DDP x8 nccl, 2 nodes'), as the status line shows it."""
        on = f", {self.nodes} nodes" if self.nodes > 1 else ""
        return f"DDP x{self.world_size} {self.backend}{on}"

    def close(self) -> None:
        """Leave the group together: a rank that tore its connections down while another
        still used them made that one abort (SIGABRT) at exit, after a completed run."""
        if not dist.is_initialized():
            return
        with contextlib.suppress(RuntimeError):  # a rank gone already: nothing to wait for
            dist.monitored_barrier(group=self.control, timeout=LEAVE_TIMEOUT)
        dist.destroy_process_group()


def join(cuda: bool) -> TorchGroup:
    """Join the run's process group as the elastic agent's environment says (NCCL when the
    run trains on CUDA, else gloo)."""
    backend = "nccl" if cuda else "gloo"
    local_rank = int(os.environ["LOCAL_RANK"])
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT)
    control = dist.group.WORLD if backend == "gloo" else dist.new_group(
        backend="gloo", timeout=COLLECTIVE_TIMEOUT)
    return TorchGroup(dist.get_rank(), dist.get_world_size(), local_rank, backend, control,
                      int(os.environ.get("GROUP_WORLD_SIZE", "1")))
