"""Options shared by subcommands: `--runs-dir` works before or after the subcommand."""

from __future__ import annotations

from pathlib import Path

from tuitrain.cli.main import build_parser


def test_runs_dir_before_the_subcommand_is_kept():
    args = build_parser().parse_args(["--runs-dir", "/tmp/a", "runs"])
    assert args.runs_dir == Path("/tmp/a")


def test_runs_dir_after_the_subcommand_wins():
    args = build_parser().parse_args(["--runs-dir", "/tmp/a", "train", "--runs-dir", "/tmp/b"])
    assert args.runs_dir == Path("/tmp/b")


def test_runs_dir_absent_falls_back_to_default():
    args = build_parser().parse_args(["runs"])
    assert args.runs_dir is None
