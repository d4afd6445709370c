"""User-facing errors: one line that names what was wrong and what is valid (exit code 2)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


class UserError(Exception):
    """A mistake in what the person asked for. Printed as one line, never as a traceback."""

    exit_code = 2


def choices_error(what: str, value: object, valid: Iterable[str], where: str = "") -> UserError:
    """Build the standard "unknown X 'y'; valid: a, b, c" error."""
    prefix = f"{where}: " if where else ""
    listed = ", ".join(sorted(valid))
    return UserError(f"{prefix}unknown {what} {value!r}; valid: {listed}")


def one_line(exc: BaseException) -> str:
    """An exception's message (or its reason) on one line."""
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split()) or type(exc).__name__


@contextmanager
def reading(path: Path, hint: str = "") -> Iterator[None]:
    """Turn any failure while parsing `path` into a one-line UserError."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{path}: cannot read it ({one_line(exc)}){hint}") from None
