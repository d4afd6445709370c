"""The runner: the child process that trains one run and writes its run folder.

Started by the CLI or the dashboard as `python -m tuitrain.runner RUN_DIR [--resume]` in its
own session, so a closed terminal or a crashed dashboard never stops training. Every outcome,
including a framework crash, ends in `summary.json` with a status and the error text.

A run on several devices (`run.devices`): the runner places and claims them, then becomes
the launcher of one worker process per device (torch: torchrun's elastic agent,
backends/torch_launch.py); each worker is `python -m tuitrain.runner RUN_DIR --worker DEVICE`,
one rank of the run (core/group.py), and rank 0 writes the run folder. On several machines
(core/nodes.py) node 0's runner does this and hosts the rendezvous; on every other machine
`tuitrain train` itself places and becomes the agent (`join_run`), and its workers, given no
run folder, learn it from rank 0. TensorFlow (and Keras on it) trains on several devices in
this one process: MirroredStrategy over the placed GPUs, or over logical CPUs; so does Keras
on jax, with its DataParallel distribution over the GPUs or forced host devices."""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import signal
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tuitrain.core import launch
from tuitrain.core.control import Inbox
from tuitrain.core.errors import UserError
from tuitrain.core.nodes import Nodes, parse_nodes
from tuitrain.core.rundir import CONFIG, RunDir

if TYPE_CHECKING:
    from tuitrain.core.checkpoints import Checkpoint, CheckpointStore
    from tuitrain.core.gpu_claims import Claims
    from tuitrain.core.group import Group
    from tuitrain.core.spec import RunSpec
    from tuitrain.core.trainer import Trainer

OOM_NAMES = ("OutOfMemoryError", "ResourceExhaustedError")
PLACED_ENV = "TUITRAIN_PLACED"  # the GPUs the runner placed the run on, as JSON


def _oom_message(exc: BaseException, batch_size: int, claims: Claims | None) -> str:
    """What ran out, what to try, and on a GPU how much was free and who held the rest."""
    where = f"; {claims.memory_now()}" if claims is not None else ""
    return (f"out of memory ({type(exc).__name__}){where}; try a smaller batch, "
            f"e.g. --batch-size {max(1, batch_size // 2)}")


def place_devices(owner: str, spec: RunSpec) -> tuple[RunSpec, Claims | None, int]:
    """The devices the run trains on, claimed by `owner`, and how many (torch: processes;
    TensorFlow: replicas). On NVIDIA GPUs: the GPUs `run.devices` asks for, claimed
    (core/gpu_claims.py) and the only ones its framework sees (CUDA_VISIBLE_DEVICES, numbered
    by PCI bus as NVML does): a count takes the free GPUs with the most free memory, `cuda:N`
    or GPU numbers take those. On the CPU (`cpu`, or no NVIDIA driver) a count is a number
    of processes or logical CPUs; elsewhere (`mps`) one device."""
    from tuitrain.core import gpu_claims, gpus, placement

    device = spec.run.device
    wanted = placement.parse_devices(spec.run.devices)
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        return spec, None, 1
    found = gpus.read() if device != "cpu" else []
    if not found:  # the framework decides, as without NVML
        if wanted.kind != "count":
            raise UserError(f"--devices {spec.run.devices} names GPUs, and NVML shows none on "
                            "this machine; on the CPU --devices is a number of processes")
        return spec, None, wanted.count
    number = device.partition(":")[2]
    request = (placement.DevicesRequest("numbers", numbers=(int(number),),
                                        given=f"--device {device}") if number else wanted)
    claims = gpu_claims.claim(request, owner, found, os.environ.get("CUDA_VISIBLE_DEVICES"),
                              anyway="--devices 0,1" if wanted.count > 1 else "--devices 0,")
    os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    os.environ["CUDA_VISIBLE_DEVICES"] = claims.cuda_visible()
    # For the Trainer that records it: this process's, or rank 0's of a run on several.
    os.environ[PLACED_ENV] = json.dumps({"gpus": claims.record(),
                                         "warnings": list(claims.warnings)})
    return (spec.with_run(device="cuda") if number else spec), claims, len(claims.chosen)


