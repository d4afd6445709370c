"""User-facing errors: one line that names what was wrong and what is valid (exit code 2)."""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """A mistake in what the person asked for. Printed as one line, never as a traceback."""

    exit_code = 2


def choices_error(what: str, value: object, valid: Iterable[str], where: str = "") -> UserError:
    """Build the standard "unknown X 'y'; valid: a, b, c" error."""
    prefix = f"{where}: " if where else ""
    listed = ", ".join(sorted(valid))
    return UserError(f"{prefix}unknown {what} {value!r}; valid: {listed}")
