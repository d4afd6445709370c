"""Framework-neutral shape inference and parameter counts: the model summary, walking the
layer tree with each type's own inference from the registry (core/layers.py).

The UI shows it without importing a framework, validation uses it to reject layer stacks
that cannot connect, and the backend tests check every framework builds the same counts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

from tuitrain.core.errors import UserError
from tuitrain.core.layers import LAYER_TYPES, Context, LayerSpec, Shape


@dataclass(frozen=True)
class LayerRow:
    """One line of the summary; a layer that nests has the rows of its layers as children."""

    path: tuple[int, ...]  # indexes from the top: (2, 0) is model.layers[2].layers[0]
    type: str
    input_shape: Shape
    output_shape: Shape
    params: int  # this layer's own, not counting its children's
    non_trainable: int = 0
    torch_extra: int = 0
    note: str = ""
    children: tuple[LayerRow, ...] = ()

    @property
    def index(self) -> int:
        return self.path[-1]

    @property
    def depth(self) -> int:
        return len(self.path) - 1

    @property
    def label(self) -> str:
        return f"{self.type}_{'.'.join(map(str, self.path))}"

    def walk(self) -> Iterator[LayerRow]:
        """This row, then its children's rows, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def total(self) -> int:
        """The parameters of this layer and of everything nested in it."""
        return sum(r.params for r in self.walk())


@dataclass(frozen=True)
class TableLine:
    """One line of the summary table: the header, a layer's line, or a note under one."""

    kind: Literal["header", "layer", "note"]
    text: str


def _branches(
    rows: tuple[LayerRow, ...], lead: str, nested: bool
) -> Iterator[tuple[str, str, LayerRow]]:
    """Each row, depth first, with the tree glyphs before its label (none at the top level;
    `├─ `, or `└─ ` for a block's last layer) and those that carry the tree on through the
    lines under it, its note's and its children's."""
    for i, row in enumerate(rows):
        last = i == len(rows) - 1
        branch = lead + ("└─ " if last else "├─ ") if nested else ""
        under = lead + ("   " if last else "│  ") if nested else ""
        yield branch, under, row
        yield from _branches(row.children, under, nested=True)


@dataclass(frozen=True)
class Summary:
    """The top-level rows (each with its nested ones) plus totals; `torch_params` differs from
    `params` only for LSTMs."""

    input_shape: Shape
    rows: tuple[LayerRow, ...]

    def walk(self) -> Iterator[LayerRow]:
        """Every row, nested ones after the row holding them."""
        for row in self.rows:
            yield from row.walk()

    @property
    def params(self) -> int:
        return sum(r.params for r in self.walk())

    @property
    def non_trainable(self) -> int:
        return sum(r.non_trainable for r in self.walk())

    @property
    def torch_params(self) -> int:
        """PyTorch's LSTM carries a second bias vector (4 x units more per layer)."""
        return self.params + sum(r.torch_extra for r in self.walk())

    def frozen(self, indexes: frozenset[int]) -> Summary:
        """The summary with the top-level layers at `indexes` (and what they hold) frozen:
        their parameters counted as non-trainable (`train.freeze`)."""
        rows = tuple(_freeze(r) if r.index in indexes else r for r in self.rows)
        return Summary(self.input_shape, rows)

    def params_for(self, framework: str) -> int:
        return self.torch_params if framework == "torch" else self.params

    def table(self) -> list[TableLine]:
        """The layers as a tree in aligned columns (layer, output shape, params), as the
        setup screen and `tuitrain summary` show them: the header, the input, a line per
        layer with nested ones on tree branches under their block, and a note line under a
        layer that has a note. A block's params are its whole subtree's; its note says how
        many are its own (a projection shortcut, a tied table)."""
        branches = list(_branches(self.rows, "", nested=False))
        labels = [branch + row.label for branch, _, row in branches]
        shapes = [str(row.output_shape) for _, _, row in branches]
        counts = [f"{row.total:,}" for _, _, row in branches]
        w = max(len(x) for x in ("layer", "input", *labels))
        s = max(len(x) for x in ("output shape", str(self.input_shape), *shapes))
        p = max(len(x) for x in ("params", *counts))
        out = [
            TableLine("header", f"{'layer':<{w}}  {'output shape':<{s}}  {'params':>{p}}"),
            TableLine("layer", f"{'input':<{w}}  {self.input_shape!s}"),
        ]
        for (_, under, row), label, shape, count in zip(
            branches, labels, shapes, counts, strict=True
        ):
            out.append(TableLine("layer", f"{label:<{w}}  {shape:<{s}}  {count:>{p}}"))
            if row.note:
                own = f", {row.params:,} params" if row.children and row.params else ""
                stem = "│  " if row.children else "   "
                out.append(TableLine("note", f"{under}{stem}{row.note}{own}"))
        return out

    def lines(self) -> list[str]:
        """The summary as plain text, as `tuitrain summary` prints it: the table, totals."""
        out = [line.text for line in self.table()]
        out.append(f"total trainable params: {self.params:,}")
        if self.non_trainable:
            out.append(f"non-trainable params: {self.non_trainable:,}")
        if self.torch_params != self.params:
            out.append(f"PyTorch: {self.torch_params:,} (its LSTM has a second bias vector)")
        return out


