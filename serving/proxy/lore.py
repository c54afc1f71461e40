"""The proxy's view of the lore store: retrieval runs in a worker thread (it embeds the query with
a CPU model, which must never block the event loop). The retriever follows re-indexing by itself
(store.refresh_s); a store that could not be opened (not indexed yet, or damaged) is opened again
on the next request once its database file has changed (first indexed, or rebuilt). An index
made by another embedding model than store.embedding is re-indexed in a background thread
while the old one keeps serving (queries are embedded by the model that made it). The re-index
holds the index lock that `inkwell lore index` holds too; while another process has it, the
thread tries again every store.refresh_s, and the old index serves meanwhile."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from serving.foundation.workspace import Workspace

log = logging.getLogger("inkwell.proxy")

# Retrieval looks at the end of long prompts only (autocomplete sends whole files).
QUERY_TAIL_CHARS = 4000
NOT_INDEXED = "not indexed yet: run `inkwell lore index`"
REINDEX_RETRY_MIN_S = 0.5  # the lock is tried at most this often while someone else holds it


class Lore:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.config = workspace.config.retrieval
        self.current_chapter = workspace.config.book.current_chapter
        self.retriever: Any = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._opened: tuple[int, int] | None = None  # the database file as last opened
        self._generation: Path | None = None  # the folder `chroma` named when opened
        self._generation_checked = 0.0
        self._reindexing: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def embedded(self) -> bool:
        return self.workspace.config.store.backend == "embedded"

    def _database(self) -> tuple[int, int] | None:
        try:
            stat = (self.workspace.chroma_dir / "chroma.sqlite3").stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def refresh(self) -> None:
        """Open the store again if it failed to open and its database has changed since, or
        (checked at most every store.refresh_s) a rebuild made `chroma` name a new generation."""
        if self.retriever is None and self.embedded and self._database() != self._opened:
            log.info("lore store changed on disk; opening it again")
            self.load()
        elif self.retriever is not None and self.embedded and self._rebuilt():
            log.info("lore index rebuilt; opening the new generation")
            self.load()

    def _rebuilt(self) -> bool:
        now = time.monotonic()
        if now - self._generation_checked < self.workspace.config.store.refresh_s:
            return False
        self._generation_checked = now
        return self.workspace.chroma_dir.resolve() != self._generation

    def load(self) -> None:
        """Open the store and build the retriever (slow: loads the embedding model)."""
        from rag.rebuild import recover

        with self._lock:
            if self.embedded:
                recover(self.workspace.chroma_dir)
            self._opened = self._database()
            if self.embedded and not self.workspace.chroma_dir.is_dir():
                self.retriever = None
                self.error = NOT_INDEXED
                return
            from rag import Retriever, open_store

            try:
                # By the generation's own path: Chroma caches a client per path string.
                self._generation = self.workspace.chroma_dir.resolve()
                store = open_store(self._generation, self.workspace.config.store)
                self.retriever = Retriever(store, self.config)
                self.error = None
                self._reindex_if_stale(store)
            except Exception as exc:  # a broken store must not take the proxy down
                log.exception("lore store unavailable")
                self.retriever = None
                self.error = f"{type(exc).__name__}: {exc}"

    def _reindex_if_stale(self, store: Any) -> None:
        from rag.backends import fingerprint

        state = self.retriever.snapshot.state
        if not state.active or state.model == fingerprint(store.config.embedding):
            return
        if self._reindexing is not None and self._reindexing.is_alive():
            return  # one re-index at a time
        log.info("lore index made by %s; re-indexing for %s", state.model, store.config.embedding)
        self._reindexing = threading.Thread(
            target=self._reindex, args=(store, self._generation), name="lore-reindex", daemon=True
        )
        self._reindexing.start()

    def _reindex(self, store: Any, generation: Path | None) -> None:
        """Runs beside serving; the retriever moves to the new index once it is published. Never
        waits on the lock: while another process holds it, tries again after store.refresh_s."""
        from filelock import Timeout

        from rag import ingest
        from rag.rebuild import index_lock, recover

        ws = self.workspace
        chapters = ws.chapter_files() if ws.config.store.index_chapters else None
        retry_s = max(ws.config.store.refresh_s, REINDEX_RETRY_MIN_S)
        told = False
        while not self._closed.is_set():
            with contextlib.ExitStack() as held:
                try:
                    held.enter_context(index_lock(ws.chroma_dir, blocking=False))
                except Timeout:
                    if not told:
                        log.info("lore index locked by another process; re-index waits for it")
                        told = True
                    self._closed.wait(retry_s)
                    continue
                try:
                    recover(ws.chroma_dir)
                    if ws.chroma_dir.resolve() != generation:
                        # Rebuilt meanwhile: the new generation is opened (and checked) next.
                        log.info("lore index replaced meanwhile; the re-index is left to it")
                        return
                    report = ingest(ws.lore_dir, store, chapters=chapters)
                    log.info("lore re-index: %s", report.summary())
                except Exception:  # the old index keeps serving; `inkwell lore index` says why
                    log.exception("lore re-index failed")
                return

    def close(self) -> None:
        """Stops a re-index that waits for the lock (one in progress finishes on its own)."""
        self._closed.set()

    async def retrieve(self, messages: list[dict], chapter: int | None, budget: int) -> list[Any]:
        if self.retriever is None or self._rebuilt():
            await anyio.to_thread.run_sync(self.load if self.retriever else self.refresh)
        retriever = self.retriever
        if retriever is None:
            return []
        call = functools.partial(
            retriever.retrieve, messages, chapter or self.current_chapter, budget
        )
        return await anyio.to_thread.run_sync(call)

    async def search(self, text: str, chapter: int | None) -> list[Any]:
        """Entries for a free-text question (Continue's @lore): no budget, no constants."""
        if self.retriever is None:
            await anyio.to_thread.run_sync(self.refresh)
        if self.retriever is None:
            return []
        call = functools.partial(
            self.retriever.search, text, chapter or self.current_chapter, self.config.top_k
        )
        return await anyio.to_thread.run_sync(call)

    def inject_chat(self, messages: list[dict], hits: list[Any]) -> list[dict]:
        from rag import inject_chat

        return inject_chat(messages, hits)

    def prefix(self, hits: list[Any]) -> str:
        from rag import lore_prefix

        return lore_prefix(hits)

    @staticmethod
    def query_tail(text: str) -> str:
        return text[-QUERY_TAIL_CHARS:]

    def status(self) -> dict[str, Any]:
        """For /health (call it off the event loop: it may re-read the store's pointer)."""
        self.refresh()
        if self.retriever is None:
            return {"ok": False, "entries": None, "error": self.error or "not loaded"}
        return {"ok": True, "entries": len(self.retriever.snapshot.entries), "error": None}
