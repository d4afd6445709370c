"""Figure 6: plot cost against history size, and opening a 1,000,000-step run.

- render: a `RunHistory` holding N batch points (1k ... 10M, fed in chunks as the watcher
  does) and 1 epoch row per 40 steps; one render = what `MetricPlot` does for the loss plot at
  full-screen size (158x40): `charts.loss_chart` (min/max decimation to the plot's columns,
  smoothing, epochs) + `metric_plot.draw` (the lines of styled cells the widget shows; until
  issue 4 this was a plotext build + `Text.from_ansi`). Repetitions of 10 renders, every size
  in turn in each repetition; the baseline is the same render of a 1k-point history, in the
  same repetitions.
- open: a finished run folder whose `metrics.jsonl` has one batch event per step for 1,000,000
  steps (about 190 MB); `tuitrain watch RUN` in a 160x48 pty; time from launch until the loss
  plot shows the last step's value, and the dashboard's peak RSS (VmHWM) by then. Baseline:
  the same for a 1,000-step run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import emit, median

SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
WIDTH, HEIGHT = 158, 40


def make_history(n: int):
    from tuitrain.core.history import EpochRow, RunHistory

    h = RunHistory()
    rng = np.random.default_rng(0)
    chunk = 100_000
    for s in range(0, n, chunk):
        x = np.arange(s + 1, min(n, s + chunk) + 1, dtype=np.float64)
        loss = 2.0 * np.exp(-x / max(n / 5, 1)) + 0.05 * rng.standard_normal(len(x))
        loss[::9973] = np.nan  # NaNs and spikes must survive decimation
        loss[::7919] *= 10
        h.add_batches(
            x,
            {
                "loss": loss,
                "accuracy": 1 - loss / 3,
                "lr": np.full(len(x), 1e-3),
                "samples_per_sec": np.full(len(x), 1e4),
            },
        )
    for e in range(0, n, max(40, n // 2000)):
        h.add_epoch(EpochRow(e // 40 + 1, e + 40, {"loss": 0.5, "val_loss": 0.6}, 1.0, False))
    return h


def render_once(history) -> float:
    from rich.color import Color

    from tuitrain.ui.chart_render import Palette
    from tuitrain.ui.charts import ChartOptions, loss_chart
    from tuitrain.ui.widgets.metric_plot import Y_AXIS_WIDTH, draw

    palette = Palette(Color.parse("#1e1e1e"), Color.parse("#e0e0e0"))
    t0 = time.perf_counter()
    chart = loss_chart(history, max(2, (WIDTH - Y_AXIS_WIDTH) // 2), ChartOptions())
    draw(chart, WIDTH, HEIGHT, palette)
    return time.perf_counter() - t0


RENDERS_PER_REP = 10  # one repetition's value: the mean of this many renders in a row


def render(sizes: list[int], reps: int) -> dict:
    """Per size, `reps` values of ms per render, the sizes taking turns in every repetition
    (so a load burst hits them all alike); each value is the mean of RENDERS_PER_REP renders,
    long enough (10-20 ms) that one lost time slice does not make a repetition."""
    histories = {n: make_history(n) for n in sizes}
    for h in histories.values():
        render_once(h)
    ms: dict[int, list[float]] = {n: [] for n in sizes}
    for _ in range(reps):
        for n, h in histories.items():
            total = sum(render_once(h) for _ in range(RENDERS_PER_REP))
            ms[n].append(1e3 * total / RENDERS_PER_REP)
    return {str(n): {"ms": ms[n], "history_mb": h.nbytes / 2**20} for n, h in histories.items()}


# ----- opening a long run -----------------------------------------------------------------------
def write_long_run(runs_dir: Path, steps: int, last_loss: float) -> Path:
    from tuitrain.core.events import EpochEnd, RunEnded, RunStarted
    from tuitrain.core.presets import load_spec
    from tuitrain.core.rundir import RunDir

    spe = 1000
    spec = load_spec("mlp-digits", {"train.epochs": steps // spe, "train.log_every": 1})
    run = RunDir.create(runs_dir, spec)
    t = time.time() - steps / 1000
    run.append(
        RunStarted(
            run_id=run.id,
            preset=spec.name,
            framework="torch",
            device="cpu",
            device_name="CPU",
            precision="32",
            params=1,
            epochs=spec.train.epochs,
            steps_per_epoch=spe,
            batch_size=32,
            start_epoch=0,
            start_step=0,
            resumed=False,
            pid=1,
            versions={},
        )
    )
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(steps)
    with open(run.metrics, "a") as f:
        lines = []
        for g in range(1, steps + 1):
            loss = last_loss if g == steps else 1.0 + 0.5 * np.exp(-g / 2e5) + 0.01 * noise[g - 1]
            e, s = divmod(g - 1, spe)
            lines.append(
                f'{{"event": "batch", "time": {t + g / 1000:.4f}, "epoch": {e}, '
                f'"step": {s + 1}, "global_step": {g}, "metrics": {{"loss": {loss:.6f}, '
                f'"accuracy": 0.5}}, "lr": 0.001, "samples_per_sec": 32000.0}}\n'
            )
            if g % spe == 0:
                lines.append(
                    EpochEnd(
                        epoch=e,
                        global_step=g,
                        metrics={
                            "loss": 1.0,
                            "val_loss": 1.1,
                            "accuracy": 0.5,
                            "val_accuracy": 0.5,
                        },
                        seconds=1.0,
                        is_best=False,
                    ).to_json()
                    + "\n"
                )
            if len(lines) > 50_000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)
    run.append(RunEnded(status="completed", epochs_completed=spec.train.epochs, global_step=steps))
    run.write_summary(
        {
            "status": "completed",
            "framework": "torch",
            "epochs_completed": spec.train.epochs,
            "global_step": steps,
            "metrics": {},
        }
    )
    return run.path


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_run(path: Path, mark: bytes, timeout: float = 60.0) -> tuple[float, float]:
    from benchmarks.ptyterm import PtyProgram
    from benchmarks.ui_live import DECRQM_SYNC, SYNC_YES

    p = PtyProgram(
        [sys.executable, "-m", "tuitrain", "watch", str(path), "--runs-dir", str(path.parent)]
    )
    try:
        if p.wait_for(DECRQM_SYNC, 30) is not None:
            p.send(SYNC_YES)
        t = p.wait_for(mark, timeout)
        if t is None:
            raise RuntimeError(f"the loss plot never showed the last step ({mark!r})")
        return t, peak_rss_mb(p.pid)
    finally:
        p.close()


def open_figure(steps: int, reps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        big = write_long_run(Path(tmp, "a"), steps, 7.777)
        small = write_long_run(Path(tmp, "b"), 1000, 7.777)
        size_mb = (big / "metrics.jsonl").stat().st_size / 2**20
        mark = b"loss 7.777"
        t_big, t_small, rss = [], [], []
        for r in range(reps):
            for path in (big, small) if r % 2 == 0 else (small, big):
                t, peak = open_run(path, mark)
                if path is big:
                    t_big.append(t)
                    rss.append(peak)
                else:
                    t_small.append(t)
    return {
        "steps": steps,
        "log_mb": size_mb,
        "open_small_s": median(t_small),
        "t_big": t_big,
        "t_small": t_small,
        "rss_mb": rss,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("render", "open"))
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--steps", type=int, default=1_000_000)
    a = ap.parse_args()
    if a.mode == "render":
        emit(render([int(s) for s in a.sizes.split(",")], a.reps))
    else:
        emit(open_figure(a.steps, a.reps))


if __name__ == "__main__":
    main()
