"""Fault injection on the real runner (PyTorch, CPU): SIGKILL at random moments, resume equal
to an uninterrupted run bit for bit, disk full, NaN and out-of-memory at a chosen step, SIGTERM
with a hung step, and checkpoints that try to run code when loaded. Faults at a step come from
the runner's test hook `TUITRAIN_FAULT` (tuitrain/core/faults.py). See RELIABILITY.md."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    REPO,
    assert_one_line_error,
    build_once,
    cli_env,
    popen_cli,
    requires_tensorflow,
    requires_torch,
    run_cli,
    run_folders,
)

from tuitrain.core.checkpoints import CheckpointStore, digest
from tuitrain.core.data import load_splits
from tuitrain.core.events import BatchMetrics, CheckpointSaved, LogMessage, RunEnded
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.torch, requires_torch]

# mlp-moons with dropout and no schedule: shuffled batches and dropout masks both draw on the
# seeded order and torch's RNG, and a constant learning rate does not depend on the epoch count.
MOONS_DROPOUT = """\
name = "moons-dropout"
description = "mlp-moons with dropout, for the reliability tests"
task = "classification"

[data]
dataset = "moons"

[model]
layers = [
  { type = "dense", units = 32, activation = "relu" },
  { type = "dropout", rate = 0.2 },
  { type = "dense", units = 32, activation = "relu" },
  { type = "dense", units = "auto" },
]

[train]
loss = "cross_entropy"
epochs = 2
batch_size = 32
log_every = 4
keep_checkpoints = 3
metrics = ["accuracy"]

[optimizer]
name = "adam"
lr = 0.01
"""

# Compares the model, optimizer and RNG tensors of two checkpoints; loads with weights_only.
COMPARE = """
import sys, torch
a, b = (torch.load(p, weights_only=True) for p in sys.argv[1:3])
def walk(x, y, at):
    if isinstance(x, torch.Tensor):
        if not (x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)):
            print("differs at", at); sys.exit(1)
    elif isinstance(x, dict):
        assert x.keys() == y.keys(), at
        for k in x: walk(x[k], y[k], f"{at}.{k}")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), at
        for i, (u, v) in enumerate(zip(x, y)): walk(u, v, f"{at}[{i}]")
    else:
        assert x == y, (at, x, y)
walk(a["model"], b["model"], "model"); walk(a["optimizer"], b["optimizer"], "optimizer")
walk(a["rng_cpu"], b["rng_cpu"], "rng_cpu")
print("identical")
"""


def preset(tmp_path: Path) -> Path:
    path = tmp_path / "moons-dropout.toml"
    path.write_text(MOONS_DROPOUT)
    return path


def env_with(fault: str = "") -> dict[str, str]:
    env = cli_env()
    env.pop("TUITRAIN_FAULT", None)
    if fault:
        env["TUITRAIN_FAULT"] = fault
    return env


def only_run(runs: Path) -> RunDir:
    folders = run_folders(runs)
    assert len(folders) == 1, folders
    return RunDir(folders[0])


def of(run: RunDir, kind: type) -> list:
    return [e for e in run.events() if isinstance(e, kind)]


def last_checkpoint(run: RunDir) -> Path:
    ckpt = CheckpointStore(run.checkpoints, ".pt").latest()
    assert ckpt is not None, list(run.checkpoints.iterdir())
    return ckpt.path


def assert_identical(a: Path, b: Path) -> None:
    out = subprocess.run([sys.executable, "-c", COMPARE, str(a), str(b)], capture_output=True,
                         text=True, env=cli_env(), timeout=120, check=False)
    assert out.returncode == 0 and "identical" in out.stdout, out.stdout + out.stderr


def train(runs: Path, *args: str, fault: str = "", timeout: float = 180):
    return run_cli("train", *args, runs_dir=runs, env=env_with(fault), timeout=timeout)


def resume(run: RunDir, runs: Path, *args: str, fault: str = ""):
    return run_cli("resume", run.id, *args, runs_dir=runs, env=env_with(fault), timeout=180)


# ----- 1. crash-safe checkpoints: SIGKILL at random moments ------------------------------------

def start_runner(run: RunDir, resume_: bool, fault: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tuitrain.runner", str(run.path)]
    if resume_:
        cmd.append("--resume")
    with open(run.path / "runner.log", "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env=env_with(fault), start_new_session=True)


def wait_started(run: RunDir, before: int, proc: subprocess.Popen[bytes]) -> None:
    """Until this runner logged its run_started (or died, which the caller reports)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if run.metrics.exists() and run.metrics.stat().st_size > before:
            with open(run.metrics, "rb") as f:
                f.seek(before)
                if b'"run_started"' in f.read():
                    return
        time.sleep(0.01)


