"""The one base of the errors a user can fix: the CLI prints these as messages; any other
exception is a bug and keeps its traceback. Each package has its subclasses."""

from __future__ import annotations


class InkwellError(ValueError):
    """Bad input or state the user can fix; the message names the file, key or value."""


class WorkspaceError(InkwellError):
    """A workspace that cannot be used, or a path or name that would leave it."""
