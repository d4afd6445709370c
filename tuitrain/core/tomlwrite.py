"""A small TOML writer for the documents tuitrain writes (`config.toml`, user presets):
scalars, lists of scalars, tables, and lists of inline tables."""

from __future__ import annotations

import math
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def _string(s: str) -> str:
    """A TOML basic string. Not `json.dumps`: JSON writes characters beyond U+FFFF as
    surrogate-pair escapes, which TOML rejects. Text is kept as UTF-8; control characters
    are escaped; a lone surrogate (undecodable command-line bytes) becomes U+FFFD."""
    out = []
    for c in s:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < " " or c == "\x7f":
            out.append(f"\\u{ord(c):04x}")
        elif "\ud800" <= c <= "\udfff":
            out.append("\ufffd")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps(doc: dict[str, Any]) -> str:
    """Top-level scalars first, then one `[table]` per dict; lists of dicts one per line."""
    lines = [f"{k} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for name, table in doc.items():
        if not isinstance(table, dict):
            continue
        lines += ["", f"[{name}]"]
        for k, v in table.items():
            if v is None:
                continue
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                lines.append(f"{k} = [")
                lines += [f"  {_value(x)}," for x in v]
                lines.append("]")
            else:
                lines.append(f"{k} = {_value(v)}")
    return "\n".join(lines) + "\n"
