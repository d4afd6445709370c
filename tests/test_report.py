"""`tuitrain report` (core/report.py, core/svg_chart.py): a Markdown report of runs side by
side whose SVG charts parse and hold one path per curve, with the confusion matrix from
`tuitrain eval`, alerts and live changes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import assert_one_line_error, run_cli
from fake_runs import T0, write_run

from tuitrain.core.events import Alert, SettingChanged
from tuitrain.core.report import write_report
from tuitrain.core.svg_chart import Series, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def curves(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [p for p in root.iter(f"{SVG}path") if p.get("class") == "curve"]


def test_a_chart_has_one_path_per_curve_and_skips_what_has_no_points() -> None:
    svg = line_chart("loss", [Series("a", (1, 2, 3), (0.5, 0.4, 0.35)),
                              Series("b", (1, 2), (0.6, float("nan"))),
                              Series("empty", (), ())])
    paths = curves(svg)
    assert len(paths) == 2
    assert paths[0].get("d", "").startswith("M") and paths[0].get("d", "").count("L") == 2
    assert paths[1].get("d", "").count("L") == 0  # its NaN is left out
    empty = ET.fromstring(line_chart("lr", []))
    assert [t.text for t in empty.iter(f"{SVG}text")][-1] == "no data"


def test_a_report_of_two_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    a = write_run(runs, "20260101-000000-mlp-moons-torch")
    b = write_run(runs, "20260101-000500-mlp-moons-keras", framework="keras", shift=0.1)
    a.append(Alert(alert="stalled", message="val_accuracy has not improved", epoch=3,
                   global_step=160, time=T0 + 30))
    b.append(SettingChanged(key="lr_scale", value=0.5, previous=1.0, epoch=2, global_step=90,
                            time=T0 + 40))
    (a.path / "eval.json").write_text(json.dumps({
        "checkpoint": "ckpt-e0005.pt", "split": "test", "metrics": {"accuracy": 0.9},
        "class_names": ["0", "1"], "confusion": [[40, 5], [4, 41]]}))
    out = tmp_path / "share" / "report.md"
    written = write_report([a, b], out)
    text = out.read_text()
    assert written[0] == out and {p.name for p in written[1:]} == {"loss.svg", "metric.svg",
                                                                   "lr.svg"}
    assert "| framework | **torch** | **keras** |" in text  # what differs is bold
    assert "| preset | mlp-moons | mlp-moons |" in text
    assert "val_accuracy 0.9200 (epoch 5)" in text
    assert "![loss](report_files/loss.svg)" in text
    assert "| true \\ predicted | 0 | 1 |" in text and "| 0 | 40 | 5 |" in text
    assert "alert `stalled`: val_accuracy has not improved" in text
    assert "set `lr_scale` 1 -> 0.5" in text
    images = out.parent / "report_files"
    assert len(curves((images / "loss.svg").read_text())) == 4  # train and val, each run
    assert len(curves((images / "metric.svg").read_text())) == 2
    assert curves((images / "lr.svg").read_text()) == []  # these runs logged no rate


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("report", "nope", runs_dir=tmp_path), "no run 'nope'")
