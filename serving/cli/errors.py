"""One place that turns user errors into a clean message and exit code 2; anything else is a
bug and keeps its traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer

from rag.errors import LoreError
from serving.foundation.errors import InkwellError

# The standalone packages' bases beside Inkwell's own. stylometry is heavy to import, and an
# exception of its type can only exist once it is imported, so it is looked up, not imported.
_LAZY_BASES = (("stylometry.text", "StyleInputError"),)


def user_error_types() -> tuple[type[BaseException], ...]:
    lazy = [
        getattr(sys.modules[module], name) for module, name in _LAZY_BASES if module in sys.modules
    ]
    return (InkwellError, LoreError, *lazy)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print `error: <message>` on stderr and exit 2 instead of a traceback."""
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, user_error_types()):
            raise
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from exc
