"""Writes that either happen whole or not at all, so an interrupted run keeps the old file.
The one implementation every package but stylometry/ and rag/ (which import nothing of ours)
uses: temp file in the same folder, fsync, rename, fsync of the folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rag.durable import fsync

# Temp files are named .<name>.<random>.tmp next to their target.
TEMP_SUFFIX = ".tmp"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync(path.parent)


def fsync_tree(folder: Path) -> None:
    """Flush every file under `folder` (and the folders themselves) to disk, before a rename
    publishes it: libraries that write the files (peft, transformers) do not."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if (path.is_file() and not path.is_symlink()) or path.is_dir():
            fsync(path)
    fsync(folder)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
