"""The wheel carries the presets: a non-editable install must find every shipped preset."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, SHIPPED_PRESETS

pytest.importorskip("hatchling")

BUILD = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("wheel")
    out = subprocess.run(
        [sys.executable, "-c", BUILD, str(out_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return out_dir / out.stdout.strip().splitlines()[-1]


def test_wheel_contains_every_preset(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [p for p in SHIPPED_PRESETS if f"tuitrain/presets/{p}.toml" not in names]
    assert not missing, missing
    assert "tuitrain/ui/tuitrain.tcss" in names


def test_installed_layout_finds_presets(wheel: Path, tmp_path: Path) -> None:
    """Import from the unpacked wheel alone: `builtin_dir()` is the packaged folder."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import json; from tuitrain.core.presets import builtin_dir, discover; "
        "print(json.dumps([str(builtin_dir()), sorted(discover())]))"
    )
    env = {
        "PYTHONPATH": str(site),
        "PATH": "/usr/bin:/bin",
        "TUITRAIN_PRESETS_DIR": str(tmp_path / "none"),
    }
    res = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    folder, names = json.loads(res.stdout)
    assert folder.startswith(str(site))
    assert names == SHIPPED_PRESETS
