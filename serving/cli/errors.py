"""One place that turns user errors into a clean message and exit code 2; anything else is a
bug and keeps its traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer

from rag.errors import LoreError
from serving.foundation.errors import InkwellError
from stylometry.text import StyleInputError

# Inkwell's own base, plus the bases of the two packages that import nothing of ours.
USER_ERRORS: tuple[type[BaseException], ...] = (InkwellError, LoreError, StyleInputError)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print `error: <message>` on stderr and exit 2 instead of a traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from exc
