"""The TensorFlow backend (and, through `BackendScenarios`, the Keras one): real training of
tiny presets, resume, eval and parameter-count parity with the framework-neutral summary.

TensorFlow never loads into the pytest process: every run goes through the CLI in a child
process, and so does everything that builds a Keras model."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import SHIPPED_PRESETS, cli_env, requires_tensorflow, run_cli, run_folders
from layer_stacks import EXTRA_STACKS, TOKEN_INPUT

from tuitrain.core import launch, validate
from tuitrain.core.events import (
    BatchMetrics,
    CheckpointSaved,
    EpochEnd,
    Event,
    RunEnded,
    RunStarted,
)
from tuitrain.core.presets import load_spec
from tuitrain.core.rundir import RunDir

E = TypeVar("E", bound=Event)

pytestmark = [
    pytest.mark.tensorflow,
    requires_tensorflow,
]

# Run in a child for several frameworks at once: prints one JSON object
# {framework: {"parity": {name: [neutral params, backend params]}, "refusals": [messages]}}.
CHECKS_SCRIPT = """
import json, shutil, sys, tempfile
from dataclasses import replace
from pathlib import Path
from tuitrain import backends
from tuitrain.core import validate
from tuitrain.core.data import load_splits
from tuitrain.core.errors import UserError
from tuitrain.core.presets import load_spec, spec_from_document
from tuitrain.core.shapes import summarize

frameworks, presets, stacks, token_input = (json.loads(arg) for arg in sys.argv[1:5])
tmp = Path(tempfile.mkdtemp())
out = {}
for framework in frameworks:
    backend = backends.load(framework)
    parity = {}
    for name in presets:
        spec = load_spec(name, {})
        info, summary = validate.check(spec)
        parity[name] = [summary.params, backend.count_params(spec, info)]
    for name, layers in stacks.items():
        doc = {"name": name, "description": "", "task": "classification",
               "data": {"dataset": "digits"}, "model": {"layers": layers},
               "train": {"loss": "cross_entropy"}}
        spec = spec_from_document(doc)
        info = validate.dataset_info(spec.data, task=spec.task)
        if name in token_input:
            info = replace(info, input_shape=tuple(token_input[name]), input_dtype="int64",
                           num_outputs=3)
        units = validate.output_units(spec, info)
        parity[name] = [summarize(spec.layers, info.input_shape, units).params,
                        backend.count_params(spec, info)]
    # Checkpoints the backend must refuse: garbage, and (Keras) a model holding a lambda.
    spec = load_spec("mlp-digits", {"run.framework": framework})
    splits = load_splits(spec.data, 0, task=spec.task)
    bad = [tmp / f"garbage-{framework}{backend.checkpoint_suffix}"]
    if backend.checkpoint_is_dir:
        bad[0].mkdir()
        (bad[0] / "ckpt.index").write_bytes(b"not a checkpoint")
    else:
        bad[0].write_bytes(b"not a checkpoint")
        import keras
        unsafe = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Lambda(lambda x: x * 2)])
        bad.append(tmp / "unsafe.keras")
        unsafe.save(bad[-1])
    refusals = []
    for path in bad:
        try:
            backend.evaluate(spec, splits, path, "val")
            refusals.append("NOT REFUSED: " + path.name)
        except UserError as exc:
            refusals.append(str(exc))
    out[framework] = {"parity": parity, "refusals": refusals}
    if framework == "tensorflow":  # host reads and retracing over one epoch of 40 steps
        from tensorflow.python.framework.ops import _EagerTensorBase
        from tuitrain.core.checkpoints import CheckpointStore
        from tuitrain.core.rundir import RunDir
        from tuitrain.core.trainer import Trainer
        spec = load_spec("mlp-digits", {"train.log_every": 10, "schedule.name": "one-cycle"})
        run = RunDir.create(tmp / "runs", spec)
        store = CheckpointStore(run.checkpoints, ".tfckpt", is_dir=True)
        trainer = Trainer(spec, run, len(splits.x_train), store)
        engine = backend.engine(spec, splits)
        trainer.begin(engine, "cpu", "cpu", engine.params, {})
        reads, numpy = [0], _EagerTensorBase.numpy
        def counted(self):
            reads[0] += 1
            return numpy(self)
        _EagerTensorBase.numpy = counted
        trainer.train_epoch()
        _EagerTensorBase.numpy = numpy
        out[framework]["syncs"] = {"reads": reads[0], "steps": trainer.pos.step,
                                   "traces": engine.block._run.experimental_get_tracing_count()}
