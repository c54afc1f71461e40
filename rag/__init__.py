"""Lore: story-bible parsing, chunking, embeddings, the Chroma store, retrieval and prompt
injection. Imports nothing else of Inkwell's.

Exports resolve lazily, so that importing `rag.config` (every CLI start does) does not pull in
chromadb and torch."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RetrievalConfig": "rag.config",
    "StoreConfig": "rag.config",
    "LoreEntry": "rag.entry",
    "LoreFileError": "rag.entry",
    "SecondaryKeys": "rag.entry",
    "IngestReport": "rag.indexing",
    "ingest": "rag.indexing",
    "inject_chat": "rag.inject",
    "lore_prefix": "rag.inject",
    "parse_lore_dir": "rag.parse_dir",
    "LoreHit": "rag.retrieve",
    "Retriever": "rag.retrieve",
    "LoreStore": "rag.store",
    "StoreError": "rag.store",
    "open_store": "rag.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
