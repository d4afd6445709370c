"""Reliability for the TensorFlow and Keras backends: Keras files that would run code when
loaded (a Lambda layer in a `.keras` archive and in a legacy `.h5`) are refused through
`tuitrain eval`, and a stopped-and-resumed run ends where an uninterrupted one does (within
1e-6 relative). Everything runs in child processes. See RELIABILITY.md."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    REPO,
    assert_one_line_error,
    build_once,
    cli_env,
    requires_tensorflow,
    run_cli,
    run_folders,
)

from tuitrain.core.checkpoints import CheckpointStore, digest
from tuitrain.core.events import RunEnded
from tuitrain.core.rundir import RunDir

pytestmark = [pytest.mark.tensorflow,
              requires_tensorflow]

LAMBDA = """
import os, shutil, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
import keras
out, marker = sys.argv[1:3]
touch = eval(f"lambda x: (open({marker!r}, 'w').close(), x)[1]")  # calling it creates the marker
model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                          keras.layers.Lambda(touch), keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="mse")
model.save(out + ".keras")
model.save(out + ".h5")
os.remove(marker)  # building the model called it once
# the fixture is really dangerous: an unsafe load runs the lambda
keras.saving.load_model(out + ".keras", safe_mode=False)(keras.ops.zeros((1, 8, 8, 1)))
assert os.path.exists(marker)
os.remove(marker)
"""


def _train_keras(runs: Path) -> None:
    out = run_cli("train", "-p", "mlp-digits", "-f", "keras", "--epochs", "1",
                  "--set", "data.samples=400", runs_dir=runs, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def lambda_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("lambda")
    marker = folder / "PWNED"
    out = subprocess.run([sys.executable, "-c", LAMBDA, str(folder / "lam"), str(marker)],
                         capture_output=True, text=True, env=cli_env(), timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return folder / "lam", marker


@pytest.mark.parametrize("kind", [".keras", ".h5"])
def test_eval_refuses_keras_files_that_run_code(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, lambda_files: tuple[Path, Path],
    kind: str,
) -> None:
    """The run's checkpoints are replaced by the Lambda model (with matching checksums, so they
    are what gets loaded): safe mode refuses the .keras one, the .h5 is refused outright."""
    source = RunDir(run_folders(build_once(tmp_path_factory, "keras-digits-1", _train_keras))[0])
    runs = tmp_path / "runs"
    shutil.copytree(source.path, runs / source.id)
    run = RunDir(runs / source.id)
    stem, marker = lambda_files
    evil = stem.with_suffix(kind)
    for manifest in run.checkpoints.glob("ckpt-*.json"):
        doc = json.loads(manifest.read_text())
        shutil.copyfile(evil, run.checkpoints / doc["name"])
        doc["sha256"] = digest(evil)
        manifest.write_text(json.dumps(doc))
    out = run_cli("eval", run.id, runs_dir=runs, timeout=240)
    needle = "Lambda" if kind == ".keras" else "legacy .h5/HDF5 files are never loaded"
    assert_one_line_error(out, "cannot load checkpoint safely", needle)
    assert not marker.exists()


# ----- resume equals an uninterrupted run, within 1e-6 relative ---------------------------------

COMPARE = """
import os, sys
import numpy as np
a, b, framework = sys.argv[1:4]
if framework == "keras":
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tuitrain.backends.keras_layers  # registers its Keras objects (CrossEntropy)
    def weights(p):
        m = keras.saving.load_model(p, safe_mode=True)
        return ({f"w{i}": w for i, w in enumerate(m.get_weights())}
                | {f"opt{i}": np.asarray(v) for i, v in enumerate(m.optimizer.variables)})
else:
    import tensorflow as tf
    def weights(p):
        r = tf.train.load_checkpoint(os.path.join(p, "ckpt"))
        return {k: r.get_tensor(k) for k in r.get_variable_to_shape_map()
                if "save_counter" not in k and "_CHECKPOINTABLE_OBJECT_GRAPH" not in k}
wa, wb = weights(a), weights(b)
assert wa.keys() == wb.keys(), sorted(set(wa) ^ set(wb))
worst, where = 0.0, ""
for k in sorted(wa):
    x, y = np.asarray(wa[k], np.float64), np.asarray(wb[k], np.float64)
    rel = float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12))) if x.size else 0.0
    if rel > 1e-6:
        print(f"  {k}: shape {x.shape}, max relative difference {rel:.3g}; "
              f"resumed {x.ravel()[:3]} vs straight {y.ravel()[:3]}")
    if rel > worst:
        worst, where = rel, k
print(f"worst relative difference {worst:.3g} at {where or '-'} over {len(wa)} tensors")
sys.exit(0 if worst <= 1e-6 else 1)
"""


def _latest(run: RunDir, suffix: str) -> Path:
    ckpt = CheckpointStore(run.checkpoints, suffix).latest()
    assert ckpt is not None
    return ckpt.path


@pytest.mark.parametrize("options", [
    pytest.param(("tensorflow",), id="tensorflow", marks=pytest.mark.slow),
    pytest.param(("keras",), id="keras", marks=pytest.mark.slow),
    # Keras on JAX: blocks of Keras' train_step on the state kept (backends/jax_steps.py)
    pytest.param(("keras", "--keras-backend", "jax"), id="keras-jax", marks=pytest.mark.skipif(
        importlib.util.find_spec("jax") is None, reason="jax is not installed")),
])
@pytest.mark.parametrize("dropout", [False, True])
def test_resume_matches_uninterrupted(tmp_path: Path, options: tuple[str, ...],
                                      dropout: bool) -> None:
    """mlp-digits (shuffled; with or without its dropout 0.1), 2 epochs of 19 steps on 1,150
    samples, stopped at steps 7 (mid-epoch 1) and 25 (mid-epoch 2) and resumed each time. The
    checkpoints carry the dropout layers' SeedGenerator states, so the masks continue."""
    framework = options[0]
    preset = REPO / "presets" / "mlp-digits.toml"
    if not dropout:
        preset = tmp_path / "digits-no-dropout.toml"
        text = (REPO / "presets" / "mlp-digits.toml").read_text()
        preset.write_text("".join(line for line in text.splitlines(True) if "dropout" not in line))
    args = ("-p", str(preset), "-f", *options, "--epochs", "2", "--batch-size", "64",
            "--set", "schedule.name=constant", "--set", "train.log_every=3")
    suffix = ".keras" if framework == "keras" else ".tfckpt"
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    out = run_cli("train", *args, runs_dir=straight, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    out = run_cli("train", *args, runs_dir=stopped, timeout=300,
                  env=cli_env(TUITRAIN_FAULT="stop_at_step:7"))
    assert out.returncode == 130, out.stdout + out.stderr
    run = RunDir(run_folders(stopped)[0])
    out = run_cli("resume", run.id, runs_dir=stopped, timeout=300,
                  env=cli_env(TUITRAIN_FAULT="stop_at_step:25"))
    assert out.returncode == 130, out.stdout + out.stderr
    out = run_cli("resume", run.id, runs_dir=stopped, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [e.global_step for e in run.events() if isinstance(e, RunEnded)][:2] == [7, 25]
    cmp = subprocess.run(
        [sys.executable, "-c", COMPARE, str(_latest(run, suffix)),
         str(_latest(RunDir(run_folders(straight)[0]), suffix)), framework],
        capture_output=True, text=True, env=cli_env(), timeout=240, check=False)
    print(framework, cmp.stdout.strip())
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr[-2000:]
