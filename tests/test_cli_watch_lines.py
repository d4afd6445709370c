"""`tuitrain watch RUN` and `tuitrain` with stdout not a terminal (a pipe into `tee`, a file,
`nohup`): `watch` prints the run's progress as the plain lines `train` prints, from its whole
history, until the run ends, and exits with `train`'s codes; the dashboard refuses with a
one-line hint. Real child processes with stdout a pipe."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, assert_one_line_error, cli_env, requires_torch, run_cli, run_folders

from tuitrain.core.events import BatchMetrics, EpochEnd, LogMessage, RunEnded, RunStarted
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir


def recorded(runs: Path, status: str, *, ended: bool = True, error: str = "") -> RunDir:
    """A run folder as a runner leaves it: started, two epochs of 40 steps, and (when
    `ended`) its end; no runner is alive."""
    run = RunDir.create(runs, load_spec("mlp-moons", {"train.epochs": 3}))
    run.append(
        RunStarted(
            run_id=run.id,
            preset="mlp-moons",
            framework="torch",
            device="cpu",
            device_name="CPU (1 thread)",
            precision="32",
            params=1218,
            epochs=3,
            steps_per_epoch=40,
            batch_size=32,
            time=10.0,
        )
    )
    for epoch in range(2):
        step = (epoch + 1) * 40
        run.append(
            BatchMetrics(
                epoch=epoch,
                step=40,
                global_step=step,
                metrics={"loss": 0.5},
                lr=0.01,
                samples_per_sec=3200.0,
                time=11.0 + epoch,
            )
        )
        run.append(
            EpochEnd(
                epoch=epoch,
                global_step=step,
                metrics={"loss": 0.5, "val_loss": 0.4},
                seconds=0.5,
                is_best=epoch == 0,
                time=11.0 + epoch,
            )
        )
    if error:
        run.append(LogMessage(level="error", text=f"Traceback ...\n{error}", time=13.0))
    if ended:
        run.append(
            RunEnded(
                status=status,
                epochs_completed=2,
                global_step=80,  # type: ignore[arg-type]
                error=error,
                time=13.0,
            )
        )
    run.write_summary({"status": status, "epochs_completed": 2, "error": error})
    return run


def watch(run: RunDir, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_cli("watch", run.id, runs_dir=run.path.parent, timeout=timeout)


EPOCH_LINES = [
    "training mlp-moons with torch on cpu (CPU (1 thread)), 1,218 params, 3 epochs x 40 steps",
    "epoch 1/3  loss 0.5  val_loss 0.4  (500 ms, 3,200 samples/s, ETA 1.0 s) *",
    "epoch 2/3  loss 0.5  val_loss 0.4  (500 ms, 3,200 samples/s, ETA 500 ms)",
]


@pytest.mark.parametrize(
    ("status", "code", "last"),
    [
        ("completed", 0, "run completed after 2 epochs, 80 steps"),
        ("stopped", 130, "run stopped after 2 epochs, 80 steps"),
    ],
)
def test_a_finished_run_prints_its_history_and_its_exit_code(
    tmp_path: Path, status: str, code: int, last: str
) -> None:
    out = watch(recorded(tmp_path, status))
    assert out.returncode == code, out.stderr
    assert out.stdout.splitlines() == [*EPOCH_LINES, last]
    assert "\033" not in out.stdout and out.stderr == ""


def test_a_failed_run_names_its_error(tmp_path: Path) -> None:
    out = watch(recorded(tmp_path, "failed", error="ValueError: bad shape"))
    assert out.returncode == 1, out.stderr
    assert out.stdout.splitlines()[-2:] == [
        "error: ValueError: bad shape",
        "run failed after 2 epochs, 80 steps: ValueError: bad shape",
    ]


def test_a_run_whose_runner_died_ends_at_once_as_crashed(tmp_path: Path) -> None:
    """The folder says running, no runner holds it: nothing more will come."""
    out = watch(recorded(tmp_path, "running", ended=False), timeout=30)
    assert out.returncode == 1, out.stderr
    assert out.stdout.splitlines()[:3] == EPOCH_LINES
    last = out.stdout.splitlines()[-1]
    assert last == "run crashed: its runner is gone without writing a final status", last


def test_the_dashboard_refuses_without_a_terminal(tmp_path: Path) -> None:
    for args in ([], ["-p", "mlp-moons"]):
        err = assert_one_line_error(run_cli(*args, runs_dir=tmp_path), "needs a terminal")
        assert "tuitrain train" in err and "tuitrain watch" in err
    assert run_folders(tmp_path) == []


@pytest.mark.torch
@requires_torch
def test_watch_follows_a_live_run_to_its_end_then_replays_it(tmp_path: Path) -> None:
    """`tuitrain watch RUN | ...` attached to a training run prints every epoch as it comes
    and exits 0 when the run completes; run again, it prints what `train` printed."""
    runs = tmp_path / "runs"
    train = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuitrain",
            "train",
            "-p",
            "mlp-moons",
            "-f",
            "torch",
            "--epochs",
            "3",
            "--runs-dir",
            str(runs),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run_folders(runs) and RunDir(run_folders(runs)[0]).events()):
            assert time.monotonic() < deadline and train.poll() is None, train.communicate()
            time.sleep(0.05)
        run = RunDir(run_folders(runs)[0])
        live = watch(run, timeout=180)
        trained, err = train.communicate(timeout=180)
    finally:
        if train.poll() is None:
            train.kill()
    assert train.returncode == 0, err
    assert live.returncode == 0, live.stderr
    assert live.stderr == ""
    assert run.summary()["status"] == "completed"
    from_train = [line for line in trained.splitlines() if not line.startswith("run folder: ")]
    assert live.stdout.splitlines() == from_train, (live.stdout, trained)
    assert [line.split("  ")[0] for line in from_train[1:4]] == [
        "epoch 1/3",
        "epoch 2/3",
        "epoch 3/3",
    ]
    again = watch(run)
    assert (again.returncode, again.stdout) == (0, live.stdout)
