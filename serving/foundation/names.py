"""Names of adapters and runs: safe as one path component inside the workspace."""

from __future__ import annotations

import re

from serving.foundation.errors import WorkspaceError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def validate_name(name: str, what: str = "name") -> str:
    """No separators, no '..', no hidden files: a name can never leave its folder."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise WorkspaceError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' "
            "(no path separators, no '..', at most 128 characters)"
        )
    return name
