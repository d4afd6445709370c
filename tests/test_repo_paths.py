"""Nothing in the repository refers to a path outside it: a person who clones it gets every
file a document or a test points to. Every tracked text file is checked: a `../` path must stay
inside the repository, and a Markdown link to a file must name one that is tracked."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

PARENT_PATH = re.compile(r"(?:\.\./)+[\w.\-/]*")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked() -> dict[Path, str]:
    """Every tracked file that is text, by path, with its text."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    names = (
        subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        )
        .stdout.decode()
        .split("\0")
    )
    files = {}
    for name in filter(None, names):
        path = REPO / name
        try:
            files[path] = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary, or deleted in the working tree
    return files


def inside(path: Path) -> bool:
    return path.resolve().is_relative_to(REPO.resolve())


def test_no_tracked_file_climbs_out_of_the_repository() -> None:
    files = tracked()
    assert REPO / "README.md" in files
    outside = [
        f"{path.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
        for path, text in files.items()
        for m in PARENT_PATH.finditer(text)
        if not inside(path.parent / m.group())
    ]
    assert not outside, outside


def test_markdown_links_point_to_tracked_files() -> None:
    files = tracked()
    broken = []
    for path, text in files.items():
        if path.suffix != ".md":
            continue
        for m in MARKDOWN_LINK.finditer(text):
            target = m.group(1).split("#")[0]
            if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):  # an anchor, a URL
                continue
            if (path.parent / target).resolve() not in {p.resolve() for p in files}:
                broken.append(f"{path.relative_to(REPO)}: {m.group(1)}")
    assert not broken, broken


def test_the_readme_links_the_architecture_document() -> None:
    assert "](docs/architecture.md)" in (REPO / "README.md").read_text(encoding="utf-8")
