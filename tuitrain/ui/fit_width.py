"""Fitting a line or a table row into a terminal's width by priority.

A line is made of pieces (the parts of a status line, the columns of a table), each with one
or more renderings, widest first. When the whole does not fit, the least important piece
gives way first: its narrower renderings in turn, then (if it may be dropped) the piece
itself, before the next piece is touched. Text that must still be shortened is cut at a
word boundary and marked with `…`, never in the middle of a word."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ELLIPSIS = "…"


@dataclass(frozen=True)
class Piece:
    """One part of a line: the widths of its renderings (widest first)."""

    widths: tuple[int, ...]
    droppable: bool = True


def fit_pieces(
    pieces: Mapping[str, Piece], order: Sequence[str], room: int, gap: int
) -> dict[str, int]:
    """The rendering (an index into its widths) of every piece shown in `room` cells with
    `gap` cells between neighbours (table columns: padding counted in their widths, gap 0);
    `order` lists the pieces that may give way, least important first. Pieces left out of
    the answer are dropped. When even the narrowest choice is too wide, that choice is
    returned and the caller shortens what is left."""
    chosen = dict.fromkeys(pieces, 0)

    def total() -> int:
        return sum(pieces[k].widths[i] + gap for k, i in chosen.items()) - gap

    for key in order:
        piece = pieces[key]
        while total() > room and chosen[key] + 1 < len(piece.widths):
            chosen[key] += 1
        if total() > room and piece.droppable:
            del chosen[key]
        if total() <= room:
            break
    return chosen


def shorten(text: str, width: int) -> str:
    """`text` in at most `width` cells: whole words and `…` when it has to be cut (a single
    word longer than the width is cut, as nothing else fits)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = text[: width - 1]
    cut = head.rfind(" ")
    if text[width - 1] != " " and cut > 0:  # the last word in `head` is cut: leave it out
        head = head[:cut]
    return head.rstrip(" ·,;:-") + ELLIPSIS
