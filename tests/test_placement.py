"""Placement on a shared GPU server, through a fake NVML layer: `--devices` read, the GPUs
CUDA_VISIBLE_DEVICES leaves visible, which GPUs are free (processes of other users; used
memory where a container hides the processes), the preference among them, and the per-GPU
claims that keep two runs started at the same moment off the same GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, cli_env, requires_torch, run_cli, run_folders

from tuitrain.core import gpu_claims, gpus, placement
from tuitrain.core.errors import UserError
from tuitrain.core.events import LogMessage
from tuitrain.core.gpus import GIB, FakeReader, Gpu, GpuProcess
from tuitrain.core.placement import DevicesRequest, parse_devices
from tuitrain.core.rundir import RunDir


def gpu(index: int, used_gib: float = 0.3, *, users: tuple[str, ...] = (),
        utilization: int = 0, total_gib: float = 80) -> Gpu:
    processes = tuple(GpuProcess(1000 + i, user, "python", int(20 * GIB))
                      for i, user in enumerate(users))
    return Gpu(index, f"GPU-{index:04d}-fake", "NVIDIA H100 80GB HBM3", int(total_gib * GIB),
               int(used_gib * GIB), utilization, processes)


def chosen(request: str, gpus: list[Gpu], claimed: dict[str, str] | None = None,
           cuda_visible: str | None = None) -> list[int]:
    """The NVML indices a request would try, in order (as many as it needs)."""
    found = placement.candidates(placement.visible(gpus, cuda_visible), claimed or {})
    plan = placement.plan(parse_devices(request), found, "--devices 0,")
    order = plan.order if plan.need is None else plan.order[:plan.need]
    return [c.gpu.index for c in order]


# --- --devices ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("2", DevicesRequest("count", count=2)),
    ("all", DevicesRequest("all")),
    (" ALL ", DevicesRequest("all")),
    ("0,2,3", DevicesRequest("numbers", numbers=(0, 2, 3))),
    ("3,", DevicesRequest("numbers", numbers=(3,))),
])
def test_devices_are_a_count_all_or_gpu_numbers(text: str, expected: DevicesRequest) -> None:
    assert parse_devices(text) == expected
    assert parse_devices(expected.text()) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "1,,2", ",", "0,a", ""])
def test_a_bad_devices_value_names_what_is_valid(text: str) -> None:
    with pytest.raises(UserError, match=r"--devices must be a count \(2\), all, or GPU numbers"):
        parse_devices(text)


def test_a_gpu_named_twice_is_refused() -> None:
    with pytest.raises(UserError, match="names a GPU twice"):
        parse_devices("1,1")


# --- which GPUs are visible ----------------------------------------------------------------


def test_cuda_visible_devices_keeps_those_it_names_in_its_order() -> None:
    gpus = [gpu(i) for i in range(4)]
    assert [g.index for g in placement.visible(gpus, None)] == [0, 1, 2, 3]
    assert [g.index for g in placement.visible(gpus, "3,1")] == [3, 1]
    assert [g.index for g in placement.visible(gpus, "GPU-0002")] == [2]  # a UUID's start
    assert placement.visible(gpus, "") == []
    with pytest.raises(UserError, match=r"names GPU '7'.*NVML lists GPUs 0, 1, 2, 3"):
        placement.visible(gpus, "1,7")


def test_numbers_count_among_the_visible_gpus_as_cuda_numbers_them() -> None:
    """SLURM gave this job GPUs 4-7: `--devices 1,` is the second of those, NVML's 5."""
    gpus = [gpu(i) for i in range(8)]
    assert chosen("1,", gpus, cuda_visible="4,5,6,7") == [5]
    with pytest.raises(UserError, match="no GPU 4; this process sees GPUs 0-3"):
        chosen("4,", gpus, cuda_visible="4,5,6,7")


# --- which are free, and which first ---------------------------------------------------------


def test_auto_takes_the_free_gpus_with_the_most_free_memory() -> None:
    gpus = [gpu(0, 40), gpu(1, 0.2), gpu(2, users=("alice",)), gpu(3, 0.5), gpu(4, 0.5,
                                                                                utilization=30)]
    assert chosen("1", gpus) == [1]
    assert chosen("2", gpus) == [1, 3]  # 0 shows 40 GiB used and no process: a container's
    assert chosen("all", gpus) == [1, 3, 4]  # 4 as free as 3, but busier


def test_used_memory_is_the_signal_where_nvml_lists_no_processes() -> None:
    hidden = gpu(0, 12)
    reason = placement.busy(hidden)
    assert reason is not None and "12.0 GiB" in reason and "cannot list" in reason
    assert placement.busy(gpu(1, 0.9)) is None  # what an idle GPU's driver holds


def test_too_few_free_gpus_is_one_line_naming_each_gpu_and_who_holds_it() -> None:
    gpus = [gpu(0, users=("alice",)), gpu(1), gpu(2, 30)]
    with pytest.raises(UserError) as info:
        chosen("2", gpus, claimed={"GPU-0001-fake": "20261206-run (pid 7, bob)"})
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith("--devices 2 needs 2 free GPUs, 0 are free: GPU 0 (NVIDIA H100")
    assert "in use by alice (pid 1000 python, 20.0 GiB)" in line
    assert "GPU 1 (NVIDIA H100 80GB HBM3, 79.7 of 80.0 GiB free): claimed by tuitrain run " \
           "20261206-run (pid 7, bob)" in line
    assert "GPU 2" in line and "30.0 GiB of its memory in use" in line


