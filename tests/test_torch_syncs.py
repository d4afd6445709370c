"""Figure 2 of the performance issue: the PyTorch training path makes no device->host read
between log points. On CPU the reads are counted by instrumenting the tensor methods that
copy to the host (`.item()`, `.cpu()`, `.tolist()`, `bool()`, `float()`, `int()`).
NaN detection rides on the same one read per log interval."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    from pathlib import Path
    from tuitrain.backends.torch_backend import TorchEngine
    from tuitrain.core.checkpoints import CheckpointStore
    from tuitrain.core.data import load_splits
    from tuitrain.core.presets import load_spec
    from tuitrain.core.rundir import RunDir
    from tuitrain.core.trainer import Trainer

    spec = load_spec("mlp-digits", {"train.epochs": 2, "train.log_every": LOG_EVERY,
                                    "schedule.name": "one-cycle"})
    run = RunDir.create(Path(sys.argv[1]), spec)
    splits = load_splits(spec.data, 0, task=spec.task)
    store = CheckpointStore(run.checkpoints, ".pt")
    trainer = Trainer(spec, run, len(splits.x_train), store)
    engine = TorchEngine(spec, splits, "cpu")
    trainer.begin(engine, "cpu", "cpu", engine.params, {})

    reads = []
    step = [0]
    def host_counter(t):
        # Optimizers keep their step counters on the CPU even for CUDA parameters (unless
        # capturable), so reading one is not a device sync; everything else counts.
        return any(t is st.get("step") for st in engine.opt.state.values())
    def counting(name, original):
        def wrapper(self, *a, **k):
            if not host_counter(self):
                reads.append((step[0], name))
            return original(self, *a, **k)
        return wrapper
    # `.numpy()` is not counted: on a GPU tensor it raises, so a device read must go through
    # one of these first.
    for name in ("item", "cpu", "tolist", "__bool__", "__float__", "__int__"):
        setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))

    forward = engine.model.forward
    def counted_forward(x):  # each step starts with its forward pass: reads are per step
        step[0] += 1
        return forward(x)
    engine.model.forward = counted_forward
    trainer.train_epoch()
    print(json.dumps({"steps": step[0], "reads": reads}))
    """
)


@pytest.mark.torch
def test_no_host_reads_between_log_points(tmp_path):
    log_every = 7
    script = SCRIPT.replace("LOG_EVERY", str(log_every))
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                         text=True, check=True, timeout=120)
    import json

    result = json.loads(out.stdout.strip().splitlines()[-1])
    steps = result["steps"]
    read_steps = sorted({s for s, _ in result["reads"]})
    log_points = {s for s in range(1, steps + 1) if s % log_every == 0 or s == steps}
    assert steps > 3 * log_every
    # Every read happens right after a log point's step, never in between.
    assert set(read_steps) <= log_points, (read_steps, sorted(log_points))
    # And each log point costs exactly one transfer.
    per_point = {s: sum(1 for r, _ in result["reads"] if r == s) for s in read_steps}
    assert all(n == 1 for n in per_point.values()), per_point
