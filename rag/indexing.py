"""lore/ (and optionally chapters) -> a published index generation, incrementally.

Entries are compared by content hash and chunks by embedding key, so an unchanged lore
folder publishes nothing and embeds nothing, and an edited entry re-embeds only its own
chunks; the vectors of everything else are copied from the live generation. The new
generation is published only once it is complete (see store.py), so an ingest killed
midway leaves the previous index in service.

An index made by another embedding model (store.embedding changed, or a new build recipe) is
re-indexed by itself: every chunk is embedded again into a new generation beside the old one,
with a progress bar, and the old one serves until the pointer moves."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from tqdm import tqdm

from rag.backends import Backend, fingerprint
from rag.chapters import chapter_entries
from rag.chunking import chunk_text
from rag.embeddings import embed_documents, embedding_key
from rag.entry import LoreEntry, LoreFileError
from rag.parse_dir import parse_lore_dir
from rag.store import LoreStore, StoreError
from rag.tables import TableRow, write_tables

log = logging.getLogger("inkwell.rag")

EMBED_BATCH = 64
WRITE_BATCH = 500
PROGRESS_MIN_CHUNKS = 64
LOCK_WAIT_S = 3600  # a first ingest of a large lore base embeds for many minutes


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks embedded by this run (0 when nothing changed)
    reused: int = 0  # chunks whose vectors were copied from the previous generation
    generation: int = 0
    published: bool = False
    reindexed_from: str | None = None  # the fingerprint of the model that made the old index
    errors: list[LoreFileError] = field(default_factory=list)

    def summary(self) -> str:
        state = f"published generation {self.generation}" if self.published else "no change"
        if self.reindexed_from and self.published:
            state += f" (re-indexed: the old index was made by {self.reindexed_from})"
        return (
            f"{state}: {self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged; {self.chunks} chunks ({self.embedded} embedded, "
            f"{self.reused} reused); {len(self.errors)} problem(s)"
        )

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "errors"}
        data["errors"] = [str(e) for e in self.errors]
        return data


@dataclass(frozen=True)
class PlannedChunk:
    id: str
    entry: LoreEntry
    index: int
    count: int
    document: str
    key: str  # embedding key of the text that is embedded

    def metadata(self, entry_hash: str) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "entry_id": self.entry.id,
            "chunk": self.index,
            "chunks": self.count,
            "kind": self.entry.kind,
            "entry_hash": entry_hash,
            "embedding_key": self.key,
        }
        if self.index == 0:
            meta["entry"] = self.entry.model_dump_json(by_alias=True)
        return meta

    def table_row(self) -> TableRow:
        entry = self.entry.model_dump_json(by_alias=True) if self.index == 0 else None
        return TableRow(self.entry.id, self.index, self.document, entry)


def embedding_text(entry: LoreEntry, chunk: str) -> str:
    """What is embedded: the chunk under its entry's name, category and other names, so a
    question that uses an alias or the category still lands on it."""
    if entry.kind == "chapter":
        return f"{entry.name}\n{chunk}"
    others = [k for k in entry.keys if k.lower() != entry.name.lower()][:8]
    also = f" Also called: {', '.join(others)}." if others else ""
    return f"{entry.name} ({entry.category}).{also}\n{chunk}"


def plan_chunks(
    entries: Sequence[LoreEntry], max_words: int, backend: Backend
) -> list[PlannedChunk]:
    planned = []
    for entry in entries:
        pieces = chunk_text(entry.text, max_words)
        for index, piece in enumerate(pieces):
            planned.append(
                PlannedChunk(
                    id=f"{entry.id}#{index}",
                    entry=entry,
                    index=index,
                    count=len(pieces),
                    document=piece,
                    key=embedding_key(embedding_text(entry, piece), backend),
                )
            )
    return planned


@contextlib.contextmanager
def _ingest_lock(store: LoreStore) -> Iterator[None]:
    """One ingest at a time per embedded store (a Chroma server has no shared folder)."""
    if store.lock_path is None:
        yield
        return
    lock = FileLock(str(store.lock_path), timeout=LOCK_WAIT_S)
    try:
        lock.acquire()
    except Timeout:
        raise StoreError(
            f"another ingest has held {store.lock_path} for over {LOCK_WAIT_S} s; "
            "try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _embed(texts: list[str], backend: Backend, progress: bool, desc: str) -> np.ndarray:
    show = progress and len(texts) >= PROGRESS_MIN_CHUNKS
    parts = [embed_documents([], backend)]
    with tqdm(total=len(texts), desc=desc, unit="chunk", disable=not show) as bar:
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            parts.append(embed_documents(batch, backend))
            bar.update(len(batch))
    return np.concatenate(parts)


def ingest(
    lore_dir: Path,
    store: LoreStore,
    chapters: list[Path] | None = None,
    progress: bool = True,
) -> IngestReport:
    """Index lore_dir (plus `chapters` as story-so-far memory when given; chapters indexed
    before and not given now are removed)."""
    entries, errors = _entries_to_index(Path(lore_dir), chapters)
    report = IngestReport(errors=errors)
    hashes = {entry.id: entry.content_hash() for entry in entries}
    with _ingest_lock(store):
        state = store.state()
        old_by_key = _compare_with_index(store, state, hashes, report)
        changed = report.added or report.updated or report.removed or report.reindexed_from
        if not changed and (state.active or not entries):
            store.drop_stale(keep=[state.active, state.previous])
            report.chunks = store.count(state.active) if state.active else 0
            return report
        planned = plan_chunks(entries, store.config.chunk_words, store.config.embedding)
        report.chunks = len(planned)
        vectors = _vectors(store, state, planned, old_by_key, report, progress)
        _publish(store, state, planned, vectors, hashes, len(entries), progress)
        report.generation = state.generation + 1
        report.published = True
        return report


def _entries_to_index(
    lore_dir: Path, chapters: list[Path] | None
) -> tuple[list[LoreEntry], list[LoreFileError]]:
    """The lore entries, and the chapters as entries unless a lore entry has their id."""
    entries, errors = parse_lore_dir(lore_dir)
    if chapters:
        chapter_list, chapter_errors = chapter_entries(chapters)
        errors.extend(chapter_errors)
        taken = {entry.id for entry in entries}
        for chapter in chapter_list:
            if chapter.id in taken:
                problem = f"id {chapter.id!r} is taken by a lore entry; chapter not indexed"
                errors.append(LoreFileError(chapter.source, None, problem))
            else:
                entries.append(chapter)
    return entries, errors


def _compare_with_index(
    store: LoreStore, state: Any, hashes: dict[str, str], report: IngestReport
) -> dict[str, str]:
    """Count added / updated / unchanged / removed entries against the active index (and
    whether its model changed); return its chunk ids by embedding key, for reuse."""
    old_hashes: dict[str, str] = {}
    old_by_key: dict[str, str] = {}
    if state.active:
        for chunk in store.read_chunks(state.active):
            old_hashes[chunk.metadata["entry_id"]] = chunk.metadata["entry_hash"]
            old_by_key[chunk.metadata["embedding_key"]] = chunk.id
    for entry_id, digest in hashes.items():
        if entry_id not in old_hashes:
            report.added += 1
        elif old_hashes[entry_id] != digest:
            report.updated += 1
        else:
            report.unchanged += 1
    report.removed = len(set(old_hashes) - set(hashes))
    report.generation = state.generation
    if state.active and state.model != fingerprint(store.config.embedding):
        report.reindexed_from = state.model
    return old_by_key


def _vectors(
    store: LoreStore,
    state: Any,
    planned: list[PlannedChunk],
    old_by_key: dict[str, str],
    report: IngestReport,
    progress: bool,
) -> dict[str, np.ndarray]:
    """A vector per planned chunk: reused from the active index when its key is there,
    embedded otherwise (with a progress bar)."""
    reusable = sorted({old_by_key[c.key] for c in planned if c.key in old_by_key})
    old_vectors = store.read_embeddings(state.active, reusable) if state.active else {}
    vectors: dict[str, np.ndarray] = {}
    for chunk in planned:
        vector = old_vectors.get(old_by_key.get(chunk.key, ""))
        if vector is not None:
            vectors[chunk.key] = vector
    to_embed = {c.key: c for c in planned if c.key not in vectors}
    texts = [embedding_text(c.entry, c.document) for c in to_embed.values()]
    backend = store.config.embedding
    desc = f"re-indexing lore for {backend}" if report.reindexed_from else "embedding lore"
    for key, vector in zip(to_embed, _embed(texts, backend, progress, desc), strict=True):
        vectors[key] = vector
    report.embedded = len(to_embed)
    report.reused = len(planned) - sum(1 for c in planned if c.key in to_embed)
    return vectors


def _publish(store, state, planned, vectors, hashes, entries: int, progress: bool) -> None:
    """Write the next generation beside the active one and point the store at it; on any
    failure the old pointer stands."""
    generation = state.generation + 1
    try:
        collection = _write_generation(store, generation, planned, vectors, hashes, progress)
        _write_tables(store, collection.name, planned, vectors)
        store.publish(collection.name, generation, state.active, entries=entries)
    except StoreError:
        raise
    except Exception as exc:  # a full disk, a read-only folder: the old pointer stands
        raise StoreError(
            f"writing the lore index at {store.location} failed ({exc}); is the disk full? "
            "The previous index stays in service"
        ) from exc
    store.drop_stale(keep=[collection.name, state.active])


def _write_tables(
    store: LoreStore, collection: str, planned: list[PlannedChunk], vectors: dict[str, np.ndarray]
) -> None:
    """The new generation's serving tables, so proxies open it fast (optional: a failure
    only means they read it from Chroma)."""
    if store.tables_root is None or not planned:
        return
    rows = [c.table_row() for c in planned]
    matrix = np.stack([vectors[c.key] for c in planned])
    model = fingerprint(store.config.embedding)
    try:
        write_tables(store.tables_root, collection, model, rows, matrix)
    except OSError as exc:
        log.warning("lore tables not written (%s); proxies will read the index from Chroma", exc)


def _write_generation(
    store: LoreStore,
    generation: int,
    planned: list[PlannedChunk],
    vectors: dict[str, np.ndarray],
    hashes: dict[str, str],
    progress: bool,
) -> Any:
    """A complete, not yet published generation collection holding every planned chunk."""
    collection = store.create_generation(generation)
    show = progress and len(planned) >= PROGRESS_MIN_CHUNKS
    with tqdm(total=len(planned), desc="writing index", unit="chunk", disable=not show) as bar:
        for start in range(0, len(planned), WRITE_BATCH):
            batch = planned[start : start + WRITE_BATCH]
            store.add_chunks(
                collection,
                ids=[c.id for c in batch],
                embeddings=np.stack([vectors[c.key] for c in batch]),
                documents=[c.document for c in batch],
                metadatas=[c.metadata(hashes[c.entry.id]) for c in batch],
            )
            bar.update(len(batch))
    written = collection.count()
    if written != len(planned):
        raise StoreError(
            f"the new index holds {written} of {len(planned)} chunks; the previous index "
            "stays in service"
        )
    return collection