def run(run_dir: Path, resume: bool, control_offset: int | None = None,
        lock_fd: int | None = None, nodes: Nodes | None = None) -> int:
    """Train the run in `run_dir`; returns the process exit code. Control commands are read
    from byte `control_offset` of the control file (default: those sent from now on);
    `lock_fd` is the run's lock, taken by the launcher; `nodes`: node 0 of a run on several
    machines."""
    early_stop = _watch_stops()
    run = RunDir.open(run_dir)
    # The run's lock, handed over by the launcher (or taken here when started by hand): the
    # process holding it is the run's one live runner for as long as it lives.
    lock = run.lock().adopt(lock_fd) if lock_fd is not None else launch.claim(run)
    with lock:  # released once the final status is written, before the interpreter winds down
        return _train(run, resume, control_offset, early_stop, nodes=nodes)


def _watch_stops() -> list[int]:
    """Importing a framework takes seconds; a stop asked for meanwhile (SIGTERM, or the
    control file) must not be lost, so both are watched from the start."""
    early_stop: list[int] = []
    for sig in launch.STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: early_stop.append(signum))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, launch.STOP_SIGNALS)  # the launcher blocked them
    return early_stop


def work(run_dir: Path | None, resume: bool, control_offset: int | None, device: str) -> int:
    """One rank of a run on several devices (torch), started by its machine's elastic agent:
    join the run's process group (NCCL on CUDA, else gloo), learn the run from rank 0 (a
    worker on another machine is given no run folder), and train on its own device
    (cuda:LOCAL_RANK among the GPUs its machine claimed, else the CPU)."""
    early_stop = _watch_stops()
    import torch

    from tuitrain.backends import torch_group

    cuda = device != "cpu" and torch.cuda.is_available()
    group = torch_group.join(cuda)
    atexit.register(group.close)
    run, resume = shared_run(group, run_dir, resume)
    spec_device = f"cuda:{group.local_rank}" if cuda else "cpu"
    return _train(run, resume, control_offset, early_stop, (group, spec_device, 1))


def shared_run(group: Group, run_dir: Path | None, resume: bool) -> tuple[RunDir, bool]:
    """The run folder and whether it resumes, as rank 0 was told, on every rank; when any
    rank cannot see the folder, all raise the same error together (no rank is left waiting)."""
    import numpy as np

    path, resume = group.broadcast((str(Path(run_dir).resolve()), resume)
                                   if group.rank == 0 else None)
    seen = Path(path, CONFIG).is_file()
    unseen = int(group.all_sum(np.array([0.0 if seen else 1.0]))[0])
    if unseen:
        raise UserError(f"{unseen} of the run's processes cannot see its run folder {path}: "
                        "on several machines it must be on a file system they all share "
                        "(the same --runs-dir path on every machine)")
    return RunDir.open(path), resume


def join_run(spec: RunSpec, nodes: Nodes) -> int:
    """A machine other than node 0 of a run on several machines: place and claim this
    machine's devices as a runner would (its GPU claims last as long as this process), then
    (torch) become its elastic agent, or (TensorFlow) train this machine's worker in this
    process, until the run ends; the exit code."""
    owner = f"node {nodes.rank} of the run at {nodes.master}"
    early_stop = _watch_stops() if spec.run.framework != "torch" else []
    placed, claims, world = place_devices(owner, spec)
    try:
        if spec.run.framework == "torch":
            from tuitrain.backends import torch_launch

            return torch_launch.join(nodes, world, placed.run.device)
        from tuitrain.core.tcp_group import TcpGroup

        print(nodes.joining(f"a TensorFlow worker on {world} device(s)"), flush=True)
        group = TcpGroup.join(nodes)
        try:
            run, resume = shared_run(group, None, False)
            return _train(run, resume, None, early_stop, (group, placed.run.device, world))
        finally:
            group.close()
    finally:
        if claims is not None:
            claims.release()