def test_named_gpus_are_used_as_asked_busy_or_not_but_never_when_claimed() -> None:
    gpus = [gpu(0, users=("alice",)), gpu(1), gpu(2)]
    found = placement.candidates(gpus, {"GPU-0002-fake": "other-run"})
    plan = placement.plan(parse_devices("1,0"), found, "--devices 0,")
    assert [c.gpu.index for c in plan.order] == [1, 0] and plan.strict
    assert plan.warnings == ("GPU 0 (NVIDIA H100 80GB HBM3, 79.7 of 80.0 GiB free): in use by "
                             "alice (pid 1000 python, 20.0 GiB) (used as asked)",)
    with pytest.raises(UserError, match=r"--devices 2,: GPU 2 .*claimed by tuitrain run other-run"):
        placement.plan(parse_devices("2,"), found, "--devices 0,")


def test_no_visible_gpu_is_said_plainly() -> None:
    with pytest.raises(UserError, match="no GPU is visible to this process"):
        placement.plan(parse_devices("1"), [], "--devices 0,")


# --- claims: concurrent starts ----------------------------------------------------------------

CLAIMER = """
import sys, time
from pathlib import Path
from tuitrain.core import gpu_claims, gpus
from tuitrain.core.errors import UserError
from tuitrain.core.events import LogMessage
from tuitrain.core.placement import parse_devices
go, release = Path(sys.argv[2]), Path(sys.argv[3])
while not go.exists():  # every claimer starts at the same moment
    time.sleep(0.001)
try:
    claims = gpu_claims.claim(parse_devices(sys.argv[1]), sys.argv[4], gpus.read(), None,
                              "--devices 0,")
except UserError as e:
    print("refused", e, flush=True)
    sys.exit(0)
print("got", claims.cuda_visible(), flush=True)
while not release.exists():  # hold the claims while the others try
    time.sleep(0.01)
"""


def fake_server(tmp_path: Path, gpus: list[Gpu]) -> dict[str, str]:
    """An environment whose NVML is a file describing `gpus`, with its own claims folder."""
    nvml = tmp_path / "nvml.json"
    nvml.write_text(json.dumps({"gpus": [
        {"index": g.index, "uuid": g.uuid, "name": g.name, "memory_total": g.memory_total,
         "memory_used": g.memory_used, "utilization": g.utilization,
         "processes": [{"pid": p.pid, "user": p.user, "name": p.name,
                        "memory_used": p.memory_used} for p in g.processes]}
        for g in gpus]}))
    assert FakeReader(nvml).gpus() == gpus
    return dict(os.environ, TUITRAIN_FAKE_NVML=str(nvml),
                TUITRAIN_GPU_CLAIMS=str(tmp_path / "claims"), PYTHONPATH=str(REPO))


def start_together(tmp_path: Path, env: dict[str, str], requests: list[str]) -> list[str]:
    """One claimer process per request, released at the same moment; what each got."""
    go, release = tmp_path / "go", tmp_path / "release"
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, request, str(go), str(release),
                               f"run-{i}"], stdout=subprocess.PIPE, text=True, env=env)
             for i, request in enumerate(requests)]
    time.sleep(1.0)  # all of them imported and waiting
    go.touch()
    try:
        lines = [proc.stdout.readline().strip() for proc in procs]  # type: ignore[union-attr]
    finally:
        release.touch()
        for proc in procs:
            proc.wait(timeout=30)
    return lines


def test_runs_started_at_the_same_moment_never_share_a_free_gpu(tmp_path: Path) -> None:
    env = fake_server(tmp_path, [gpu(0), gpu(1, users=("alice",)), gpu(2), gpu(3), gpu(4)])
    got = start_together(tmp_path, env, ["1"] * 5)
    taken = sorted(line.split()[1] for line in got if line.startswith("got"))
    assert taken == ["0", "2", "3", "4"], got  # every free GPU once; alice's GPU 1 never
    (refused,) = [line for line in got if line.startswith("refused")]
    assert "--devices 1 needs 1 free GPU, 0 are free" in refused
    assert "claimed by tuitrain run run-" in refused


