"""`--tensorboard`: a run's scalars (training values per interval, epoch values, lr) and its
live changes land in TensorBoard event files that TensorBoard's own reader loads; without the
package the option is one line before anything starts."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import FRAMEWORK_PARAMS, run_cli, run_folders

from tuitrain.core.rundir import RunDir

needs_tensorboard = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                                       reason="tensorboard is not installed")
READ = textwrap.dedent("""
    import json, sys
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    print(json.dumps({"scalars": {t: [(e.step, e.value) for e in acc.Scalars(t)]
                                  for t in tags["scalars"]}, "tensors": tags["tensors"]}))
""")


def read_events(folder: Path) -> dict:
    import json

    out = subprocess.run([sys.executable, "-c", READ, str(folder)], capture_output=True,
                         text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_tensorboard
@pytest.mark.parametrize("framework", FRAMEWORK_PARAMS)
def test_a_run_writes_tensorboard_event_files(tmp_path: Path, framework: str) -> None:
    runs = tmp_path / "runs"
    out = run_cli("train", "-p", "mlp-moons", "-f", framework, "--epochs", "3", "--tensorboard",
                  runs_dir=runs, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    (run,) = (RunDir(p) for p in run_folders(runs))
    events = read_events(run.path / "tensorboard")
    scalars = events["scalars"]
    assert {"train/loss", "train/accuracy", "lr", "samples_per_sec", "epoch/val_loss",
            "epoch/val_accuracy"} <= set(scalars)
    assert [step for step, _ in scalars["epoch/val_accuracy"]] == sorted(
        step for step, _ in scalars["epoch/val_accuracy"])
    assert len(scalars["epoch/val_accuracy"]) == 3
    final = run.summary()["metrics"]["val_accuracy"]
    assert scalars["epoch/val_accuracy"][-1][1] == pytest.approx(final, rel=1e-6)


def test_without_the_package_it_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitrain import backends
    from tuitrain.core import tensorboard_log
    from tuitrain.core.errors import UserError
    from tuitrain.core.presets import load_spec

    real = importlib.util.find_spec
    monkeypatch.setattr(tensorboard_log.importlib.util, "find_spec",
                        lambda name: None if name == "tensorboard" else real(name))
    spec = load_spec("mlp-moons", {"run.tensorboard": True})
    with pytest.raises(UserError, match="--tensorboard needs the tensorboard package: pip "
                                        "install tensorboard"):
        backends.preflight(spec, probe_device=False)
