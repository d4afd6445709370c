"""Bulk reading of the batch lines in `metrics.jsonl`, without a `json.loads` per line.

A long run's log is almost all batch events, one per logged step, every one laid out alike
(the recorder writes `json.dumps` of a `BatchMetrics`, so the keys, their order and the
spacing never change within a run; only the numbers do). `parse_batches` takes many such lines
at once, checks that every line has exactly the first line's layout, and reads the numbers of
all lines together with numpy: a million-line log in about a second instead of five.

It never guesses. Every number must be a valid JSON number; each value is converted exactly
as `float()` would (Clinger's fast path where it is exact, `float()` itself otherwise). Any
line that does not match, and any value it cannot read exactly, makes it return None, and the
caller decodes those lines one by one as before. NaN and infinities (which `json.dumps`
writes as `NaN`, `Infinity`) also take that path. numpy is imported on first use, so the
module costs nothing at start-up."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

BATCH_PREFIX = b'{"event": "batch", '
NUMBER_CHARS = b"0123456789.eE+-"
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)')
_REQUIRED = ("time", "epoch", "step", "global_step", "lr", "samples_per_sec")
MAX_EXACT = 2**53  # integers up to this are exact in a float64 (Clinger's fast path)
POWERS = tuple(float(10**k) for k in range(23))  # exact in a float64

# A JSON number, as a state machine over character classes (run on all tokens at once).
# Classes: 0 '0', 1 '1'-'9', 2 '.', 3 'e'/'E', 4 '+', 5 '-', 6 anything else (ends it).
# States: 0 start, 1 after '-', 2 leading 0, 3 integer digits, 4 after '.', 5 fraction
# digits, 6 after 'e', 7 exponent sign, 8 exponent digits, 9 invalid, 10 complete.
_DEAD, _DONE = 9, 10
_TRANSITIONS = (
    # '0' 1-9 '.' 'e' '+' '-' end
    (2, 3, 9, 9, 9, 1, 9),    # 0 start
    (2, 3, 9, 9, 9, 9, 9),    # 1 after '-'
    (9, 9, 4, 6, 9, 9, 10),   # 2 leading 0
    (3, 3, 4, 6, 9, 9, 10),   # 3 integer digits
    (5, 5, 9, 9, 9, 9, 9),    # 4 after '.'
    (5, 5, 9, 6, 9, 9, 10),   # 5 fraction digits
    (8, 8, 9, 9, 7, 7, 9),    # 6 after 'e'
    (8, 8, 9, 9, 9, 9, 9),    # 7 exponent sign
    (8, 8, 9, 9, 9, 9, 10),   # 8 exponent digits
    (9, 9, 9, 9, 9, 9, 9),    # 9 invalid
    (9, 9, 9, 9, 9, 9, 10),   # 10 complete (what follows is masked as 'end')
)


@dataclass(frozen=True)
class BatchBlock:
    """The values of consecutive batch lines with one layout: `metrics` names the metric
    columns; `values` has one row per line: the metrics in that order, then lr and
    samples_per_sec (as the watcher's history takes them); `steps` holds each global_step."""

    metrics: tuple[str, ...]
    steps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class _Layout:
    skeleton: bytes  # the line without its number characters
    pieces: tuple[bytes, ...]  # the text around the values: before the first, between, after
    wanted: tuple[int, ...]  # value positions of global_step, metrics..., lr, samples_per_sec
    metrics: tuple[str, ...]


def _layout(line: bytes) -> _Layout | None:
    """The layout of one batch line, or None if it is not one this reader handles."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("event") != "batch":
        return None
    names: list[str] = []
    metrics: list[str] = []
    for key, value in raw.items():
        if key == "event":
            continue
        if key == "metrics" and isinstance(value, dict):
            for name, v in value.items():
                if not _is_number(v):
                    return None
                metrics.append(name)
                names.append(f"metrics.{name}")
        elif _is_number(value):
            names.append(key)
        else:
            return None
    if "metrics" not in raw or any(key not in names for key in _REQUIRED):
        return None
    pieces: list[bytes] = []
    position = 0
    for match in _TOKEN.finditer(line):
        if match.group(1) is not None:  # a number (strings are part of the pieces)
            pieces.append(line[position:match.start()])
            position = match.end()
    pieces.append(line[position:])
    # Every value is a number, and numbers are the only values: duplicate keys (JSON keeps
    # the last) or anything else leave counts that do not match.
    if len(pieces) - 1 != len(names):
        return None
    wanted = ("global_step", *(f"metrics.{m}" for m in metrics), "lr", "samples_per_sec")
    return _Layout(line.translate(None, NUMBER_CHARS), tuple(pieces),
                   tuple(names.index(w) for w in wanted), tuple(metrics))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_batches(block: bytes, count: int) -> BatchBlock | None:
    """`count` batch lines joined by newlines (no trailing newline), all laid out like the
    first; None if any line is laid out otherwise or holds a value not read exactly here."""
    if count < 1:
        return None
    import numpy as np

    end = block.find(b"\n")
    first = block if end < 0 else block[:end]
    layout = _layout(first)
    if layout is None:
        return None
    # Every line must be the first line with other numbers: same keys, order and spacing
    # (checked for all characters but the number ones here, and for those below).
    skeleton = block.translate(None, NUMBER_CHARS)
    size = len(layout.skeleton) + 1
    if (len(skeleton) != count * size - 1 or not skeleton.endswith(layout.skeleton)
            or skeleton.count(layout.skeleton + b"\n", 0, len(skeleton) - size + 1)
            != count - 1):
        return None
    chars = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(chars == 10)
    if len(newlines) != count - 1:
        return None
    line_starts = np.concatenate(([0], newlines + 1))
    line_ends = np.concatenate((newlines, [len(chars)]))
    # Walk the template over all lines at once: a piece of fixed text, a number, a piece...
    position = line_starts
    if not _piece_matches(chars, position, layout.pieces[0]):
        return None
    position = position + len(layout.pieces[0])
    table = np.empty((count, len(layout.wanted)))
    for index, piece in enumerate(layout.pieces[1:]):
        slot = layout.wanted.index(index) if index in layout.wanted else -1
        found = _numbers(chars, position, block, slot >= 0)
        if found is None:
            return None
        lengths, values = found
        if slot >= 0:
            table[:, slot] = values
        position = position + lengths
        if not _piece_matches(chars, position, piece):
            return None
        position = position + len(piece)
    if not np.array_equal(position, line_ends):
        return None
    return BatchBlock(layout.metrics, table[:, 0].copy(), table[:, 1:].copy())


def _piece_matches(chars: np.ndarray, starts: np.ndarray, piece: bytes) -> bool:
    """Whether every line has the piece's number characters (say the "1" of a "top1" key)
    where the piece begins at `starts`; its other characters are the skeleton's to check."""
    for offset, char in enumerate(piece):
        if char in NUMBER_CHARS and (chars.take(starts + offset, mode="clip") != char).any():
            return False
    return True


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Character classes (anything that cannot be in a number ends it); the state machine as
    one flat table indexed by 10 * state + class (holding 10 * the next state, so that a step
    is one add and one take); and which states (times 10) are inside the mantissa."""
    import numpy as np

    classes = np.full(256, 6, dtype=np.uint8)
    classes[ord("0")] = 0
    classes[ord("1"):ord("9") + 1] = 1
    classes[ord(".")] = 2
    classes[ord("e")] = classes[ord("E")] = 3
    classes[ord("+")] = 4
    classes[ord("-")] = 5
    moves = np.full((len(_TRANSITIONS), 10), _DEAD, dtype=np.uint8)
    moves[:, :7] = np.asarray(_TRANSITIONS, dtype=np.uint8)
    in_mantissa = np.zeros(10 * len(_TRANSITIONS), dtype=bool)
    in_mantissa[[20, 30, 50]] = True
    return classes, (moves * 10).ravel(), in_mantissa


def _numbers(chars: np.ndarray, starts: np.ndarray, block: bytes,
             convert: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The number at each of `starts` (it runs to the first character that cannot be in a
    number): (lengths, values as float64, each exactly `float(token)`; empty when not
    `convert`); None if one is not a JSON number."""
    import numpy as np

    classes, moves, in_mantissa_lut = _tables()
    first = int(starts[0])
    stop = first
    while stop < len(block) and block[stop] in NUMBER_CHARS:
        stop += 1
    width = stop - first + 4  # the first line's number, some room, and what ends it
    while True:  # wide enough to hold every number and the character after it
        columns = np.arange(width)[:, None]
        grid = chars.take(starts + columns, mode="clip")
        kinds = classes.take(grid)
        ended = kinds == 6
        if ended.any(axis=0).all():
            break
        if width >= 48:
            return None
        width = min(2 * width, 48)
    lengths = ended.argmax(axis=0)
    kinds[columns > lengths] = 6  # what follows a number is not part of it
    n = len(starts)
    state = np.zeros(n, dtype=np.uint8)  # 10 * the state
    if not convert:
        for j in range(width):
            state = moves.take(state + kinds[j])
        return (lengths, np.empty(0)) if (state == 10 * _DONE).all() else None
    states = np.empty((width, n), dtype=np.uint8)
    digit = grid.astype(np.int64) - ord("0")
    mantissa = np.zeros(n, dtype=np.int64)
    for j in range(width):
        state = moves.take(state + kinds[j])
        states[j] = state
        mantissa = np.where(in_mantissa_lut.take(state), mantissa * 10 + digit[j], mantissa)
    if not (state == 10 * _DONE).all():
        return None
    states //= 10
    in_mantissa_lut = in_mantissa_lut[::10]
    digits = in_mantissa_lut[states].sum(axis=0)  # an int64 holds 18 digits exactly
    fraction = (states == 5).sum(axis=0)
    is_float = ((kinds == 2) | (kinds == 3)).any(axis=0)  # '.' or exponent: JSON's float
    negative = grid[0] == ord("-")
    exponent = np.zeros(n, dtype=np.int64)
    exp_negative = np.zeros(n, dtype=bool)
    has_exponent = np.flatnonzero((kinds == 3).any(axis=0))
    if len(has_exponent):
        sub_states, sub_digit = states[:, has_exponent], digit[:, has_exponent]
        value = np.zeros(len(has_exponent), dtype=np.int64)
        for j in range(width):
            value = np.where(sub_states[j] == 8, np.minimum(value * 10 + sub_digit[j], 10_000),
                             value)
        exponent[has_exponent] = value
        exp_negative[has_exponent] = ((sub_states == 7) & (grid[:, has_exponent] == ord("-"))
                                      ).any(axis=0)
    power = np.where(exp_negative, -exponent, exponent) - fraction
    exact = (digits <= 18) & (mantissa < MAX_EXACT) & (np.abs(power) <= 22)
    tens = np.asarray(POWERS)[np.abs(np.where(exact, power, 0))]
    magnitude = mantissa.astype(np.float64)
    out = np.where(power >= 0, magnitude * tens, magnitude / tens)
    # "-0" is the integer 0 (no sign); "-0.0" is the float -0.0.
    out = np.where(negative & (is_float | (mantissa != 0)), -out, out)
    for i in np.flatnonzero(~exact):  # long mantissas, large exponents: float() itself
        start = int(starts[i])
        out[i] = float(block[start:start + int(lengths[i])])
    return lengths, out