shutil.rmtree(tmp)
print(json.dumps(out))
"""


def train(tmp: Path, framework: str, preset: str, *extra: str, **env: str) -> RunDir:
    """Train headless into `tmp/runs` through the CLI; returns the run folder it made."""
    runs = tmp / "runs"
    before = set(run_folders(runs))
    proc = run_cli("train", "-p", preset, "-f", framework, *extra, runs_dir=runs,
                   env=cli_env(**env), cwd=tmp, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = set(run_folders(runs)) - before
    return RunDir(path)


def of_type(run: RunDir, kind: type[E]) -> list[E]:
    return [e for e in run.events() if isinstance(e, kind)]


def neutral_params(preset: str) -> int:
    """The framework-neutral trainable count (core only; no framework import)."""
    return validate.check(load_spec(preset, {}))[1].params


# Run in a child: the SeedGenerator states a checkpoint (TF folder or .keras file) holds.
SEEDS_SCRIPT = """
import io, json, sys, zipfile
from pathlib import Path
import numpy as np
p = Path(sys.argv[1])
if p.is_dir():
    import tensorflow as tf
    r = tf.train.load_checkpoint(str(p / "ckpt"))
    states = [r.get_tensor(k) for k in sorted(r.get_variable_to_shape_map())
              if k.startswith("seeds/")]
