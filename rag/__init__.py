"""Lore: story-bible parsing, chunking, embeddings, the Chroma store, retrieval and prompt
injection. Imports nothing else of Inkwell's."""

from rag.config import RetrievalConfig, StoreConfig
from rag.entry import LoreEntry, LoreFileError, SecondaryKeys
from rag.ingest import IngestReport, ingest
from rag.inject import inject_chat, lore_prefix
from rag.parse_dir import parse_lore_dir
from rag.retrieve import LoreHit, Retriever
from rag.store import LoreStore, StoreError, open_store

__all__ = [
    "IngestReport",
    "LoreEntry",
    "LoreFileError",
    "LoreHit",
    "LoreStore",
    "RetrievalConfig",
    "Retriever",
    "SecondaryKeys",
    "StoreConfig",
    "StoreError",
    "ingest",
    "inject_chat",
    "lore_prefix",
    "open_store",
    "parse_lore_dir",
]