def _train(run: RunDir, resume: bool, control_offset: int | None, early_stop: list[int],
           worker: tuple[Group, str, int] | None = None, nodes: Nodes | None = None) -> int:
    """Train `run` in this process, or launch its workers. `worker`: this process is one
    rank of a run on several devices or machines, with its group, device and replicas."""
    if not worker:
        run.pidfile.write_text(str(os.getpid()))
    inbox = Inbox(run.control)
    if control_offset is not None:
        inbox.offset = control_offset
    spec = run.read_spec()
    if spec.run.framework == "keras":
        os.environ["KERAS_BACKEND"] = spec.run.keras_backend
    from tuitrain import backends
    from tuitrain.core import preprocessing, split_index
    from tuitrain.core.checkpoints import CheckpointStore
    from tuitrain.core.data import load_splits
    from tuitrain.core.group import SOLO
    from tuitrain.core.recorder import Recorder
    from tuitrain.core.trainer import NonFiniteLoss, Trainer

    trainer: Trainer | None = None
    claims: Claims | None = None
    group: Group = SOLO
    replicas = 1  # devices this process trains on (TensorFlow's strategies, jax's DataParallel)
    try:
        if worker:
            group, device, replicas = worker
            spec = spec.with_run(device=device)
        else:
            spec, claims, replicas = place_devices(run.id, spec)  # before a framework sees the GPUs
            if spec.run.framework == "torch" and (replicas > 1 or nodes is not None):
                from tuitrain.backends import torch_backend, torch_launch

                return torch_launch.launch(run, replicas, resume, inbox.offset,
                                           torch_backend.BACKEND.checkpoint_suffix,
                                           spec.run.device, nodes)
            if nodes is not None:  # TensorFlow: this process is node 0's worker, rank 0
                from tuitrain.core.tcp_group import TcpGroup

                group = TcpGroup.join(nodes)
                atexit.register(group.close)
                shared_run(group, run.path, resume)
        backend = backends.load(spec.run.framework)
        # A new run saves its data's statistics and split once; a resumed one reads them back
        # (a run from before they were saved computes them again, as it always did).
        saved = preprocessing.read(run.preprocessing) if resume else None
        recorded = split_index.read(run.splits) if resume else None
        splits = load_splits(spec.data, spec.run.seed, task=spec.task, saved=saved,
                             recorded=recorded)
        if not resume and group.rank == 0:
            preprocessing.write(run.preprocessing, splits.preprocessing)
            assert splits.index is not None  # load_splits draws it
            split_index.write(run.splits, splits.index)
        store = CheckpointStore(run.checkpoints, backend.checkpoint_suffix,
                                spec.train.keep_checkpoints, backend.checkpoint_is_dir)
        if group.rank == 0:
            store.clean_partials()
        latest = store.latest() if resume else None
        if resume and latest is None:
            raise UserError(f"{run.path}: no complete checkpoint to resume from")
        retried = False
        while True:
            trainer = Trainer(spec, run, splits.sizes[0], store, latest, group, replicas)
            placed = os.environ.get(PLACED_ENV)
            if placed and not retried:
                trainer.recorder.placed(**json.loads(placed))
            trainer.inbox = inbox
            trainer.install_signal_handlers()
            if early_stop:
                trainer.stop_asked = True
            oom: str | None = None
            try:
                status = backend.train(trainer, splits, latest.path if latest else None)
            except BaseException as exc:
                if not _is_oom(exc):
                    raise
                oom = _oom_message(exc, spec.train.batch_size, claims)
                saved = _save_last_good(trainer, store)
            if oom is None:
                trainer.finish(status)
                return 0
            retry = (None if retried or not spec.train.auto_batch or trainer.sampler.world_size > 1
                     else _halved(spec, saved))
            if retry is None:
                if saved is not None:
                    oom += f"; the last good state is saved as {saved.name}"
                raise OutOfMemory(oom)
            spec, latest = retry
            retried = True
            trainer.recorder.log("warning", f"{oom}: retrying once with batch size "
                                 f"{spec.train.batch_size} (--auto-batch)")
            # a later `tuitrain resume` uses the smaller batch too (and the device asked for)
            run.write_spec(replace(run.read_spec(), train=spec.train))
            trainer.engine = None
            trainer = None
            _free_device_memory()
    except BaseException as exc:  # the runner must always leave a final status behind
        if worker:
            # A worker leaves its failure to its launcher, which sees every rank's and records
            # the first (backends/torch_launch.py); rank 0 finishes its checkpoint in flight.
            if trainer is not None:
                trainer.flush_checkpoints()
            raise
        if isinstance(exc, NonFiniteLoss):
            assert trainer is not None
            trainer.recorder.log("error", str(exc))
            trainer.finish("failed", str(exc))
            return 1
        if isinstance(exc, (UserError, OutOfMemory)):
            message = str(exc)
        elif _is_oom(exc):
            message = _oom_message(exc, spec.train.batch_size, claims)
        else:
            message = f"{type(exc).__name__}: {exc}"
        recorder = trainer.recorder if trainer is not None else Recorder(run, spec)
        if not isinstance(exc, (UserError, OutOfMemory)):
            recorder.log("error", traceback.format_exc())
        else:
            recorder.log("error", message)
        if trainer is not None:  # after the checkpoint write in flight, if any, is on disk
            trainer.finish("failed", message)
        else:
            recorder.ended("failed", recorder.summary.get("global_step", 0), message)
        return 1
    finally:
        if claims is not None:
            claims.release()


