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
from tuitrain.core.run_listing import RunsIndex, matches, parse_filter, parse_sort, sort_rows
from tuitrain.core.run_meta import read_meta, write_meta
from tuitrain.core.rundir import find_run
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
    rows = RunsIndex(runs_dir(args)).rows()
    if args.filter:
        terms = parse_filter(args.filter)
        rows = [r for r in rows if matches(r, terms)]
    if args.sort:
        rows = sort_rows(rows, *parse_sort(args.sort))
    if args.json:  # as the listing shows them (the index's own bookkeeping left out)
        print(json.dumps([{k: v for k, v in r.items() if k != "summary_status"} for r in rows],
                         indent=2))
        return 0
    if not rows:
        print(f"no runs in {runs_dir(args)}" + (f" match {args.filter!r}" if args.filter else ""))
        return 0
    keys = ["id", "preset", "framework", "status", "epochs", "best", "started"]
    keys += [k for k in ("tags", "sweep", "settings", "note") if any(r.get(k) for r in rows)]
    print(table(keys, [[cell(r, k) for k in keys] for r in rows]))
    for r in rows:
        if r["status"] == "damaged":
            print(f"{r['id']}: {r['error']}")
        elif r.get("alerts"):
            print(f"{r['id']}: ⚠ {r['last_alert']}")
    return 0


def cell(row: dict[str, Any], key: str) -> str:
    """A listing cell: tags joined, the status with `⚠N` for a run that raised alerts."""
    value = row.get(key, "")
    if key == "tags":
        return ",".join(value or [])
    if key == "status" and row.get("alerts"):
        return f"{value} ⚠{row['alerts']}"
    return str(value)


def cmd_tag(args: argparse.Namespace) -> int:
    """`tuitrain tag RUN NAME... [--remove]`."""
    run = find_run(args.run, runs_dir(args))
    for name in args.names:
        if not name or any(c.isspace() or c == "," for c in name):
            raise UserError(f"tag {name!r}: one word, no spaces or commas (e.g. baseline)")
    meta = read_meta(run.path)
    tags = [t for t in meta.tags if t not in args.names] if args.remove else (
        list(meta.tags) + [n for n in args.names if n not in meta.tags])
    write_meta(run.path, meta.with_changes(tags=tuple(tags)))
    print(f"{run.id}: tags " + (", ".join(tags) or "(none)"))
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    """`tuitrain note RUN TEXT` (an empty TEXT clears it)."""
    run = find_run(args.run, runs_dir(args))
    text = " ".join(" ".join(args.text).split())
    meta = read_meta(run.path)
    write_meta(run.path, meta.with_changes(note=text))
    print(f"{run.id}: " + (f"note {text!r}" if text else "note cleared"))
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
