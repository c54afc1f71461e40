"""The Chroma store: embedded (PersistentClient under .inkwell/chroma) or a shared Chroma
server (HttpClient), chosen by configuration.

Every ingest that changes something writes a complete new *generation* collection
("<collection>-g000007-1a2b") and only then flips a small pointer collection ("<collection>")
to it; the generation before stays as a fallback. An ingest killed at any moment therefore
leaves the pointer on a complete, untouched index, and a running proxy in another process
simply loads the new collection when the pointer moves (a collection is never modified
in place, so no process holds a stale in-memory copy of it)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag.backends import fingerprint
from rag.config import StoreConfig
from rag.embeddings import MiniLMEmbeddingFunction
from rag.errors import LoreError
from rag.model_build import MODEL_NAME
from rag.tables import drop_tables

POINTER_MARK = "inkwell-lore-index"
READ_BATCH = 2000


class StoreError(LoreError):
    """The store cannot be reached or used; the message says which and how to fix it."""


@dataclass(frozen=True)
class IndexState:
    """What the pointer says: the live generation and the one kept before it."""

    generation: int = 0
    active: str | None = None
    previous: str | None = None
    # The fingerprint of the embedding model that made the live generation's vectors.
    model: str = MODEL_NAME


@dataclass(frozen=True)
class StoredChunk:
    id: str
    document: str
    metadata: dict[str, Any]
    embedding: np.ndarray | None = None


class LoreStore:
    def __init__(
        self,
        client: Any,
        config: StoreConfig,
        location: str,
        lock_path: Path | None,
        tables_root: Path | None = None,
    ):
        self.client = client
        self.config = config
        self.location = location
        self.lock_path = lock_path
        # Where generations' serving tables live (rag/tables.py); None for a Chroma server.
        self.tables_root = tables_root
        self.embedding_function = MiniLMEmbeddingFunction()
        # Generations are never modified once published, so their handles can be kept.
        self._handles: dict[str, Any] = {}

    # --- the pointer -------------------------------------------------------------------
    def state(self) -> IndexState:
        from chromadb.errors import NotFoundError

        try:
            pointer = self.client.get_collection(
                self.config.collection, embedding_function=self.embedding_function
            )
        except NotFoundError:
            return IndexState()
        except Exception as exc:
            raise StoreError(
                f"cannot read the lore index at {self.location} ({exc}); if it is damaged, "
                "rebuild it from the lore files with `inkwell lore index --rebuild`"
            ) from exc
        meta = pointer.metadata or {}
        if meta.get("inkwell") != POINTER_MARK:
            raise StoreError(
                f"collection {self.config.collection!r} at {self.location} is not an Inkwell "
                "lore index; choose another store.collection"
            )
        return IndexState(
            generation=int(meta.get("generation", 0)),
            active=meta.get("active") or None,
            previous=meta.get("previous") or None,
            model=str(meta.get("model") or MODEL_NAME),
        )

    def publish(self, name: str, generation: int, previous: str | None, entries: int) -> None:
        """Point readers at a complete generation (one metadata write: all or nothing)."""
        metadata = {
            "inkwell": POINTER_MARK,
            "generation": generation,
            "active": name,
            "previous": previous or "",
            "entries": entries,
            "model": fingerprint(self.config.embedding),
            "published": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        pointer = self.client.get_or_create_collection(
            self.config.collection,
            embedding_function=self.embedding_function,
            metadata=metadata,
        )
        pointer.modify(metadata=metadata)

    # --- generations ---------------------------------------------------------------------
    def _collection(self, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            handle = self.client.get_collection(name, embedding_function=self.embedding_function)
            self._handles[name] = handle
        return handle

    def create_generation(self, generation: int) -> Any:
        name = f"{self.config.collection}-g{generation:06d}-{secrets.token_hex(2)}"
        return self.client.create_collection(
            name,
            embedding_function=self.embedding_function,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"inkwell": "inkwell-lore-generation", "generation": generation},
        )

    def drop_stale(self, keep: Sequence[str | None]) -> list[str]:
        """Delete generation collections other than `keep` (leftovers of killed ingests)."""
        prefix = f"{self.config.collection}-g"
        dropped = []
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if name.startswith(prefix) and name not in keep:
                self.client.delete_collection(name)
                self._handles.pop(name, None)
                dropped.append(name)
        if self.tables_root is not None:
            drop_tables(self.tables_root, keep)
        return dropped

    def add_chunks(
        self,
        collection: Any,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        collection.add(
            ids=list(ids),
            embeddings=embeddings,
            documents=list(documents),
            metadatas=list(metadatas),
        )

    # --- reading ---------------------------------------------------------------------------
    def read_chunks(self, name: str, with_embeddings: bool = False) -> Iterator[StoredChunk]:
        """Every chunk of a generation: documents and metadata, and vectors if asked."""
        collection = self._collection(name)
        include = ["documents", "metadatas"] + (["embeddings"] if with_embeddings else [])
        offset = 0
        while True:
            page = collection.get(include=include, limit=READ_BATCH, offset=offset)
            vectors = page["embeddings"] if with_embeddings else [None] * len(page["ids"])
            for chunk_id, doc, meta, vector in zip(
                page["ids"], page["documents"], page["metadatas"], vectors, strict=True
            ):
                embedding = None if vector is None else np.asarray(vector, dtype=np.float32)
                yield StoredChunk(chunk_id, doc or "", dict(meta or {}), embedding)
            if len(page["ids"]) < READ_BATCH:
                return
            offset += READ_BATCH

    def read_embeddings(self, name: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        collection = self._collection(name)
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), READ_BATCH):
            page = collection.get(ids=list(ids[start : start + READ_BATCH]), include=["embeddings"])
            for chunk_id, vector in zip(page["ids"], page["embeddings"], strict=True):
                found[chunk_id] = np.asarray(vector, dtype=np.float32)
        return found

    def count(self, name: str) -> int:
        return self._collection(name).count()


def open_store(chroma_dir: Path, config: StoreConfig) -> LoreStore:
    """The configured store: embedded under `chroma_dir`, or the Chroma server at host:port."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if config.backend == "http":
        location = f"http://{config.host}:{config.port}"
        try:
            client = chromadb.HttpClient(host=config.host, port=config.port, settings=settings)
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"no Chroma server answers at {location} ({exc.__class__.__name__}); start one "
                f"with `chroma run --path DIR --host {config.host} --port {config.port}` or set "
                "store.backend: embedded"
            ) from exc
        return LoreStore(client, config, location, lock_path=None)
    chroma_dir = Path(chroma_dir)
    chroma_dir.mkdir(parents=True, exist_ok=True)
    try:
        client = chromadb.PersistentClient(path=str(chroma_dir), settings=settings)
    except Exception as exc:
        # Chroma caches a client per path even when opening fails; drop it so a retry (after
        # a rebuild) really opens the folder again.
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(str(chroma_dir), None)
        raise StoreError(
            f"the lore index at {chroma_dir} is damaged or unreadable ({exc}); rebuild it from "
            "the lore files with `inkwell lore index --rebuild`"
        ) from exc
    lock_path = chroma_dir / "inkwell-ingest.lock"
    return LoreStore(client, config, str(chroma_dir), lock_path, tables_root=chroma_dir)