class OutOfMemory(Exception):
    """The run ran out of device memory; the message says what to do."""


def _is_oom(exc: BaseException) -> bool:
    """torch.OutOfMemoryError (= torch.cuda.OutOfMemoryError), tf.errors.ResourceExhaustedError
    (Keras on TensorFlow raises it too), and the host's MemoryError."""
    return type(exc).__name__ in OOM_NAMES or isinstance(exc, MemoryError)


def _save_last_good(trainer: Trainer, store: CheckpointStore) -> Checkpoint | None:
    """After an out-of-memory error: checkpoint the last completed step if the engine is
    still usable (the failed step did not update the weights), else keep the newest one."""
    if trainer.engine is None:  # the model itself did not fit
        return None
    try:
        trainer.save_checkpoint(best=False)
        return trainer.flush_checkpoints() or store.latest()
    except Exception as exc:  # a second failure must not hide the first
        trainer.recorder.log("warning", f"no checkpoint after out of memory: {exc}")
        return None


def _halved(spec: RunSpec, saved: Checkpoint | None) -> tuple[RunSpec, Checkpoint | None] | None:
    """The spec with half the batch, and the checkpoint to continue from (its position in the
    epoch counted in the new, smaller steps); None when that cannot be done exactly."""
    bs = spec.train.batch_size
    half = bs // 2
    if half < 1:
        return None
    new = replace(spec, train=replace(spec.train, batch_size=half))
    if saved is None:
        return new, None
    samples = saved.step_in_epoch * bs
    if samples % half:
        return None
    return new, replace(saved, step_in_epoch=samples // half)


def _free_device_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuitrain.runner")
    parser.add_argument("run_dir", type=Path, nargs="?",
                        help="the run folder (a worker on a machine other than node 0: none)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--control-offset", type=int, default=None)
    parser.add_argument("--lock-fd", type=int, default=None)
    parser.add_argument("--worker", metavar="DEVICE",
                        help="one rank of a run on several devices, started by its launcher")
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--node-rank", type=int)
    parser.add_argument("--master")
    args = parser.parse_args(argv)
    if args.worker:  # a failure goes to the elastic agent (its error file), which records it
        from torch.distributed.elastic.multiprocessing.errors import record

        return record(work)(args.run_dir, args.resume, args.control_offset, args.worker)
    if args.run_dir is None:
        parser.error("the run folder is needed (only a worker goes without)")
    try:
        nodes = parse_nodes(args.nodes, args.node_rank, args.master)
        return run(args.run_dir, args.resume, args.control_offset, args.lock_fd, nodes)
    except UserError as exc:  # not a run folder, or another runner holds it: nothing written
        print(f"runner: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
