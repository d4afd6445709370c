"""The `transformer-chars` preset end to end, a few steps in each framework tested: it trains
on the default corpus (the Python standard library's source), reports perplexity as e to
the loss, records its vocabulary and split, and `tuitrain sample` prints text from its best
checkpoint, the same for the same seed; every mistake is a one-line error with exit 2."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    assert_one_line_error,
    build_once,
    run_cli,
    run_folders,
    skip_unless_installed,
)

# A few steps: 160 windows of 32 characters (144 train, 8 val, 8 test), 9 batches of 16.
TINY = ("--epochs", "1", "--batch-size", "16", "--set", "data.samples=160",
        "--set", "data.block_size=32")  # fmt: skip
# Keras on its TensorFlow backend covers the Keras-family code the tensorflow backend shares.
FRAMEWORKS = ["torch", "keras"]


def _train(framework: str) -> Callable[[Path], None]:
    def build(runs: Path) -> None:
        out = run_cli("train", "-p", "transformer-chars", "-f", framework, *TINY,
                      runs_dir=runs, timeout=600)  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr

    return build


def _trained(framework: str, factory: pytest.TempPathFactory) -> Path:
    """The preset trained a few steps in `framework`, once per session."""
    skip_unless_installed(framework)
    runs = build_once(factory, f"transformer-chars-{framework}", _train(framework))
    (run,) = run_folders(runs)
    return run


@pytest.fixture(scope="module", params=FRAMEWORKS)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """For what does not depend on the framework: the mistakes refused before it loads."""
    return _trained("torch", tmp_path_factory)


def _sample(run: Path, *args: str) -> str:
    out = run_cli("sample", str(run), *args, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    return out.stdout


def test_it_reports_perplexity_as_e_to_the_loss_and_records_its_text(trained: Path) -> None:
    events = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    (epoch,) = [e for e in events if e["event"] == "epoch"]
    m = epoch["metrics"]
    assert m["val_perplexity"] == pytest.approx(math.exp(m["val_loss"]), rel=1e-5)
    assert m["perplexity"] == pytest.approx(math.exp(m["loss"]), rel=1e-5)  # summed, then e^
    assert 1 < m["val_perplexity"] < 200
    vocabulary = json.loads((trained / "preprocessing.json").read_text())["vocabulary"]
    assert vocabulary["split"] == {"seed": 0, "train": 144, "val": 8, "test": 8}
    assert vocabulary["block_size"] == 32 and "standard library" in vocabulary["source"]
    assert {"d", "e", "f", " "} <= set(vocabulary["chars"])


def test_sample_prints_the_prompt_continued_the_same_for_the_same_seed(trained: Path) -> None:
    hot = ("--prompt", "def ", "--tokens", "40", "--temperature", "3")  # a few steps: flatten
    first = _sample(trained, *hot, "--seed", "3")
    assert first.startswith("def ") and len(first) == len("def ") + 40 + 1  # and print's \n
    assert _sample(trained, *hot, "--seed", "3") == first
    assert _sample(trained, *hot, "--seed", "4") != first
    greedy = _sample(trained, "--prompt", "import", "--tokens", "70", "--temperature", "0")
    assert greedy.startswith("import") and len(greedy) == len("import") + 70 + 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "def €"], "--prompt: '€' is not in the run's vocabulary ("),
        (["--tokens", "0"], "--tokens must be in [1, 100000], got 0"),
        (["--tokens", "abc"], "argument --tokens: invalid int value: 'abc'"),
        (["--temperature", "-1"], "--temperature must be a number >= 0"),
        (["--temperature", "nan"], "--temperature must be a number >= 0"),
        (["--seed", "-2"], "--seed must be in [0, 2**32), got -2"),
        (["--prompt", ""], "--prompt must not be empty"),
    ],
)
def test_bad_sample_arguments_are_one_line_errors(
    torch_run: Path, args: list[str], message: str
) -> None:
    assert_one_line_error(run_cli("sample", str(torch_run), *args), message)


def test_sample_needs_a_text_run_with_a_checkpoint(torch_run: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("sample", "no-such-run", runs_dir=tmp_path), "no run 'no-such-run'"
    )
    bare = tmp_path / "bare"
    shutil.copytree(torch_run, bare, ignore=shutil.ignore_patterns("runner.lock"))
    shutil.rmtree(bare / "checkpoints")
    assert_one_line_error(run_cli("sample", str(bare)), "no complete checkpoint to sample from")
    other = tmp_path / "other"
    shutil.copytree(torch_run, other, ignore=shutil.ignore_patterns("runner.lock"))
    (other / "preprocessing.json").write_text('{"inputs": null, "targets": null}')
    assert_one_line_error(run_cli("sample", str(other)), "not a run on text")