else:
    with zipfile.ZipFile(p) as zf:
        raw = zf.read("seed_states.npz")
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        states = [data[f"arr_{i}"] for i in range(len(data.files))]
print(json.dumps([s.tolist() for s in states]))
"""

@functools.cache
def checks_in_child(frameworks: tuple[str, ...], keras_backend: str = "tensorflow",
                    ) -> dict[str, dict[str, Any]]:
    """Parity and refusal checks for several frameworks, in one child process (cached)."""
    proc = subprocess.run(
        [sys.executable, "-c", CHECKS_SCRIPT, json.dumps(frameworks),
         json.dumps(SHIPPED_PRESETS), json.dumps(EXTRA_STACKS), json.dumps(TOKEN_INPUT)],
        capture_output=True, text=True, timeout=240, check=False,
        env=cli_env(KERAS_BACKEND=keras_backend),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_parity(checks: dict[str, Any]) -> None:
    mismatched = {name: counts for name, counts in checks["parity"].items()
                  if counts[0] != counts[1]}
    assert not mismatched, f"[neutral, built] differ: {mismatched}"
    assert set(checks["parity"]) == {*SHIPPED_PRESETS, *EXTRA_STACKS}
    assert len(SHIPPED_PRESETS) >= 9


def assert_refusals(checks: dict[str, Any]) -> None:
    for message in checks["refusals"]:
        assert "cannot load checkpoint safely" in message, message
        assert "\n" not in message


class BackendScenarios:
    """The same scenarios for each Keras-family backend; subclasses set `framework`."""

    framework: str

    @pytest.fixture(scope="class")
    def mlp_run(self, tmp_path_factory: pytest.TempPathFactory) -> RunDir:
        return train(tmp_path_factory.mktemp(self.framework), self.framework, "mlp-digits",
                     "--epochs", "2")

    def test_trains_mlp_digits(self, mlp_run: RunDir) -> None:
        s = mlp_run.summary()
        assert s["status"] == "completed"
        assert s["framework"] == self.framework
        assert s["params"] == neutral_params("mlp-digits")
        assert s["epochs_completed"] == 2
        assert s["metrics"]["val_accuracy"] > 0.5
        assert (mlp_run.path / s["last_checkpoint"]).exists()
        assert (mlp_run.path / s["best_checkpoint"]).exists()
        log = mlp_run.events()
        assert isinstance(log[0], RunStarted) and isinstance(log[-1], RunEnded)
        assert len(of_type(mlp_run, EpochEnd)) == 2 and of_type(mlp_run, CheckpointSaved)
        batches = of_type(mlp_run, BatchMetrics)
        assert batches and all(b.metrics["loss"] > 0 and 0 <= b.metrics["accuracy"] <= 1
                               for b in batches)

    def test_eval_prints_report(self, mlp_run: RunDir) -> None:
        proc = run_cli("eval", str(mlp_run.path), runs_dir=mlp_run.path.parent,
                       cwd=mlp_run.path.parent)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "accuracy" in proc.stdout
        assert "confusion" in proc.stdout
        report = json.loads((mlp_run.path / "eval.json").read_text())
        assert report["split"] == "test"

    def test_checkpoint_holds_the_dropout_rng_state(self, mlp_run: RunDir) -> None:
        """mlp-digits has one dropout layer: its SeedGenerator state, advanced once a step, is
        in the checkpoint, so a resumed run continues the masks (RELIABILITY.md item 2)."""
        s = mlp_run.summary()
        proc = subprocess.run(
            [sys.executable, "-c", SEEDS_SCRIPT, str(mlp_run.path / s["last_checkpoint"])],
            capture_output=True, text=True, timeout=240, check=False, env=cli_env())
        assert proc.returncode == 0, proc.stderr[-2000:]
        states = json.loads(proc.stdout.strip().splitlines()[-1])
        assert len(states) == 1
        assert states[0][1] == s["epochs_completed"] * s["steps_per_epoch"]

    def test_resume_continues(self, mlp_run: RunDir) -> None:
        proc = run_cli("resume", str(mlp_run.path), "--epochs", "3",
                       runs_dir=mlp_run.path.parent, cwd=mlp_run.path.parent, timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        s = mlp_run.summary()
        assert s["status"] == "completed" and s["epochs_completed"] == 3
        starts = of_type(mlp_run, RunStarted)
        assert [e.resumed for e in starts] == [False, True]
        assert starts[1].start_epoch == 2
        assert [e.epoch for e in of_type(mlp_run, EpochEnd)] == [0, 1, 2]
        steps = [e.global_step for e in of_type(mlp_run, BatchMetrics)]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        assert steps[-1] == 3 * s["steps_per_epoch"]

    def test_trains_cnn_digits(self, tmp_path: Path) -> None:
        s = train(tmp_path, self.framework, "cnn-digits", "--epochs", "1").summary()
        assert s["status"] == "completed"
        assert s["params"] == neutral_params("cnn-digits")

    def test_trains_lstm_sine_regression(self, tmp_path: Path) -> None:
        s = train(tmp_path, self.framework, "lstm-sine", "--epochs", "1").summary()
        assert s["status"] == "completed"
        assert s["params"] == neutral_params("lstm-sine")
        assert 0 < s["metrics"]["val_loss"] < 10 and "val_mae" in s["metrics"]

    def test_stop_checkpoints_mid_epoch(self, tmp_path: Path) -> None:
        spec = load_spec("mlp-moons", {"run.framework": self.framework, "train.epochs": 1,
                                       "train.log_every": 5, "data.samples": 200_000})
        run = RunDir.create(tmp_path / "runs", spec)
        proc = launch.start_runner(run)
        try:
            deadline = time.monotonic() + 120
            while not (run.metrics.exists() and of_type(run, BatchMetrics)):
                assert proc.poll() is None and time.monotonic() < deadline, run.summary()
                time.sleep(0.05)
            launch.request_stop(run)
            assert proc.wait(timeout=60) == 0
        finally:
            launch.kill_after(run, proc, 0)
        s = run.summary()
        assert s["status"] == "stopped" and s["epochs_completed"] == 0
        ckpt = run.path / s["last_checkpoint"]
        manifest = json.loads(ckpt.with_name(ckpt.name + ".json").read_text())
        assert ckpt.exists() and 0 < manifest["step_in_epoch"] < s["steps_per_epoch"]
        assert of_type(run, RunEnded)[-1].status == "stopped"

    def test_param_parity_every_shipped_preset_and_layer(self) -> None:
        assert_parity(checks_in_child(("tensorflow", "keras"))[self.framework])

    def test_refuses_bad_checkpoints_in_one_line(self) -> None:
        assert_refusals(checks_in_child(("tensorflow", "keras"))[self.framework])


class TestTensorFlow(BackendScenarios):
    framework = "tensorflow"

    def test_one_host_read_per_log_interval_and_no_retracing(self) -> None:
        """40 steps, logged every 10: 4 reads of the device-side slots, and one trace for
        blocks of every length, the short last batch included."""
        syncs = checks_in_child(("tensorflow", "keras"))["tensorflow"]["syncs"]
        assert syncs == {"reads": 4, "steps": 40, "traces": 1}
