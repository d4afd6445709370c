"""The `tuitrain` entry point: the dashboard by default, subcommands for headless work.
User errors print one line and exit 2; nothing here imports an ML framework up front. Output
piped into a reader that stops early (`head`, `grep -q`, `less`) ends quietly, for every
command, as it does for other Unix tools."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from tuitrain import __version__
from tuitrain.cli.options import add_node_options, add_runs_dir, add_spec_options, add_trust, trust
from tuitrain.core.errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (exit 2), like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def _handler(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def call(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(f"tuitrain.cli.{module}"), name)(args)

    return call


def build_parser() -> Parser:
    p = Parser(prog="tuitrain", description="Train neural networks from a terminal.")
    p.add_argument("--version", action="version", version=f"tuitrain {__version__}")
    p.add_argument("--preset", "-p", help="preset name or .toml path to pre-fill the setup screen")
    p.add_argument(
        "--start", action="store_true", help="start training at once and show the dashboard"
    )
    add_spec_options(p)
    add_runs_dir(p, top_level=True)
    p.set_defaults(func=_handler("app", "cmd_app"))
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    t = sub.add_parser("train", help="train a preset headless with a progress bar")
    t.add_argument("--preset", "-p", help="preset name or .toml path")
    t.add_argument("--detach", action="store_true",
                   help="start the run in the background and return at once")
    add_spec_options(t)
    add_node_options(t)
    add_runs_dir(t)
    t.set_defaults(func=_handler("train", "cmd_train"))

    r = sub.add_parser("resume", help="continue a stopped run from its last checkpoint")
    r.add_argument("run", help="run folder or run id")
    r.add_argument("--epochs", type=int, help="new total number of epochs")
    r.add_argument("--devices", help="devices to continue on (as train's --devices): the "
                   "global batch stays, and training continues mid-epoch")
    r.add_argument("--detach", action="store_true",
                   help="resume in the background and return at once")
    add_trust(r)
    add_node_options(r)
    add_runs_dir(r)
    r.set_defaults(func=_handler("train", "cmd_resume"))

    st = sub.add_parser("stop", help="stop a running run gracefully (checkpoint, `stopped`)")
    st.add_argument("run", help="run folder or run id")
    st.add_argument("--wait", type=float, default=60.0,
                    help="seconds to wait for it to end (default 60)")
    add_runs_dir(st)
    st.set_defaults(func=_handler("train", "cmd_stop"))

    lf = sub.add_parser("lr-find", help="the learning-rate range test: loss against the rate, "
                        "and a suggested rate")
    lf.add_argument("--preset", "-p", help="preset name or .toml path")
    lf.add_argument("--steps", type=int, default=200, help="steps of the test (default 200)")
    lf.add_argument("--start", type=float, default=1e-7, help="first rate (default 1e-7)")
    lf.add_argument("--end", type=float, default=10.0, help="last rate (default 10)")
    add_spec_options(lf)
    add_runs_dir(lf)
    lf.set_defaults(func=_handler("lr_find", "cmd_lr_find"))

    se = sub.add_parser(
        "set", help="change a running run: optimizer.lr, lr_scale, train.early_stopping, "
        "stop_after_epoch, checkpoint",
        epilog="optimizer.lr=V: a new base learning rate that the schedule scales from the "
        "next block on; lr_scale=F: a multiplier on the scheduled rate (1 = as scheduled); "
        "train.early_stopping=K: stop (completed) after K epochs without a better monitored "
        "value (0 = off); stop_after_epoch=true: stop gracefully when this epoch ends; "
        "checkpoint=now: save a checkpoint. Recorded in the run's log with the step, and "
        "carried in its checkpoints: they hold after a resume.")
    se.add_argument("run", help="run folder or run id")
    se.add_argument("settings", nargs="+", metavar="KEY=VALUE")
    se.add_argument("--wait", type=float, default=30.0,
                    help="seconds to wait for the runner to apply them (default 30)")
    add_runs_dir(se)
    se.set_defaults(func=_handler("live", "cmd_set"))

    e = sub.add_parser("eval", help="evaluate a run's best checkpoint on the test split")
    e.add_argument("run", help="run folder or run id")
    add_trust(e)
    add_runs_dir(e)
    e.set_defaults(func=_handler("evaluate", "cmd_eval"))

    x = sub.add_parser("export", help="write a run's best model in a serving format")
    x.add_argument("run", help="run folder or run id")
    x.add_argument(
        "--format",
        help="torch: torch-export (default), onnx; tensorflow/keras: keras (default), savedmodel",
    )
    x.add_argument("--output", "-o", help="file or folder to write (default: RUN/export/...)")
    add_trust(x)
    add_runs_dir(x)
    x.set_defaults(func=_handler("export", "cmd_export"))

    sm = sub.add_parser("sample", help="generate text from a character-level language model run")
    sm.add_argument("run", help="run folder or run id")
    sm.add_argument("--prompt", default="\n",
                    help="the text to continue (default: a new line)")
    sm.add_argument("--tokens", type=int, default=200,
                    help="characters to generate (default 200)")
    sm.add_argument("--temperature", type=float, default=0.8,
                    help="sampling temperature; 0 = always the most likely (default 0.8)")
    sm.add_argument("--seed", type=int, default=0, help="random seed of the draws (default 0)")
    add_runs_dir(sm)
    sm.set_defaults(func=_handler("sample", "cmd_sample"))

    c = sub.add_parser("compare", help="train one preset in several frameworks and compare")
    c.add_argument("--preset", "-p", required=True)
    c.add_argument("--frameworks", default="torch,tensorflow,keras")
    add_spec_options(c, framework=False)
    add_runs_dir(c)
    c.set_defaults(func=_handler("train", "cmd_compare"))

    _queue_parsers(sub)
    _sweep_parsers(sub)

    ls = sub.add_parser(
        "runs", help="list runs; --filter, --sort",
        epilog="Filter words, all of which must hold: KEY=VALUE (* matches anything), "
        "KEY!=VALUE, KEY~TEXT (contains), KEY>N, KEY<N, KEY>=N, KEY<=N (best, epochs, "
        "alerts), or a bare word that a column contains. Keys: id, preset, framework, status, "
        "epochs, best, device, started, tag, note, sweep, alerts, error. Sort: a key, - "
        "before it for descending (-best: the highest main metric first).")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--filter", metavar="'KEY=VALUE ...'",
                    help="e.g. 'preset=cnn-digits status=completed tag=baseline best>0.9'")
    ls.add_argument("--sort", metavar="[-]KEY", help="e.g. -best, started, preset")
    add_runs_dir(ls)
    ls.set_defaults(func=_handler("listing", "cmd_runs"))

    tg = sub.add_parser("tag", help="tag a run (runs --filter tag=NAME finds it)")
    tg.add_argument("run", help="run folder or run id")
    tg.add_argument("names", nargs="+", metavar="NAME")
    tg.add_argument("--remove", action="store_true", help="take these tags off")
    add_runs_dir(tg)
    tg.set_defaults(func=_handler("listing", "cmd_tag"))

    nt = sub.add_parser("note", help="a one-line note on a run (empty: clear it)")
    nt.add_argument("run", help="run folder or run id")
    nt.add_argument("text", nargs="*", metavar="TEXT")
    add_runs_dir(nt)
    nt.set_defaults(func=_handler("listing", "cmd_note"))

    pr = sub.add_parser(
        "presets",
        help="list presets",
        epilog=(
            "optimizer.weight_decay is decoupled in every optimizer and framework: each step "
            "multiplies every weight by (1 - lr * weight_decay) before the update, as Keras and "
            "AdamW do (never an L2 term in the gradient), so adam with weight_decay is adamw."
        ),
    )
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=_handler("listing", "cmd_presets"))

    d = sub.add_parser("devices", help="list the devices each installed framework sees")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_handler("listing", "cmd_devices"))

    s = sub.add_parser("summary", help="print a preset's model summary (shapes, parameters)")
    s.add_argument("--preset", "-p")
    add_spec_options(s)
    s.set_defaults(func=_handler("listing", "cmd_summary"))

    rr = sub.add_parser("report", help="a Markdown report of runs, side by side, with SVG "
                        "charts")
    rr.add_argument("runs", nargs="+", metavar="RUN", help="run folders or run ids")
    rr.add_argument("--out", "-o", type=Path, default=Path("report.md"),
                    help="the report (default report.md); its charts go in OUT_files/")
    add_runs_dir(rr)
    rr.set_defaults(func=_handler("report", "cmd_report"))

    rp = sub.add_parser("reproduce", help="print the commands that make a run again")
    rp.add_argument("run", help="run folder or run id")
    add_runs_dir(rp)
    rp.set_defaults(func=_handler("reproduce", "cmd_reproduce"))

    w = sub.add_parser("watch", help="open the dashboard on a run, live or finished")
    w.add_argument("run", help="run folder or run id")
    add_runs_dir(w)
    w.set_defaults(func=_handler("app", "cmd_watch"))
    return p


def _queue_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    q = sub.add_parser("queue", help="the run queue: list it, or add, rm, wait (see -h)",
                       description="Runs wait in the queue until their devices are free, at "
                       "most --max-parallel at a time; a scheduler process starts them.")
    q.add_argument("--all", action="store_true", help="list ended entries too")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_handler("queue", "cmd_list"))
    qs = q.add_subparsers(dest="queue_command", parser_class=Parser, metavar="ACTION")
    a = qs.add_parser("add", help="queue a run: the same options as `train`")
    a.add_argument("--preset", "-p", help="preset name or .toml path")
    a.add_argument("--max-parallel", type=int, metavar="K",
                   help="runs the queue trains at once, from now on (default 1)")
    add_spec_options(a)
    add_runs_dir(a)
    a.set_defaults(func=_handler("queue", "cmd_add"))
    rm = qs.add_parser("rm", help="take queued entries off the queue (their folders go too)")
    rm.add_argument("ids", nargs="+", metavar="ID", help="entry numbers, as `tuitrain queue` shows")
    rm.set_defaults(func=_handler("queue", "cmd_rm"))
    w = qs.add_parser("wait", help="block until nothing is queued or running (for scripts)")
    w.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds (exit 124)")
    w.set_defaults(func=_handler("queue", "cmd_wait"))


def _sweep_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    sw = sub.add_parser(
        "sweep", help="search settings: each trial a queued run (see -h); show, resume",
        description="Grid or random search over any preset keys; each trial is a queued run "
        "tagged with the sweep. `tuitrain sweep show ID`, `tuitrain sweep resume ID`.")
    sw.add_argument("--preset", "-p", help="preset name or .toml path")
    g = sw.add_argument_group("the search")
    g.add_argument("--grid", metavar="'KEY=V1,V2 ...'",
                   help="every combination, e.g. 'optimizer.lr=1e-3,3e-3 train.batch_size=32,64'")
    g.add_argument("--random", type=int, metavar="N", help="N trials drawn from the --param's")
    g.add_argument("--param", action="append", default=[], metavar="'KEY=DIST(ARGS)'",
                   help="loguniform(LOW,HIGH), uniform(LOW,HIGH), int(LOW,HIGH) or "
                   "choice(A,B,...), e.g. 'optimizer.lr=loguniform(1e-4,1e-2)'")
    g.add_argument("--search-seed", type=int, default=0,
                   help="seed of the random draws (default 0)")
    g.add_argument("--prune", choices=("median",),
                   help="stop trials early: median = from epoch 2, a trial whose best so far "
                   "is worse than the median of the others' at that epoch (3 or more)")
    g.add_argument("--keep-checkpoints", type=int, default=1, metavar="N",
                   help="checkpoints each trial keeps: the last N and the best (default 1)")
    g.add_argument("--disk-budget", metavar="SIZE",
                   help="most the sweep's checkpoints may take, e.g. 50G: the oldest "
                   "checkpoints that are not a trial's best go first")
    g.add_argument("--max-parallel", type=int, metavar="K",
                   help="runs the queue trains at once, from now on")
    g.add_argument("--on", choices=("local", "slurm"), default="local",
                   help="local: this machine's run queue (default); slurm: a SLURM job "
                   "array, one task a trial (see README: Running on a shared GPU server)")
    g.add_argument("--sbatch", metavar="'OPTIONS'",
                   help="more sbatch options with --on slurm, e.g. --sbatch '--partition=gpu "
                   "--gres=gpu:1 --time=04:00:00'")
    add_spec_options(sw)
    add_runs_dir(sw)
    sw.set_defaults(func=_handler("sweep", "cmd_sweep"))
    ss = sw.add_subparsers(dest="sweep_command", parser_class=Parser, metavar="ACTION")
    show = ss.add_parser("show", help="a sweep's trials, best first, with their settings")
    show.add_argument("sweep", help="sweep id or a unique part of one")
    show.add_argument("--json", action="store_true")
    add_runs_dir(show)
    show.set_defaults(func=_handler("sweep", "cmd_show"))
    res = ss.add_parser("resume", help="queue the trials not yet finished (interrupted ones "
                        "from their checkpoint)")
    res.add_argument("sweep", help="sweep id or a unique part of one")
    add_runs_dir(res)
    res.set_defaults(func=_handler("sweep", "cmd_resume"))
    task = ss.add_parser("task", help="run trial N in the foreground (what a SLURM array "
                         "task runs)")
    task.add_argument("sweep", help="sweep id")
    task.add_argument("trial", type=int, metavar="N", help="the trial's number, from 0")
    add_runs_dir(task)
    task.set_defaults(func=_handler("sweep", "cmd_task"))


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:  # a reader that has gone shows here, not in the flush at exit
            sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()


DASH_VALUES = ("--sort", "--sbatch")  # options whose value may start with "-": `--sort -best`


def _joined(argv: list[str]) -> list[str]:
    """`--sort -best` as `--sort=-best`: argparse takes a value that starts with `-` for an
    option of its own."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in DASH_VALUES and arg.startswith("-"):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _run(argv: list[str] | None) -> int:
    try:
        argv = _joined(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        args.argv = argv  # as typed: a sweep keeps it
        trust(args)
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"tuitrain: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _reader_gone() -> int:
    """The pipe's reader closed it: stop writing, without a traceback, and exit as a Unix
    tool killed by SIGPIPE does (the shell shows 141). The recipe of Python's `signal` docs:
    point the output at /dev/null, or the interpreter's own flush at exit fails again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # a stream without a file descriptor: nothing to flush
            continue
    os.close(devnull)
    return 128 + signal.SIGPIPE
