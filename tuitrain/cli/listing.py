"""Read-only commands: `tuitrain presets`, `runs`, `devices` and `summary`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from tuitrain import backends
from tuitrain.backends import user_model
from tuitrain.cli.options import overrides, runs_dir
from tuitrain.core import devices, model_file, validate
from tuitrain.core.catalog import FRAMEWORKS
from tuitrain.core.datainfo import dataset_info
from tuitrain.core.errors import UserError
from tuitrain.core.presets import list_presets, load_spec
from tuitrain.core.rundir import list_runs
from tuitrain.core.runs_index import run_row
from tuitrain.core.spec import DataSpec
from tuitrain.core.validate import output_units


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header)] + [fmt.format(*r) for r in rows])


def preset_rows() -> list[dict[str, Any]]:
    out = []
    for p in list_presets():
        try:
            needs = dataset_info(DataSpec(p.dataset), task=p.task).needs_download  # type: ignore[arg-type]
        except UserError:
            needs = False
        out.append({"name": p.name, "task": p.task, "dataset": p.dataset, "needs_download": needs,
                    "description": p.description, "path": str(p.path)})
    return out


def cmd_presets(args: argparse.Namespace) -> int:
    rows = preset_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(table(["name", "task", "dataset", "description"],
                [[r["name"], r["task"],
                  r["dataset"] + (" (download)" if r["needs_download"] else ""),
                  r["description"]] for r in rows]))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    rows = [run_row(r) for r in list_runs(runs_dir(args))]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no runs in {runs_dir(args)}")
        return 0
    keys = ["id", "preset", "framework", "status", "epochs", "best", "started"]
    print(table(keys, [[str(r.get(k, "")) + (f" ⚠{r['alerts']}" if k == "status" and
                                             r.get("alerts") else "") for k in keys]
                       for r in rows]))
    for r in rows:
        if r["status"] == "damaged":
            print(f"{r['id']}: {r['error']}")
        elif r.get("alerts"):
            print(f"{r['id']}: ⚠ {r['last_alert']}")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    installed = [f for f in FRAMEWORKS if backends.is_installed(f)]
    results = devices.detect_all(tuple(installed)) if installed else []
    use = devices.gpu_use()
    if args.json:
        gpus = [{"number": c.number, **asdict(c.gpu), "busy": c.busy, "claimed_by": c.claimed_by}
                for c in use]
        print(json.dumps({"frameworks": results, "gpus": gpus}, indent=2))
        return 0
    for f in FRAMEWORKS:
        if f not in installed:
            print(f"{f}: not installed ({backends.INSTALL[f]})")
    for r in results:
        if r.get("error"):
            print(f"{r['framework']}: {r['error']}")
            continue
        version = ", ".join(f"{k} {v}" for k, v in r.get("versions", {}).items())
        print(f"{r['framework']} ({version}):")
        for d in r["devices"]:
            mem = ""
            if d["memory_total"]:
                mem = f"  {d['memory_free'] / 2**30:.1f}/{d['memory_total'] / 2**30:.1f} GiB free"
            print(f"  {d['id']:<8} {d['name']}{mem}")
    if use:
        print("GPUs as NVML sees them (where `auto` would place a run):")
        for c in use:
            print(f"  GPU {c.number:<3} {c.gpu.name}  {c.gpu.memory_text()}  "
                  f"{devices.use_line(c)}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    if not args.preset:
        raise UserError("summary needs --preset NAME or a .toml path")
    spec = load_spec(args.preset, overrides(args))
    info, summary = validate.check(spec)
    print(f"{spec.name}: {spec.description}")
    print(f"dataset {info.name}: {info.description} input {info.input_shape}, "
          f"{info.num_outputs} outputs")
    if summary is not None:
        print("\n".join(summary.lines()))
        return 0
    assert spec.model_file is not None
    missing = backends.not_installed(spec.run.framework, spec.run.keras_backend)
    if missing:
        raise UserError(missing)
    trainable, other = user_model.check(spec)
    shape = model_file.input_shape_for(spec.run.framework, info.input_shape)
    print(f"model: {spec.model_file.file}, build_model({shape}, {output_units(spec, info)}) "
          f"in {spec.run.framework}")
    print(f"total trainable params: {trainable:,}")
    if other:
        print(f"non-trainable params: {other:,}")
    return 0
