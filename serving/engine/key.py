"""The engine's key: a random secret in `.inkwell/engine.key` (mode 0600) that vLLM requires on
every route but /health, so only Inkwell's own clients (the proxy, the CLI) can drive it; a
local process or a web page cannot load an adapter or bypass the proxy.

The file is created once, atomically and without clobbering (a temp file of mode 0600 linked
into place), so two commands starting at once agree on one key."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from rag.durable import fsync
from serving.foundation.errors import WorkspaceError
from serving.foundation.workspace import Workspace

KEY_FILE = "engine.key"


def engine_key_path(ws: Workspace) -> Path:
    return ws.state_dir / KEY_FILE


def read_engine_key(ws: Workspace) -> str | None:
    """The workspace's engine key, or None before any engine was started for it."""
    try:
        key = engine_key_path(ws).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    return key or None


def ensure_engine_key(ws: Workspace) -> str:
    """The workspace's engine key, created on first use."""
    key = read_engine_key(ws)
    if key is not None:
        return key
    write_engine_key(ws, secrets.token_urlsafe(32), replace=False)
    key = read_engine_key(ws)
    if key is None:
        raise WorkspaceError(f"{engine_key_path(ws)}: could not create the engine key")
    return key


def write_engine_key(ws: Workspace, key: str, *, replace: bool = True) -> None:
    """Store `key` (mode 0600); with replace=False an existing key is kept."""
    path = engine_key_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{KEY_FILE}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync(path.parent)
