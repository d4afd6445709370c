"""Command-line options shared by `train`, `compare` and the dashboard launcher, and their
translation into preset overrides."""

from __future__ import annotations

import argparse
from pathlib import Path

from tuitrain.core import model_file
from tuitrain.core.catalog import FRAMEWORKS, KERAS_BACKENDS, PRECISIONS
from tuitrain.core.errors import UserError
from tuitrain.core.locations import default_runs_dir
from tuitrain.core.nodes import Nodes, parse_nodes
from tuitrain.core.presets import OPTION_KEYS, Overrides, parse_value


def add_runs_dir(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    """`--runs-dir`, accepted before or after the subcommand; the subcommand's copy leaves
    the value alone when absent, so `tuitrain --runs-dir X train ...` works too."""
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=None if top_level else argparse.SUPPRESS,
        help="folder of run folders (default: $TUITRAIN_RUNS_DIR or ./runs)",
    )


def runs_dir(args: argparse.Namespace) -> Path:
    return args.runs_dir or default_runs_dir()


def add_spec_options(parser: argparse.ArgumentParser, framework: bool = True) -> None:
    """Options that override a preset's defaults."""
    g = parser.add_argument_group("preset overrides")
    if framework:
        g.add_argument("--framework", "-f", choices=FRAMEWORKS, help="torch, tensorflow or keras")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument(
        "--auto-batch",
        action="store_true",
        default=None,
        help="on out of memory, retry once with half the batch",
    )
    g.add_argument("--lr", type=float, help="learning rate")
    g.add_argument("--loss")
    g.add_argument("--optimizer")
    g.add_argument("--schedule")
    g.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    g.add_argument(
        "--devices",
        help="how many devices train together (data parallel), or which: 2, all, 0,2,3 "
        "(one GPU: 3,); on the CPU, a number of processes",
    )
    g.add_argument("--seed", type=int)
    g.add_argument(
        "--data",
        help="built-in dataset name, or a .csv/.parquet/.npy/.npz file, image folder or text",
    )
    g.add_argument(
        "--target",
        help="a table's label column (default: the last), or a .npy file's labels (FILE.npy)",
    )
    g.add_argument("--precision", choices=PRECISIONS, help="32, bf16 or 16 (mixed precision)")
    g.add_argument("--keras-backend", choices=KERAS_BACKENDS, help="backend for --framework keras")
    g.add_argument(
        "--model",
        metavar="FILE.py",
        help="your own model: a file defining build_model(input_shape, num_outputs)",
    )
    g.add_argument(
        "--init-from",
        metavar="RUN|CHECKPOINT",
        help="start from another run's weights (same framework; matched by name and shape)",
    )
    g.add_argument(
        "--notify-cmd",
        metavar="'CMD'",
        help="run by the shell when the run ends or raises an alert, with TUITRAIN_RUN, "
        "TUITRAIN_STATUS and TUITRAIN_MESSAGE set (default: $TUITRAIN_NOTIFY_CMD)",
    )
    g.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="also write TensorBoard event files in RUN/tensorboard (pip install tensorboard)",
    )
    add_trust(g)
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any preset key, e.g. --set optimizer.momentum=0.9 --set data.target=price",
    )


def add_node_options(parser: argparse.ArgumentParser) -> None:
    """`--nodes`, `--node-rank`, `--master`: a run on several machines (PyTorch, TensorFlow)."""
    g = parser.add_argument_group("several machines (PyTorch; the same command on each)")
    g.add_argument("--nodes", type=int, metavar="N", help="machines that train the run together")
    g.add_argument("--node-rank", type=int, metavar="R",
                   help="this machine's number: 0 hosts the run, 1..N-1 join it")
    g.add_argument("--master", metavar="HOST:PORT",
                   help="node 0's address, as the other machines reach it (port default 29500)")


def nodes(args: argparse.Namespace) -> Nodes | None:
    return parse_nodes(args.nodes, args.node_rank, args.master)


def add_trust(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """`--trust-model-code`: a run's copy of a model file owned by another user may run."""
    parser.add_argument(
        "--trust-model-code",
        action="store_true",
        help="run a run's model file (code) even when another user owns it",
    )


def trust(args: argparse.Namespace) -> None:
    """Apply `--trust-model-code` to this process and those it starts."""
    if getattr(args, "trust_model_code", False):
        model_file.trust()


def overrides(args: argparse.Namespace) -> Overrides:
    """Dotted document keys from the short options and every --set (the later wins), each
    with the argument that set it, for errors."""
    out = Overrides()
    for option, key in OPTION_KEYS.items():
        value = getattr(args, option, None)
        if value is not None:
            flag = "--" + option.replace("_", "-")
            out.add(key, value, flag if isinstance(value, bool) else f"{flag} {value}")
    for item in getattr(args, "set", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.epochs=5")
        out.add(key.strip(), parse_value(value.strip()), f"--set {item}")
    return out
