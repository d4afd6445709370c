"""The import boundary (docs/architecture.md): the core, the CLI entry point and the backends
package import neither Textual nor an ML framework; a framework is imported only by `load()`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from conftest import REPO, cli_env, requires_torch, run_cli

HEAVY = ("textual", "torch", "tensorflow", "keras", "jax")
CORE_MODULES = sorted(
    f"tuitrain.core.{p.stem}"
    for p in (REPO / "tuitrain" / "core").glob("*.py")
    if p.stem != "__init__"
)
# Headless modules that must stay framework-free too (the CLI commands import lazily).
CLI_MODULES = [
    "tuitrain.cli.main",
    "tuitrain.cli.options",
    "tuitrain.cli.progress",
    "tuitrain.cli.train",
    "tuitrain.cli.listing",
    "tuitrain.cli.evaluate",
    "tuitrain.cli.sample",
    "tuitrain.cli.framework_noise",
    "tuitrain.cli.watch_lines",
    "tuitrain.cli.queue",
    "tuitrain.cli.sweep",
    "tuitrain.cli.live",
    "tuitrain.cli.reproduce",
    "tuitrain.cli.report",
    "tuitrain.cli.lr_find",
    "tuitrain.runner",
    "tuitrain.scheduler",
    "tuitrain.backends",
    "tuitrain.backends.base",
    "tuitrain.backends.probe",
    "tuitrain.backends.user_model",
]


def imported_after(code: str) -> list[str]:
    """Run `code` in a fresh interpreter; which heavy packages ended up in sys.modules."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_package_is_framework_free() -> None:
    assert imported_after("import tuitrain.core") == []


def test_every_core_module_is_framework_free() -> None:
    assert len(CORE_MODULES) > 10
    code = "\n".join(f"import {m}" for m in CORE_MODULES)
    assert imported_after(code) == []


def test_cli_and_runner_modules_are_framework_free() -> None:
    code = "\n".join(f"import {m}" for m in CLI_MODULES)
    code += "\nfrom tuitrain.cli.main import build_parser\nbuild_parser()"
    assert imported_after(code) == []


def test_backends_import_nothing_until_load() -> None:
    code = (
        "from tuitrain import backends\n"
        "assert backends.is_installed('torch') in (True, False)\n"
        "assert sorted(backends.MODULES) == ['keras', 'tensorflow', 'torch']"
    )
    assert imported_after(code) == []


def test_read_only_commands_import_no_framework() -> None:
    """`presets`, `summary` and `runs` answer without importing a framework."""
    code = (
        "import contextlib, io\n"
        "from tuitrain.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['presets', '--json']) == 0\n"
        "    assert main(['summary', '-p', 'cnn-digits']) == 0\n"
        "    assert main(['runs', '--runs-dir', '/nonexistent-runs-dir']) == 0\n"
    )
    assert imported_after(code) == []


@pytest.mark.torch
@requires_torch
def test_load_imports_exactly_its_framework() -> None:
    loaded = imported_after("from tuitrain import backends\nbackends.load('torch')")
    assert loaded == ["torch"]


def test_unknown_framework_is_a_user_error() -> None:
    from tuitrain import backends
    from tuitrain.core.errors import UserError

    with pytest.raises(UserError, match="unknown framework 'jax'; valid: keras, tensorflow, torch"):
        backends.load("jax")


def test_python_dash_m_help_and_version() -> None:
    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    for command in ("train", "resume", "eval", "sample", "compare", "runs", "presets", "devices"):
        assert command in out.stdout
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("tuitrain ")
    out = run_cli("train", "--help")
    assert out.returncode == 0 and "--preset" in out.stdout and "--set" in out.stdout


def _core_imports(module: Path) -> set[str]:
    """The core modules `module` imports anywhere in its body (in functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(), str(module))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found |= {n.split(".")[2] for n in names if n.startswith("tuitrain.core.")}
    return found & {p.stem for p in module.parent.glob("*.py")} - {"__init__", module.stem}


def test_core_modules_import_each_other_without_cycles() -> None:
    """Each core module depends only on modules below it, even through imports kept inside
    functions: `graphlib` finds any cycle."""
    folder = REPO / "tuitrain" / "core"
    graph = {p.stem: _core_imports(p) for p in folder.glob("*.py") if p.stem != "__init__"}
    assert "datasets" in graph["data"], "the graph misses imports"
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        pytest.fail(f"core modules import each other in a cycle: {' -> '.join(exc.args[1])}")
