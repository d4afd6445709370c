"""The queue's scheduler (core/scheduler.py) with a launcher that trains nothing: order,
max_parallel, the CPU split, GPUs that must be free, runs that never started, and the end
of the scheduler once the queue is empty."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_placement import gpu

from tuitrain.core import cores, gpu_claims
from tuitrain.core.errors import UserError
from tuitrain.core.gpus import Gpu
from tuitrain.core.liveness import Lock, is_held
from tuitrain.core.queue_db import Entry, Queue
from tuitrain.core.scheduler import Scheduler, gpu_fit


@dataclass
class FakeLauncher:
    """Runs that last until the test ends them; `outcomes` says how each ended."""

    live: set[int] = field(default_factory=set)
    outcomes: dict[int, str] = field(default_factory=dict)
    shares: dict[int, int | None] = field(default_factory=dict)
    refuse: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)

    def start(self, entry: Entry, cpu_share: int | None) -> None:
        if entry.id in self.refuse:
            raise UserError("it is already running")
        self.live.add(entry.id)
        self.shares[entry.id] = cpu_share

    def alive(self, entry: Entry) -> bool:
        return entry.id in self.live

    def outcome(self, entry: Entry) -> str:
        return self.outcomes.get(entry.id, "completed")

    def fail(self, entry: Entry, message: str) -> None:
        self.failed[entry.id] = message

    def finish(self, entry_id: int, status: str = "completed") -> None:
        self.live.discard(entry_id)
        self.outcomes[entry_id] = status


def make(tmp_path: Path, gpus: list[Gpu] | None = None, parallel: int = 1,
         ) -> tuple[Queue, FakeLauncher, Scheduler, list[str]]:
    queue = Queue(tmp_path / "q")
    queue.max_parallel = parallel
    launcher = FakeLauncher()
    said: list[str] = []
    return queue, launcher, Scheduler(queue, launcher, lambda: list(gpus or []), said.append), said


def add(queue: Queue, name: str, tmp: Path, device: str = "auto", devices: str = "1") -> int:
    return queue.add(tmp / name, device, devices).id


def states(queue: Queue) -> list[str]:
    return [e.state if e.state != "ended" else e.status for e in queue.entries()]


def test_in_order_at_most_max_parallel_at_a_time(tmp_path: Path) -> None:
    queue, launcher, scheduler, said = make(tmp_path, parallel=2)
    ids = [add(queue, n, tmp_path) for n in "abc"]
    assert scheduler.tick()
    assert states(queue) == ["started", "started", "queued"]
    assert not scheduler.tick()  # nothing changed
    launcher.finish(ids[1], "failed")
    assert scheduler.tick()
    assert states(queue) == ["started", "failed", "started"]
    assert f"#{ids[1]} b: failed" in said


def test_runs_on_the_cpu_split_its_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "machine_cores", lambda: 17)
    queue, launcher, scheduler, _ = make(tmp_path, parallel=4)
    ids = [add(queue, n, tmp_path) for n in "ab"]
    scheduler.tick()
    assert [launcher.shares[i] for i in ids] == [4, 4]  # 16 cores (one kept free) / 4
    queue.max_parallel = 1
    launcher.finish(ids[0])
    launcher.finish(ids[1])
    third = add(queue, "c", tmp_path)
    scheduler.tick()
    assert launcher.shares[third] is None  # alone: the runner's own budget, all but one


def test_cores_follow_the_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "machine_cores", lambda: 9)
    monkeypatch.delenv(cores.CORES_ENV, raising=False)
    assert cores.cores() == 8 and cores.share(3) == 2 and cores.share(20) == 1
    monkeypatch.setenv(cores.CORES_ENV, "2")
    assert cores.cores() == 2
    assert cores.thread_budget()["OMP_NUM_THREADS"] == "2"


def test_an_entry_waits_for_free_gpus_and_holds_those_behind_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gpu_claims.CLAIMS_ENV, str(tmp_path / "claims"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    busy = gpu(1, users=("bob",))  # someone else's job
    queue, launcher, scheduler, _ = make(tmp_path, gpus=[gpu(0), busy], parallel=4)
    one = add(queue, "one", tmp_path)
    two = add(queue, "two", tmp_path, devices="2")
    after = add(queue, "after", tmp_path)
    scheduler.tick()
    # GPU 0 went to `one`; `two` needs both, GPU 1 is busy: it waits, and `after` behind it.
    assert states(queue) == ["started", "queued", "queued"]
    assert scheduler.planned == {one: (gpu(0).uuid,)}
    launcher.finish(one)
    scheduler.tick()
    assert states(queue) == ["completed", "queued", "queued"]
    assert two not in launcher.live and after not in launcher.live


def test_gpu_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gpu_claims.CLAIMS_ENV, str(tmp_path / "claims"))
    found = [gpu(0), gpu(1, used_gib=70)]  # GPU 1: memory in use by a process NVML hides
    queue = Queue(tmp_path / "q")

    def entry(device: str, devices: str = "1") -> Entry:
        got = queue.get(queue.add(tmp_path / f"{len(queue.entries())}", device, devices).id)
        assert got is not None
        return got

    assert gpu_fit(entry("auto"), found, None, {}) == (gpu(0).uuid,)
    assert gpu_fit(entry("auto"), found, None, {gpu(0).uuid: "#1"}) is None
    assert gpu_fit(entry("cuda:1"), found, None, {}) == (gpu(1).uuid,)  # named: used as asked
    assert gpu_fit(entry("cuda", "2"), found, None, {}) is None
    assert gpu_fit(entry("cpu", "2"), found, None, {}) == ()
    assert gpu_fit(entry("mps"), found, None, {}) == ()
    assert gpu_fit(entry("auto", "2"), [], None, {}) == ()  # no NVIDIA GPU: the CPU
    lock = gpu_claims._take(gpu(0), "someone-else")  # another tuitrain run holds GPU 0
    assert lock is not None
    with lock:
        assert gpu_fit(entry("auto", "all"), found, None, {}) is None


def test_a_run_another_scheduler_left_unstarted_goes_back_in_line(tmp_path: Path) -> None:
    queue, launcher, scheduler, said = make(tmp_path)
    first = add(queue, "a", tmp_path)
    queue.start(first)  # a scheduler before this one marked it and died before its runner
    launcher.outcomes[first] = "queued"
    scheduler.tick()
    entry = queue.get(first)
    assert entry is not None and entry.state == "started" and first in launcher.live
    assert any("never started; back in the queue" in line for line in said)


def test_a_runner_that_died_before_a_word_fails_instead_of_starting_forever(
        tmp_path: Path) -> None:
    queue, launcher, scheduler, _ = make(tmp_path)
    first, second = add(queue, "a", tmp_path), add(queue, "b", tmp_path)
    scheduler.tick()
    launcher.finish(first, "queued")  # its folder still says queued: it exited at once
    scheduler.tick()
    assert states(queue) == ["failed", "started"]
    assert "exited before training started" in launcher.failed[first]
    assert second in launcher.live


def test_devices_this_machine_can_never_give_fail_the_entry_not_the_queue(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gpu_claims.CLAIMS_ENV, str(tmp_path / "claims"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    queue, launcher, scheduler, _ = make(tmp_path, gpus=[gpu(0), gpu(1)], parallel=4)
    four = add(queue, "four", tmp_path, devices="4")
    missing = add(queue, "missing", tmp_path, devices="0,5")
    fine = add(queue, "fine", tmp_path)
    scheduler.tick()
    assert states(queue) == ["failed", "failed", "started"] and fine in launcher.live
    assert "this machine shows 2 GPU(s) (0-1); it can never start here" in launcher.failed[four]
    assert missing in launcher.failed


def test_a_failing_sweep_upkeep_is_logged_and_the_queue_goes_on(tmp_path: Path) -> None:
    queue, launcher, scheduler, said = make(tmp_path)

    def broken(entries: list[Entry]) -> None:
        raise FileNotFoundError("ckpt-e0003.pt")

    scheduler.upkeep = broken
    first = add(queue, "a", tmp_path)
    assert scheduler.tick() and first in launcher.live
    assert "sweep upkeep: FileNotFoundError: ckpt-e0003.pt" in said


def test_a_run_that_cannot_start_fails_and_the_next_goes(tmp_path: Path) -> None:
    queue, launcher, scheduler, said = make(tmp_path)
    first = add(queue, "a", tmp_path)
    second = add(queue, "b", tmp_path)
    launcher.refuse.add(first)
    scheduler.tick()
    assert states(queue) == ["failed", "started"] and second in launcher.live
    assert any("could not start: it is already running" in line for line in said)


def test_serve_ends_and_lets_go_of_its_lock_once_the_queue_is_empty(tmp_path: Path) -> None:
    queue, launcher, scheduler, said = make(tmp_path)
    first = add(queue, "a", tmp_path)
    scheduler.tick()
    launcher.finish(first)
    lock = Lock(queue.lockfile).acquire()
    assert is_held(queue.lockfile)
    scheduler.serve(lock, poll=0.01)
    assert not is_held(queue.lockfile)
    assert said[-1] == "queue empty: scheduler ends"
