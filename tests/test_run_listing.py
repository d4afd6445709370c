"""Finding a run among many (core/run_listing.py, `tuitrain runs --filter --sort`, `tag`,
`note`): the filter language, sorting with missing values last, the index that re-reads only
changed summaries, and the CLI's one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli
from fake_runs import write_run

from tuitrain.core import run_listing
from tuitrain.core.errors import UserError
from tuitrain.core.run_listing import RunsIndex, matches, parse_filter, parse_sort, sort_rows
from tuitrain.core.run_meta import RunMeta, read_meta, write_meta

ROWS = [
    {"id": "a", "preset": "cnn-digits", "framework": "torch", "status": "completed",
     "epochs": "10/10", "best_value": 0.97, "tags": ["baseline"], "note": "", "sweep": "",
     "alerts": 0},
    {"id": "b", "preset": "cnn-digits", "framework": "keras", "status": "failed",
     "epochs": "3/10", "best_value": None, "tags": [], "note": "diverged", "sweep": "s1",
     "alerts": 2},
    {"id": "c", "preset": "mlp-moons", "framework": "torch", "status": "completed",
     "epochs": "5/5", "best_value": 0.91, "tags": ["baseline", "small"], "note": "",
     "sweep": "s1", "alerts": 0},
]


def ids(text: str) -> list[str]:
    terms = parse_filter(text)
    return [r["id"] for r in ROWS if matches(r, terms)]


@pytest.mark.parametrize(("text", "expected"), [
    ("preset=cnn-digits status=completed tag=baseline", ["a"]),
    ("preset=cnn*", ["a", "b"]),
    ("tag=baseline", ["a", "c"]),
    ("tag!=small", ["a", "b"]),
    ("framework!=torch", ["b"]),
    ("best>0.95", ["a"]),
    ("best<=0.91", ["c"]),
    ("epochs<5", ["b"]),
    ("alerts>0", ["b"]),
    ("note~diverg", ["b"]),
    ("sweep=s1", ["b", "c"]),
    ("MOONS", ["c"]),
    ("", ["a", "b", "c"]),
])
def test_filters(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


@pytest.mark.parametrize(("text", "needle"), [
    ("colour=red", "no column 'colour'; columns: id, preset"),
    ("preset>3", "> compares numbers: best, alerts, epochs"),
    ("best>high", "'high' is not a number"),
])
def test_bad_filters_are_one_line(text: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        parse_filter(text)


def test_sort_puts_missing_values_last_both_ways() -> None:
    assert [r["id"] for r in sort_rows(ROWS, *parse_sort("-best"))] == ["a", "c", "b"]
    assert [r["id"] for r in sort_rows(ROWS, *parse_sort("best"))] == ["c", "a", "b"]
    assert [r["id"] for r in sort_rows(ROWS, *parse_sort("-framework"))] == ["a", "c", "b"]
    with pytest.raises(UserError, match="sort 'size': no column 'size'"):
        parse_sort("size")


def test_the_index_reads_only_what_changed(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    first = write_run(runs, "20260101-000000-mlp-moons-torch")
    write_run(runs, "20260101-000100-mlp-moons-torch", status="stopped")
    (runs / "sweeps").mkdir()  # not a run folder
    index = RunsIndex(runs)
    assert [r["status"] for r in index.rows()] == ["completed", "stopped"]
    parsed: list[str] = []
    real = run_listing.run_row
    monkeypatch.setattr(run_listing, "run_row",
                        lambda run, *a: parsed.append(run.id) or real(run, *a))
    assert len(index.rows()) == 2 and parsed == []  # nothing changed: nothing parsed
    write_meta(first.path, RunMeta(tags=("baseline",)))
    summary = json.loads(first.summary_path.read_text())
    first.write_summary({**summary, "best_value": 0.5})
    stamp = first.summary_path.stat().st_mtime_ns + 10**9
    os.utime(first.summary_path, ns=(stamp, stamp))
    rows = index.rows()
    assert parsed == [first.id] and rows[0]["best_value"] == 0.5
    assert rows[0]["tags"] == ["baseline"]
    assert index.summary(first.id)["best_value"] == 0.5


def test_cli_filter_sort_tag_and_note(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "20260101-000000-mlp-moons-torch")
    write_run(runs, "20260101-000100-cnn-digits-keras", preset="cnn-digits", framework="keras",
              shift=0.2)
    out = run_cli("tag", "cnn-digits", "baseline", "v2", runs_dir=runs)
    assert out.returncode == 0 and "tags baseline, v2" in out.stdout
    assert run_cli("tag", "cnn-digits", "v2", "--remove", runs_dir=runs).returncode == 0
    assert read_meta(runs / "20260101-000100-cnn-digits-keras").tags == ("baseline",)
    assert run_cli("note", "mlp-moons", "first", "try", runs_dir=runs).returncode == 0
    listed = run_cli("runs", "--filter", "tag=baseline status=completed", "--sort", "-best",
                     runs_dir=runs).stdout
    assert "20260101-000100-cnn-digits-keras" in listed and "mlp-moons-torch" not in listed
    assert "baseline" in listed.splitlines()[1]
    rows = json.loads(run_cli("runs", "--json", "--sort", "-id", runs_dir=runs).stdout)
    assert [r["id"][:15] for r in rows] == ["20260101-000100", "20260101-000000"]
    assert rows[1]["note"] == "first try"
    assert "no runs in" in run_cli("runs", "--filter", "tag=nothing", runs_dir=runs).stdout
    assert_one_line_error(run_cli("runs", "--filter", "size>3", runs_dir=runs),
                          "no column 'size'")
    assert_one_line_error(run_cli("tag", "mlp-moons", "two words", runs_dir=runs),
                          "one word, no spaces or commas")
    assert_one_line_error(run_cli("tag", "nope", "x", runs_dir=runs), "no run 'nope'")
