"""A published generation's serving tables (chunk texts, entries, vectors) in two plain files
beside Chroma's own, so a proxy opens 10,000 chunks in milliseconds where reading every chunk
back through Chroma's get() takes seconds.

The files are derived, never the source: they are written once per generation (at ingest, or
by the first reader of a generation that has none), published with one directory rename, and
a file that is missing, damaged or does not match its generation is ignored and written
again from Chroma. Generations are never modified, so the files cannot go stale."""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from rag.durable import fsync

log = logging.getLogger("inkwell.rag")

TABLES_DIR = "inkwell-tables"
FORMAT = 1
_VECTORS = "vectors.npy"
_CHUNKS = "chunks.json"
SCRATCH_MAX_AGE_S = 3600


@dataclass(frozen=True)
class TableRow:
    """One chunk; `entry` (the entry as indexed, JSON) rides on each entry's first chunk."""

    entry_id: str
    index: int
    document: str
    entry: str | None


@dataclass(frozen=True)
class Tables:
    rows: list[TableRow]
    matrix: np.ndarray  # row i is the unit vector of rows[i] (memory-mapped, read-only)


def tables_dir(root: Path, collection: str) -> Path:
    return root / TABLES_DIR / collection


def write_tables(
    root: Path, collection: str, model: str, rows: Iterable[TableRow], matrix: np.ndarray
) -> None:
    """Write a generation's tables (a no-op when another writer got there first)."""
    target = tables_dir(root, collection)
    if target.is_dir():
        return
    rows = list(rows)
    if matrix.shape[0] != len(rows):
        raise ValueError(f"{len(rows)} chunks but {matrix.shape[0]} vectors")
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".{collection}.{uuid.uuid4().hex[:8]}.tmp"
    scratch.mkdir()
    try:
        np.save(scratch / _VECTORS, np.ascontiguousarray(matrix, dtype=np.float32))
        header = {"format": FORMAT, "collection": collection, "model": model, "count": len(rows)}
        table = [[r.entry_id, r.index, r.document, r.entry] for r in rows]
        (scratch / _CHUNKS).write_bytes(orjson.dumps({**header, "rows": table}))
        for name in (_VECTORS, _CHUNKS):
            fsync(scratch / name)
        os.rename(scratch, target)
        fsync(target.parent)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def read_tables(root: Path, collection: str, model: str, count: int) -> Tables | None:
    """The generation's tables, or None where they are missing or do not match it."""
    folder = tables_dir(root, collection)
    try:
        data = orjson.loads((folder / _CHUNKS).read_bytes())
        # A plain array over the mapping: products with a np.memmap come back as memmaps,
        # each paying the subclass's bookkeeping.
        matrix = np.asarray(np.load(folder / _VECTORS, mmap_mode="r", allow_pickle=False))
        header = (data["format"], data["collection"], data["model"], data["count"])
        if header != (FORMAT, collection, model, count) or len(data["rows"]) != count:
            raise ValueError(f"tables of {header[1]!r} ({header[3]} chunks, {header[2]})")
        if matrix.dtype != np.float32 or matrix.ndim != 2 or matrix.shape[0] != count:
            raise ValueError(f"vectors of shape {matrix.shape}, {matrix.dtype}")
        rows = [TableRow(e, int(i), d, entry) for e, i, d, entry in data["rows"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        log.warning("replacing the lore tables at %s (%s); reading Chroma", folder, exc)
        shutil.rmtree(folder, ignore_errors=True)  # written again by this reader
        return None
    return Tables(rows, matrix)


def drop_tables(root: Path, keep: Iterable[str | None]) -> None:
    """Remove the tables of generations that are gone (and scratch left by killed writers)."""
    folder = root / TABLES_DIR
    if not folder.is_dir():
        return
    kept = {name for name in keep if name}
    stale_scratch = time.time() - SCRATCH_MAX_AGE_S
    for path in folder.iterdir():
        if path.name.startswith("."):  # a writer's scratch: maybe still being written
            if path.stat().st_mtime < stale_scratch:
                shutil.rmtree(path, ignore_errors=True)
        elif path.name not in kept:
            shutil.rmtree(path, ignore_errors=True)
