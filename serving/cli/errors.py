"""One place that turns library errors into a clean message and exit code 2."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

# Library errors that carry a user-facing message (ValueError subclasses by convention).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, PermissionError)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print `error: <message>` on stderr and exit 2 instead of a traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from exc