def _freeze(row: LayerRow) -> LayerRow:
    return replace(
        row,
        params=0,
        non_trainable=row.non_trainable + row.params,
        torch_extra=0,
        note=" ".join(filter(None, ("frozen", row.note))),
        children=tuple(_freeze(c) for c in row.children),
    )


def layer_label(path: tuple[int, ...]) -> str:
    """Where a layer sits in the preset: `model.layers[2].layers[0]`."""
    return "model" + "".join(f".layers[{i}]" for i in path)


def _rows(
    layers: tuple[LayerSpec, ...], shape: Shape, num_outputs: int, parent: tuple[int, ...]
) -> tuple[tuple[LayerRow, ...], Shape]:
    """The rows of a list of layers applied in order from `shape`, and the shape they end in."""
    rows = []
    for i, layer in enumerate(layers):
        path = (*parent, i)
        children: list[LayerRow] = []

        def walk(
            inner: tuple[LayerSpec, ...],
            start: Shape,
            path: tuple[int, ...] = path,
            children: list[LayerRow] = children,
        ) -> Shape:
            found, end = _rows(inner, start, num_outputs, path)
            children.extend(found)
            return end

        try:
            got = LAYER_TYPES[layer.type].infer(layer, shape, Context(num_outputs, walk))
        except ValueError as exc:
            raise UserError(f"{layer_label(path)} ({layer.type}): {exc}") from None
        rows.append(
            LayerRow(
                path,
                layer.type,
                shape,
                got.shape,
                got.params,
                got.non_trainable,
                got.torch_extra,
                got.note,
                tuple(children),
            )
        )
        shape = got.shape
    return tuple(rows), shape


def summarize(layers: tuple[LayerSpec, ...], input_shape: Shape, num_outputs: int) -> Summary:
    """Infer every layer's output shape and parameter count (nested layers too); a mismatch
    names the layer."""
    rows, _ = _rows(layers, tuple(input_shape), num_outputs, ())
    return Summary(tuple(input_shape), rows)


def output_needed(expected: int, loss: str, positions: tuple[int, ...] = ()) -> Shape:
    """The output shape per sample that the loss needs (see `check_output`)."""
    return (*positions, 1 if loss == "binary_cross_entropy" else expected)


def check_output(
    summary: Summary, expected: int, loss: str, positions: tuple[int, ...] = ()
) -> None:
    """The last layer must produce what the loss needs: `expected` outputs per sample, or at
    each of `positions` when the data is labelled per position."""
    want = output_needed(expected, loss, positions)
    got = summary.rows[-1].output_shape if summary.rows else summary.input_shape
    if got != want:
        raise UserError(
            f"{layer_label(summary.rows[-1].path)} ({summary.rows[-1].type}): the model ends in "
            f"shape {got} but loss {loss!r} on this dataset needs {want}; "
            'set the last dense layer\'s units to "auto"'
        )