def partials(folder: Path) -> list[str]:
    """Temp files and checkpoints without a manifest: the traces of a kill during a save."""
    names = [p.name for p in folder.iterdir()] if folder.exists() else []
    return [n for n in names if n.startswith(".") or
            (n.startswith("ckpt-") and not n.endswith(".json") and f"{n}.json" not in names)]


def kill_loop(tmp_path: Path, kills: int, seed: int) -> dict[str, int]:
    """Train, SIGKILL the runner at a random moment, check, resume, ... `kills` times; then
    finish the run and compare its weights with an uninterrupted run's."""
    rng = random.Random(seed)
    runs = tmp_path / "runs"
    spec = load_spec(str(preset(tmp_path)), {"train.epochs": 1000, "train.log_every": 2})
    run = RunDir.create(runs, spec)
    fault = "ckpt_every:1"  # a checkpoint after every step: most kills land in or near a save
    newest = -1
    mid_save = early = 0
    for i in range(kills):
        before = run.metrics.stat().st_size if run.metrics.exists() else 0
        proc = start_runner(run, resume_=newest >= 0, fault=fault)
        if rng.random() < 0.15:  # during start-up: imports, clean-up, loading the checkpoint
            time.sleep(rng.uniform(0.0, 2.5))
            early += 1
        else:
            wait_started(run, before, proc)
            time.sleep(rng.uniform(0.0, 0.25))
        if proc.poll() is not None:
            log = (run.path / "runner.log").read_text()[-3000:]
            raise AssertionError(f"kill {i}: the runner ended ({proc.returncode}) first:\n{log}")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        mid_save += bool(partials(run.checkpoints))
        store = CheckpointStore(run.checkpoints, ".pt", spec.train.keep_checkpoints)
        latest = store.latest()
        if latest is None:
            assert newest < 0, f"kill {i}: the checkpoint at step {newest} was lost"
            continue
        assert latest.global_step >= newest, (i, latest.global_step, newest)
        assert digest(latest.path) == latest.sha256
        newest = latest.global_step
    assert newest > 0, "no checkpoint was ever completed"
    # Finish: resume through the CLI to the end of the current epoch, then the same number of
    # epochs without interruption; the final weights must be the same bit for bit.
    done = run.summary()["epochs_completed"] if run.summary_path.exists() else 0
    epochs = str(done + 1)
    out = resume(run, runs, "--epochs", epochs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert run.summary()["status"] == "completed"
    assert not partials(run.checkpoints)
    clean_runs = tmp_path / "clean"
    out = train(clean_runs, "-p", str(preset(tmp_path)), "-f", "torch", "--epochs", epochs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_identical(last_checkpoint(run), last_checkpoint(only_run(clean_runs)))
    return {"kills": kills, "mid_save": mid_save, "during_startup": early, "last_step": newest}


def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    figures = kill_loop(tmp_path, kills=4, seed=1)
    print(figures)


@pytest.mark.slow
def test_sigkill_200_times(tmp_path: Path) -> None:
    kills = int(os.environ.get("TUITRAIN_KILLS", "200"))
    started = time.monotonic()
    figures = kill_loop(tmp_path, kills=kills, seed=2026)
    figures["seconds"] = round(time.monotonic() - started)
    print("kill figures:", json.dumps(figures))  # the figures RELIABILITY.md quotes


def test_a_kill_during_a_background_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    """The background write of step 10's checkpoint stalls once its temp file is written
    (`stall_write_at_step`); training goes on past step 10 meanwhile, then the runner is
    killed. Step 5's checkpoint stays the latest, and the resumed run ends bit-identical to
    one that was never interrupted."""
    runs = tmp_path / "runs"
    spec = load_spec(str(preset(tmp_path)), {"train.log_every": 2})
    run = RunDir.create(runs, spec)
    proc = start_runner(run, resume_=False, fault="ckpt_every:5,stall_write_at_step:10")
    stalled: list[Path] = []
    steps: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            stalled = [p for p in run.checkpoints.glob(".ckpt-e0000-s000000010.pt.*.tmp")
                       if any(p.iterdir())]
            steps = [e.global_step for e in of(run, BatchMetrics)] if run.metrics.exists() else []
            if stalled and steps and max(steps) > 10:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert stalled and max(steps) > 10, (stalled, steps, (run.path / "runner.log").read_text())
    latest = CheckpointStore(run.checkpoints, ".pt", spec.train.keep_checkpoints).latest()
    assert latest is not None and latest.global_step == 5
    assert digest(latest.path) == latest.sha256
    assert partials(run.checkpoints)  # the stalled write's temp file, left by the kill
    out = resume(run, runs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not partials(run.checkpoints)
    straight = tmp_path / "straight"
    out = train(straight, "-p", str(preset(tmp_path)), "-f", "torch")
    assert out.returncode == 0, out.stdout + out.stderr
    assert_identical(last_checkpoint(run), last_checkpoint(only_run(straight)))


# ----- 2. resume equals an uninterrupted run ---------------------------------------------------

@pytest.mark.parametrize("stops", [
    (7, 44, 61),
    pytest.param((3, 20, 29, 50, 70), marks=pytest.mark.slow),
], ids=["3-stops", "5-stops"])
def test_resume_is_bit_identical(tmp_path: Path, stops: tuple[int, ...]) -> None:
    """Stopped at several steps (44 steps an epoch: 7 and 61 are mid-epoch, 44 is the end of
    epoch 1) with shuffling and dropout on; the resumed run ends with the same weights,
    optimizer state and RNG state as one that never stopped."""
    p = str(preset(tmp_path))
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    out = train(straight, "-p", p, "-f", "torch")
    assert out.returncode == 0, out.stdout + out.stderr
    out = train(stopped, "-p", p, "-f", "torch", fault=f"stop_at_step:{stops[0]}")
    assert out.returncode == 130, out.stdout + out.stderr
    run = only_run(stopped)
    for stop in stops[1:]:
        out = resume(run, stopped, fault=f"stop_at_step:{stop}")
        assert out.returncode == 130, out.stdout + out.stderr
    assert [e.global_step for e in of(run, RunEnded)] == list(stops)
    out = resume(run, stopped)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_identical(last_checkpoint(run), last_checkpoint(only_run(straight)))


# ----- 1. disk full and read-only folders -------------------------------------------------------

def test_disk_full_fails_cleanly_and_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = train(runs, "-p", str(preset(tmp_path)), "-f", "torch",
                fault="ckpt_every:5,enospc_from_step:12")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    run = only_run(runs)
    summary = run.summary()
    assert summary["status"] == "failed"
    error = summary["error"]
    assert "\n" not in error
    assert error.startswith(f"cannot write a checkpoint in {run.checkpoints}: No space left")
    assert "the previous checkpoint ckpt-e0000-s000000010.pt is intact" in error
    assert error in out.stdout
    store = CheckpointStore(run.checkpoints, ".pt")
    assert [c.global_step for c in store.complete(verify=True)] == [5, 10]
    assert not partials(run.checkpoints)  # the failed write left nothing behind
    # and the run goes on from there once there is room again
    out = resume(run, runs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [e.global_step for e in of(run, RunEnded)][-1] == summary["steps_per_epoch"] * 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_read_only_checkpoints_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = train(runs, "-p", str(preset(tmp_path)), "-f", "torch", "--epochs", "1")
    assert out.returncode == 0
    run = only_run(runs)
    before = {p.name: p.read_bytes() for p in run.checkpoints.iterdir()}
    run.checkpoints.chmod(0o555)
    try:
        out = resume(run, runs, "--epochs", "2")
    finally:
        run.checkpoints.chmod(0o755)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "cannot write a checkpoint" in run.summary()["error"]
    assert "Permission denied" in run.summary()["error"]
    assert {p.name: p.read_bytes() for p in run.checkpoints.iterdir()} == before


# ----- 4. NaN / Inf -------------------------------------------------------------------------------

def test_inf_batch_at_step_k_fails_naming_it_and_saves_no_nan_model(tmp_path: Path) -> None:
    """Inf input at step 37 (log every 4: detected at the log point of step 40, or sooner by
    the checkpoint every 3 steps that would cover step 37 at step 39, which must refuse)."""
    runs = tmp_path / "runs"
    out = train(runs, "-p", str(preset(tmp_path)), "-f", "torch",
                "--set", "train.keep_checkpoints=100", fault="ckpt_every:3,nan_at_step:37")
    assert out.returncode == 1, out.stdout + out.stderr
    run = only_run(runs)
    summary = run.summary()
    assert summary["status"] == "failed"
    assert re.fullmatch(r"loss became (nan|inf|-inf) at step 37 \(epoch 1\)", summary["error"])
    print("NaN test:", summary["error"])
    steps = sorted(c.global_step for c in CheckpointStore(run.checkpoints, ".pt").complete())
    assert steps == list(range(3, 37, 3))  # every save before step 37, none from it on
    assert all(e.global_step < 37 for e in of(run, CheckpointSaved))
    assert summary["last_checkpoint"].endswith("ckpt-e0000-s000000036.pt")
    assert summary["best_checkpoint"] in (None, "")  # no epoch ended: nothing was best yet
    assert "at step 37" in out.stdout


# ----- 5. out of memory -------------------------------------------------------------------------

def test_oom_at_step_k_stops_with_a_checkpoint_and_a_batch_size(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = train(runs, "-p", str(preset(tmp_path)), "-f", "torch", fault="oom_at_step:30")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    run = only_run(runs)
    error = run.summary()["error"]
    assert error == ("out of memory (OutOfMemoryError); try a smaller batch, e.g. "
                     "--batch-size 16; the last good state is saved as ckpt-e0000-s000000029.pt")
    latest = CheckpointStore(run.checkpoints, ".pt").latest()
    assert latest is not None and latest.global_step == 29 and latest.step_in_epoch == 29


@requires_tensorflow
@pytest.mark.parametrize("framework", ["tensorflow", "keras"])
def test_tensorflow_oom_is_caught_the_same_way(tmp_path: Path, framework: str) -> None:
    runs = tmp_path / "runs"
    out = train(runs, "-p", str(preset(tmp_path)), "-f", framework, fault="oom_at_step:30")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    error = only_run(runs).summary()["error"]
    assert error.startswith("out of memory (ResourceExhaustedError); try a smaller batch, "
                            "e.g. --batch-size 16; the last good state is saved as "
                            "ckpt-e0000-s000000029")


def test_auto_batch_retries_once_with_half_the_batch(tmp_path: Path) -> None:
    """--auto-batch: the out-of-memory step is retried with batch 16 from the same sample, and
    the run ends where a run with batch 16 from there would (checked: same sample count)."""
    runs = tmp_path / "runs"
    out = train(runs, "-p", str(preset(tmp_path)), "-f", "torch", "--auto-batch",
                fault="oom_at_step:30")
    assert out.returncode == 0, out.stdout + out.stderr
    run = only_run(runs)
    summary = run.summary()
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert run.read_spec().train.batch_size == 16 and run.read_spec().train.auto_batch
    warnings = [e.text for e in of(run, LogMessage) if e.level == "warning"]
    assert any("retrying once with batch size 16 (--auto-batch)" in w for w in warnings)
    # 29 steps of 32, then the rest of the epoch in steps of 16, then a whole epoch of 16s
    n_train = len(load_splits(run.read_spec().data, 0, task="classification").x_train)
    left = n_train - 29 * 32
    assert of(run, RunEnded)[-1].global_step == 29 + -(-left // 16) + -(-n_train // 16)
    assert summary["train_samples"] == 2 * n_train  # every sample twice, none lost or repeated


def test_a_second_oom_is_not_retried(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    out = train(runs, "-p", str(preset(tmp_path)), "-f", "torch", "--auto-batch",
                "--batch-size", "1", fault="oom_at_step:3")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "--batch-size 1" in only_run(runs).summary()["error"]


# ----- 6. SIGTERM ---------------------------------------------------------------------------

def _start_and_wait(runs: Path, fault: str, *args: str) -> tuple[subprocess.Popen[str], RunDir]:
    proc = popen_cli("train", "-p", str(runs.parent / "moons-dropout.toml"), "-f", "torch",
                     "--epochs", "1000", *args, runs_dir=runs, env=env_with(fault))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        folders = run_folders(runs)
        if folders and (folders[0] / "metrics.jsonl").exists() and \
                '"event": "batch"' in (folders[0] / "metrics.jsonl").read_text():
            return proc, RunDir(folders[0])
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(proc.communicate())


def test_sigterm_to_the_runner_saves_and_exits(tmp_path: Path) -> None:
    preset(tmp_path)
    proc, run = _start_and_wait(tmp_path / "runs", "")
    pid = run.runner_pid()
    assert pid is not None and pid != proc.pid
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, stdout + stderr
    assert took < 5, took
    print(f"SIGTERM to exit with a checkpoint: {took:.2f} s")
    ended = of(run, RunEnded)
    assert [e.status for e in ended] == ["stopped"]
    assert of(run, CheckpointSaved)[-1].global_step == ended[0].global_step
    assert last_checkpoint(run).name == run.summary()["last_checkpoint"].split("/")[-1]


def test_sigterm_during_a_hung_step_exits_after_stop_timeout(tmp_path: Path) -> None:
    preset(tmp_path)
    proc, run = _start_and_wait(tmp_path / "runs", "hang_at_step:9,ckpt_every:4",
                                "--set", "train.stop_timeout=1.5")
    deadline = time.monotonic() + 30  # until the step-8 checkpoint is there: 9 hangs
    while CheckpointStore(run.checkpoints, ".pt").latest() is None or \
            CheckpointStore(run.checkpoints, ".pt").latest().global_step < 8:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    pid = run.runner_pid()
    assert pid is not None
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert 1.4 < took < 4, took
    print(f"SIGTERM during a hung step, stop_timeout 1.5 s: exited after {took:.2f} s")
    assert proc.returncode == 1, stdout + stderr
    error = run.summary()["error"]
    assert error.startswith("did not stop within 1.5 s (train.stop_timeout)"), error
    assert "during step 9" in error
    assert CheckpointStore(run.checkpoints, ".pt").latest().global_step == 8
    # written in the background while step 9 hung, and recorded by the watchdog
    assert run.summary()["last_checkpoint"].endswith("ckpt-e0000-s000000008.pt")


# ----- 3. loading runs no code ----------------------------------------------------------------

EVIL = """
import os, sys, torch
path, marker, kind = sys.argv[1:4]
class Evil:
    def __reduce__(self):
        return (open, (marker, "w"))  # unpickling this creates the marker file
state = {"model": {"w": Evil()}, "optimizer": {}, "rng_cpu": torch.get_rng_state()}
# "legacy": torch's pre-1.6 format (a bare pickle stream); "zip": today's format
torch.save(state, path, _use_new_zipfile_serialization=kind == "zip")
# the fixture is really dangerous: an unsafe load does run it
torch.load(path, weights_only=False)
assert os.path.exists(marker), "the unsafe load should have created the marker"
os.remove(marker)
"""


def _trained_digits(runs: Path) -> None:  # the same run test_cli_torch.py trains (shared)
    out = run_cli("train", "-p", "mlp-digits", "-f", "torch", "--epochs", "2", runs_dir=runs)
    (runs / "train.out").write_text(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def poisoned(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, request):
    """A copy of a trained run whose every checkpoint is a malicious pickle, with manifests
    whose checksums match it (so it is the file that gets loaded)."""
    source = only_run(build_once(tmp_path_factory, "mlp-digits-2-epochs", _trained_digits))
    runs = tmp_path / "runs"
    shutil.copytree(source.path, runs / source.id)
    run = RunDir(runs / source.id)
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    out = subprocess.run([sys.executable, "-c", EVIL, str(evil), str(marker), request.param],
                         capture_output=True, text=True, env=cli_env(), timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert not marker.exists()
    for manifest in run.checkpoints.glob("ckpt-*.json"):
        doc = json.loads(manifest.read_text())
        shutil.copyfile(evil, run.checkpoints / doc["name"])
        doc["sha256"] = digest(evil)
        manifest.write_text(json.dumps(doc))
    return run, runs, marker


@pytest.mark.parametrize("poisoned", ["zip", "legacy"], indirect=True)
def test_eval_refuses_a_pickle_that_runs_code(poisoned) -> None:
    run, runs, marker = poisoned
    out = run_cli("eval", run.id, runs_dir=runs)
    assert_one_line_error(out, "cannot load checkpoint safely", "Weights only load failed")
    assert not marker.exists()


@pytest.mark.parametrize("poisoned", ["zip"], indirect=True)
def test_resume_refuses_a_pickle_that_runs_code(poisoned) -> None:
    run, runs, marker = poisoned
    out = run_cli("resume", run.id, "--epochs", "3", runs_dir=runs)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    error = run.summary()["error"]
    assert run.summary()["status"] == "failed" and "\n" not in error
    assert "cannot load checkpoint safely" in error
    assert not marker.exists()


# ----- 6. terminal loss: SIGHUP to the dashboard in a real pty ----------------------------------

def test_closing_the_terminal_ends_the_dashboard_and_not_the_runner(tmp_path: Path) -> None:
    """`tuitrain watch RUN` in a pseudo-terminal; closing the master side (what sshd does when
    the connection drops) hangs it up: it exits within 1 s, the runner trains on."""
    import pty
    import select

    preset(tmp_path)
    runs = tmp_path / "runs"
    train_proc, run = _start_and_wait(runs, "")
    try:
        env = dict(env_with(""), TERM="xterm-256color", COLUMNS="100", LINES="30")
        pid, master = pty.fork()
        if pid == 0:  # the child: a session leader with the pty as controlling terminal
            os.chdir(REPO)
            os.execve(sys.executable, [sys.executable, "-m", "tuitrain", "watch", run.id,
                                       "--runs-dir", str(runs)], env)
        drawn = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(drawn) < 2000:  # until it has drawn a screen
            if select.select([master], [], [], 0.5)[0]:
                try:
                    drawn += os.read(master, 65536)
                except OSError:
                    break
        assert len(drawn) >= 2000, drawn[-500:]
        time.sleep(0.5)
        size = run.metrics.stat().st_size
        closed = time.monotonic()
        os.close(master)
        exited = None
        while time.monotonic() - closed < 5:
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                exited = time.monotonic() - closed
                break
            time.sleep(0.02)
        if exited is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        assert exited is not None and exited < 1.0, exited
        time.sleep(1.0)
        assert run.is_alive() and run.metrics.stat().st_size > size  # still training
        print(f"dashboard exited {exited:.3f} s after the terminal closed")
    finally:
        pid_runner = run.runner_pid()
        if pid_runner:
            os.kill(pid_runner, signal.SIGTERM)
        train_proc.communicate(timeout=60)


# ----- 7. damage: a run with its checkpoints gone is reported alone ------------------------------

def test_a_missing_checkpoint_is_reported_for_that_run_alone(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    source = only_run(build_once(tmp_path_factory, "mlp-digits-2-epochs", _trained_digits))
    runs = tmp_path / "runs"
    good = RunDir(shutil.copytree(source.path, runs / source.id))
    broken = RunDir(shutil.copytree(source.path, runs / f"{source.id}-copy"))
    for ckpt in broken.checkpoints.glob("ckpt-*"):
        if not ckpt.name.endswith(".json"):
            ckpt.unlink()  # the manifests stay: they name files that are gone
    listing = run_cli("runs", "--json", runs_dir=runs)
    assert listing.returncode == 0, listing.stderr
    assert {r["id"] for r in json.loads(listing.stdout)} == {good.id, broken.id}
    assert_one_line_error(run_cli("eval", broken.id, runs_dir=runs), "no complete checkpoint")
    assert_one_line_error(run_cli("resume", broken.id, "--epochs", "3", runs_dir=runs),
                          "no complete checkpoint to resume from")
    out = run_cli("eval", good.id, runs_dir=runs)
    assert out.returncode == 0 and "accuracy" in out.stdout, out.stdout + out.stderr