def test_a_claim_ends_with_its_process(tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves its lock file behind, but not its claim."""
    env = fake_server(tmp_path, [gpu(0)])
    first = subprocess.Popen([sys.executable, "-c", CLAIMER, "1", str(tmp_path / "go"),
                              str(tmp_path / "never"), "run-a"], stdout=subprocess.PIPE,
                             text=True, env=env)
    (tmp_path / "go").touch()
    assert first.stdout is not None and first.stdout.readline().strip() == "got 0"
    first.kill()
    first.wait(timeout=10)
    second = subprocess.run([sys.executable, "-c", CLAIMER, "1", str(tmp_path / "go"),
                             str(tmp_path / "go"), "run-b"], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert second.stdout.strip() == "got 0", second.stderr


def test_claims_are_open_to_other_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUITRAIN_GPU_CLAIMS", str(tmp_path / "claims"))
    old = os.umask(0o077)  # a private umask: the lock file must still be open to all
    try:
        lock = gpu_claims._take(gpu(0), "run-x")
    finally:
        os.umask(old)
    assert lock is not None
    path = tmp_path / "claims" / "GPU-0000-fake.lock"
    assert path.stat().st_mode & 0o777 == 0o666
    assert path.read_text().startswith("run-x (pid ")
    assert gpu_claims.holders([gpu(0)])["GPU-0000-fake"].startswith("run-x (pid ")
    lock.release()
    assert gpu_claims.holders([gpu(0)]) == {}


# --- a run placed through the runner -----------------------------------------------------------


@requires_torch
def test_a_run_is_placed_on_the_free_gpu_and_a_full_server_is_refused(tmp_path: Path) -> None:
    """The runner claims the free GPU with the most free memory before torch starts (here
    torch, a CPU build, then sees no CUDA and trains on the CPU) and records it; when every
    GPU is busy the run fails with one line naming each GPU and who holds it."""
    env = fake_server(tmp_path, [gpu(0, users=("alice",)), gpu(1, 2), gpu(2, 0.1), gpu(3)])
    env = cli_env(**{k: env[k] for k in ("TUITRAIN_FAKE_NVML", "TUITRAIN_GPU_CLAIMS")})
    runs = tmp_path / "runs"
    done = run_cli("train", "-p", "mlp-moons", "--epochs", "1", runs_dir=runs, env=env)
    assert done.returncode == 0, done.stderr
    run = RunDir(run_folders(runs)[-1])
    assert run.summary()["gpus"] == [{"number": 2, "index": 2, "uuid": "GPU-0002-fake",
                                      "name": "NVIDIA H100 80GB HBM3"}]
    logs = [e.text for e in run.events() if isinstance(e, LogMessage)]
    assert "placed on GPU 2 (NVIDIA H100 80GB HBM3)" in logs

    fake_server(tmp_path, [gpu(0, users=("alice",)), gpu(1, 30)])
    refused = run_cli("train", "-p", "mlp-moons", "--epochs", "1", runs_dir=runs, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    (error,) = [line for line in refused.stdout.splitlines() if line.startswith("run failed")]
    assert "--devices 1 needs 1 free GPU, 0 are free: GPU 0" in error
    assert "in use by alice" in error
    assert "Name a busy GPU to use it anyway (--devices 0,)" in error
    assert RunDir(run_folders(runs)[-1]).summary()["status"] == "failed"


def test_out_of_memory_says_what_was_free_and_who_held_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitrain import runner

    me = GpuProcess(os.getpid(), "me", "python", int(30 * GIB))
    bob = GpuProcess(4242, "bob", "python", int(49.5 * GIB))
    env = fake_server(tmp_path, [gpu(0), gpu(1)])
    monkeypatch.setenv("TUITRAIN_FAKE_NVML", env["TUITRAIN_FAKE_NVML"])
    monkeypatch.setenv("TUITRAIN_GPU_CLAIMS", env["TUITRAIN_GPU_CLAIMS"])
    claims = gpu_claims.claim(parse_devices("1,"), "run-x", gpus.read(), None, "--devices 0,")
    with claims:
        fake_server(tmp_path, [gpu(0), Gpu(1, "GPU-0001-fake", "NVIDIA H100 80GB HBM3",
                                           80 * GIB, int(79.5 * GIB), 100, (me, bob))])
        message = runner._oom_message(MemoryError(), 64, claims)
    assert message == ("out of memory (MemoryError); GPU 1 had 0.5 of 80.0 GiB free, held by "
                       "this run 30.0 GiB, bob (pid 4242 python, 49.5 GiB); try a smaller "
                       "batch, e.g. --batch-size 32")


def test_devices_lists_each_gpu_with_its_load_users_and_claims(tmp_path: Path) -> None:
    env = fake_server(tmp_path, [gpu(0, users=("alice",), utilization=87), gpu(1), gpu(2, 30)])
    env = cli_env(**{k: env[k] for k in ("TUITRAIN_FAKE_NVML", "TUITRAIN_GPU_CLAIMS")})
    env["CUDA_VISIBLE_DEVICES"] = "2,0"
    out = run_cli("devices", env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    at = lines.index("GPUs as NVML sees them (where `auto` would place a run):")
    assert [line.split("  ")[1] for line in lines[at + 1:]] == ["GPU 0", "GPU 1"]
    assert lines[at + 1].endswith("50.0 of 80.0 GiB free  0% util · 30.0 GiB of its memory in "
                                  "use by processes NVML cannot list (another container?)")
    assert lines[at + 2].endswith("87% util · in use by alice (pid 1000 python, 20.0 GiB)")
    listed = json.loads(run_cli("devices", "--json", env=env, timeout=300).stdout)
    assert [(g["number"], g["index"], g["busy"] is None) for g in listed["gpus"]] == [
        (0, 2, False), (1, 0, False)]
