"""Lore for a conversation: constant entries, keyword triggers over the last messages and a
vector search over the latest user message, merged per entry, filtered (spoiler guard,
secondary keys), ordered by priority then score, and cut to a token budget.

The keyword table and every chunk vector are loaded once per published index generation and
kept in memory (entries are built on first use); a request costs one keyword scan, one query
embedding (cached for repeated text) and one exact matrix-vector product over the chunk
vectors (about 1 ms for 10,000 chunks, exact where an HNSW search is approximate). Queries
are embedded by the backend that made the index, so the two always match, even while a
re-index for another backend is under way. A new generation published by an ingest (in any
process) is picked up within `store.refresh_s` seconds."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import orjson

from rag.backends import Backend, backend_of
from rag.config import RetrievalConfig
from rag.embeddings import embed_query
from rag.entry import EntryKeys, LoreEntry
from rag.store import IndexState, LoreStore, StoreError
from rag.tables import TableRow, Tables, read_tables, write_tables
from rag.tokens import estimate_tokens
from rag.triggers import KeywordTriggers, normalize_key

log = logging.getLogger("inkwell.rag")
Mode = Literal["hybrid", "keyword", "vector"]
_LORE_BLOCK = re.compile(r"<inkwell-lore>.*?</inkwell-lore>", re.DOTALL)
_SKIPPED_ROLES = {"system", "developer"}
# A keyword hit names the entry outright, so it outranks a vector hit of similar similarity.
KEYWORD_BONUS = 0.25


@dataclass(frozen=True)
class LoreHit:
    entry_id: str
    name: str
    category: str
    text: str
    score: float
    why: str  # e.g. "key 'Dray'", "vector 0.62", "constant", "key 'Dray'; vector 0.71"
    # relevance: cosine similarity of the best chunk to the query, + KEYWORD_BONUS for a
    # keyword or constant hit
    tokens: int
    priority: int = 0
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IndexedEntry:
    entry: LoreEntry
    chunks: tuple[str, ...]
    tokens: int
    chunk_tokens: tuple[int, ...]
    vectors: np.ndarray  # one unit vector per chunk


class EntryTable(Mapping[str, IndexedEntry]):
    """A generation's entries, each built on first use: a request touches a handful of the
    10,000, and building them all made opening the index take most of a second."""

    def __init__(self, tables: Tables, stored: dict[str, dict[str, Any]]):
        self._rows, self._matrix, self._stored = tables.rows, tables.matrix, stored
        self._spans: dict[str, tuple[int, int]] = {}  # entry id -> its rows [start, stop)
        for number, row in enumerate(tables.rows):
            start, _ = self._spans.get(row.entry_id, (number, number))
            self._spans[row.entry_id] = (start, number + 1)
        self._built: dict[str, IndexedEntry] = {}  # two threads may build one: same result

    def __getitem__(self, entry_id: str) -> IndexedEntry:
        found = self._built.get(entry_id)
        if found is None:
            entry = LoreEntry.from_index(self._stored[entry_id])
            start, stop = self._spans[entry_id]
            chunks = tuple(row.document for row in self._rows[start:stop])
            found = self._built[entry_id] = IndexedEntry(
                entry=entry,
                chunks=chunks,
                tokens=estimate_tokens(entry.text),
                chunk_tokens=tuple(estimate_tokens(c) for c in chunks),
                vectors=self._matrix[start:stop],
            )
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


@dataclass(frozen=True)
class Snapshot:
    """One published generation, ready to serve."""

    state: IndexState
    entries: Mapping[str, IndexedEntry]
    rows: tuple[tuple[str, int], ...]  # row of `matrix` -> (entry id, chunk index)
    matrix: np.ndarray  # one unit vector per chunk
    triggers: KeywordTriggers
    constants: tuple[str, ...]
    backend: Backend | None  # embeds the queries; None: a model this installation lacks


@dataclass
class _Candidate:
    why: list[str] = field(default_factory=list)
    strong: bool = False  # constant or keyword: outranks any vector score
    similarity: float | None = None
    best_chunk: int = 0

    @property
    def relevance(self) -> float:
        return (self.similarity or 0.0) + (KEYWORD_BONUS if self.strong else 0.0)


def load_snapshot(store: LoreStore, state: IndexState) -> Snapshot:
    backend = backend_of(state.model)
    if not state.active:
        return Snapshot(state, {}, (), np.zeros((0, 0), np.float32), KeywordTriggers([]), (), None)
    if backend is None:
        log.warning(
            "the lore index was made by %s, which this installation cannot run; "
            "keyword triggers only until `inkwell lore index` re-indexes it",
            state.model,
        )
    tables = _tables(store, state)
    stored = {row.entry_id: orjson.loads(row.entry) for row in tables.rows if row.entry}
    lore = [data for data in stored.values() if data.get("kind", "lore") == "lore"]
    constants = tuple(data["id"] for data in lore if data.get("constant"))
    triggers = KeywordTriggers(EntryKeys.from_index(data) for data in lore)
    rows = tuple((row.entry_id, row.index) for row in tables.rows)
    entries = EntryTable(tables, stored)
    return Snapshot(state, entries, rows, tables.matrix, triggers, constants, backend)


def _tables(store: LoreStore, state: IndexState) -> Tables:
    """The generation's rows grouped by entry in chunk order, with their vectors: from its
    tables file when there is one, else read from Chroma (and the file written for next
    time)."""
    name, root = state.active, store.tables_root
    if root is not None:
        found = read_tables(root, name, state.model, store.count(name))
        if found is not None:
            return found
    chunks = list(store.read_chunks(name, with_embeddings=True))
    first_seen = {c.metadata["entry_id"]: n for n, c in reversed(list(enumerate(chunks)))}
    chunks.sort(key=lambda c: (first_seen[c.metadata["entry_id"]], int(c.metadata["chunk"])))
    rows = [
        TableRow(c.metadata["entry_id"], int(c.metadata["chunk"]), c.document,
                 c.metadata.get("entry") if int(c.metadata["chunk"]) == 0 else None)
        for c in chunks
    ]  # fmt: skip
    if not chunks:
        return Tables([], np.zeros((0, 0), np.float32))
    matrix = np.ascontiguousarray(np.stack([c.embedding for c in chunks]), dtype=np.float32)
    if root is not None:
        try:
            write_tables(root, name, state.model, rows, matrix)
        except OSError as exc:  # a read-only index still serves, from Chroma
            log.info("lore tables not written at %s (%s)", root, exc)
    return Tables(rows, matrix)


def message_text(message: dict[str, Any]) -> str:
    """The text of an OpenAI chat message (string content or text parts), minus any lore
    block a previous turn injected."""
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    if not isinstance(content, str):
        return ""
    return _LORE_BLOCK.sub("", content) if "<inkwell-lore>" in content else content


def conversation_text(
    messages: Sequence[dict[str, Any]], scan_messages: int, query_chars: int
) -> tuple[str, str]:
    """(text scanned for keys: the last N non-system messages, vector query: the tail of
    the latest user message)."""
    turns = [m for m in messages if isinstance(m, dict) and m.get("role") not in _SKIPPED_ROLES]
    recent = turns[-scan_messages:]
    scan = "\n".join(message_text(m) for m in recent)
    users = [m for m in recent if m.get("role") == "user"] or recent
    query = message_text(users[-1]) if users else ""
    if len(query) > query_chars:
        query = query[-query_chars:]
        query = query.split(" ", 1)[-1] if " " in query else query
    return scan, query.strip()


class Retriever:
    """Thread-safe; one per process is enough (the proxy keeps one for its lifetime)."""

    def __init__(self, store: LoreStore, config: RetrievalConfig):
        self.store = store
        self.config = config
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._snapshot = load_snapshot(store, store.state())
        if self._snapshot.backend is not None:  # load the model now, not in the first request
            embed_query("warm-up", self._snapshot.backend)

    @property
    def snapshot(self) -> Snapshot:
        """The current generation; re-checks the pointer at most every store.refresh_s.
        Only one thread reloads; the others keep serving the previous snapshot meanwhile,
        and so does everyone if the store cannot be read right now."""
        now = time.monotonic()
        if now - self._checked_at < self.store.config.refresh_s:
            return self._snapshot
        if self._lock.acquire(blocking=False):
            try:
                self._checked_at = now
                state = self.store.state()
                if state.active != self._snapshot.state.active:
                    self._snapshot = load_snapshot(self.store, state)
            except StoreError:
                log.warning("lore store unreadable; serving the index loaded before")
            finally:
                self._lock.release()
        return self._snapshot

    def retrieve(
        self,
        messages: Sequence[dict[str, Any]],
        current_chapter: int | None = None,
        budget_tokens: int | None = None,
    ) -> list[LoreHit]:
        """Lore to inject for this conversation, best first, within the token budget."""
        snapshot = self.snapshot
        if not snapshot.entries:
            return []
        scan, query = conversation_text(
            messages, self.config.scan_messages, self.config.query_chars
        )
        budget = self.config.token_budget if budget_tokens is None else budget_tokens
        ranked = self._rank(
            snapshot,
            scan,
            query,
            current_chapter,
            "hybrid",
            True,
            self.config.top_k,
            self.config.min_similarity,
        )

        # Injection order, so the budget cuts the least wanted: constant entries, then
        # keyword-triggered ones by the author's priority, then vector-only ones by similarity
        # (a priority says how much an entry matters when named, not how well it answers;
        # ordering vector hits by it let long high-priority entries crowd out the best match).
        def order(item: tuple[str, _Candidate]) -> tuple:
            entry, candidate = snapshot.entries[item[0]].entry, item[1]
            first = -entry.priority if candidate.strong else 0
            return (not entry.constant, not candidate.strong, first, -candidate.relevance)

        ranked.sort(key=order)
        return _fit_budget(snapshot, ranked, budget)

    def search(
        self,
        query: str,
        current_chapter: int | None = None,
        limit: int = 10,
        mode: Mode = "hybrid",
    ) -> list[LoreHit]:
        """Entries for a free-text question, most relevant first (priority breaks ties).
        Unlike retrieve(): no budget, no constant entries, and no similarity floor (a person
        asked, so the nearest entries are shown with their scores)."""
        snapshot = self.snapshot
        if not snapshot.entries:
            return []
        ranked = self._rank(snapshot, query, query, current_chapter, mode, False, limit, None)
        ranked.sort(
            key=lambda item: (-item[1].relevance, -snapshot.entries[item[0]].entry.priority)
        )
        return [_hit(snapshot.entries[eid], cand, excerpt=False) for eid, cand in ranked][:limit]

    def _rank(
        self,
        snapshot: Snapshot,
        scan: str,
        query: str,
        current_chapter: int | None,
        mode: Mode,
        with_constants: bool,
        top_k: int,
        floor: float | None,
    ) -> list[tuple[str, _Candidate]]:
        found = snapshot.triggers.scan(scan)
        candidates: dict[str, _Candidate] = {}
        if with_constants:
            for entry_id in snapshot.constants:
                candidates[entry_id] = _Candidate(why=["constant"], strong=True)
        if mode != "vector":
            for entry_id, key in snapshot.triggers.fired(found).items():
                needed = snapshot.entries[entry_id].entry.secondary_keys.and_
                if needed and not any(normalize_key(k) in found for k in needed):
                    continue
                candidate = candidates.setdefault(entry_id, _Candidate())
                candidate.why.append(f"key '{key}'")
                candidate.strong = True
        if mode != "keyword" and top_k > 0 and query and snapshot.backend is not None:
            vector = embed_query(query, snapshot.backend)
            self._vector(snapshot, vector, top_k, floor, candidates)
            for entry_id, candidate in candidates.items():
                if candidate.similarity is None:
                    similarities = snapshot.entries[entry_id].vectors @ vector
                    candidate.best_chunk = int(np.argmax(similarities))
                    candidate.similarity = float(similarities[candidate.best_chunk])

        kept = []
        for entry_id, candidate in candidates.items():
            entry = snapshot.entries[entry_id].entry
            if (
                current_chapter is not None
                and entry.first_chapter is not None
                and current_chapter < entry.first_chapter
            ):
                continue
            if not entry.constant and any(
                normalize_key(k) in found for k in entry.secondary_keys.not_
            ):
                continue
            kept.append((entry_id, candidate))
        return kept

    def _vector(
        self,
        snapshot: Snapshot,
        vector: np.ndarray,
        top_k: int,
        floor: float | None,
        candidates: dict[str, _Candidate],
    ) -> None:
        """Add the top_k entries whose best chunk passes the similarity floor: at least
        `floor`, and (in retrieve(), where `floor` is given) within `relative_floor` of the
        best chunk, so a query that matches one entry well does not drag in weak ones."""
        similarities = snapshot.matrix @ vector
        n = min(len(similarities), max(top_k * 4, top_k + 10))
        if n == 0:
            return
        nearest = np.argpartition(-similarities, n - 1)[:n]
        nearest = nearest[np.argsort(-similarities[nearest], kind="stable")]
        if floor is not None:
            floor = max(floor, float(similarities[nearest[0]]) - self.config.relative_floor)
        seen: set[str] = set()
        for row in nearest:
            similarity = float(similarities[row])
            if (floor is not None and similarity < floor) or len(seen) >= top_k:
                break
            entry_id, index = snapshot.rows[row]
            if entry_id in seen:
                continue
            seen.add(entry_id)
            candidate = candidates.setdefault(entry_id, _Candidate())
            candidate.similarity = similarity
            candidate.best_chunk = index
            candidate.why.append(f"vector {similarity:.2f}")


def _hit(indexed: IndexedEntry, candidate: _Candidate, excerpt: bool) -> LoreHit:
    entry = indexed.entry
    whole = entry.kind == "lore" and not excerpt
    text = entry.text if whole else indexed.chunks[candidate.best_chunk]
    tokens = indexed.tokens if whole else indexed.chunk_tokens[candidate.best_chunk]
    why = "; ".join(candidate.why) + ("" if whole or entry.kind == "chapter" else " (excerpt)")
    return LoreHit(
        entry_id=entry.id,
        name=entry.name,
        category=entry.category,
        text=text,
        score=round(candidate.relevance, 4),
        why=why,
        tokens=tokens,
        priority=entry.priority,
        source=entry.where,
    )


def _fit_budget(
    snapshot: Snapshot, ranked: list[tuple[str, _Candidate]], budget: int
) -> list[LoreHit]:
    """Take hits in rank order while they fit; an entry too long for what is left is
    replaced by its best-matching chunk, and skipped if even that does not fit."""
    hits: list[LoreHit] = []
    left = budget
    for entry_id, candidate in ranked:
        indexed = snapshot.entries[entry_id]
        hit = _hit(indexed, candidate, excerpt=False)
        if hit.tokens > left and len(indexed.chunks) > 1:
            hit = _hit(indexed, candidate, excerpt=True)
        if hit.tokens <= left:
            hits.append(hit)
            left -= hit.tokens
    return hits
