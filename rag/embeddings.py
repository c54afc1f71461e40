"""Lore and query embeddings with the configured backend (see rag/backends.py), offline.

Documents (ingest) are embedded in batches on every core. Queries (the per-request hot path)
are cached by text; on a miss, an encoder that runs one text per call (int8) encodes up to one
query per core at once, and the others batch: while one encode runs, the queries that arrive
wait, and whichever of them runs next encodes all of them in one call, on one thread."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from rag.backends import Backend, encoder, fingerprint
from rag.config import StoreConfig
from rag.model_build import MODEL_NAME
from rag.query_cache import QueryCache

DEFAULT_BACKEND: Backend = StoreConfig().embedding
query_cache = QueryCache()
# Encodes that may run at once per encoder: its lanes (documents: one batch at a time).
_encode_slots: dict[tuple[Backend, str], threading.Semaphore] = {}
_pending: dict[Backend, list[tuple[str, Future[np.ndarray]]]] = {}
_pending_lock = threading.Lock()


def embedding_key(text: str, backend: Backend = DEFAULT_BACKEND) -> str:
    """Identifies an embedding: the same text under the same model is never embedded twice."""
    return hashlib.sha256(f"{fingerprint(backend)}\n{text}".encode()).hexdigest()[:32]


def _slots(backend: Backend, purpose: str, lanes: int) -> threading.Semaphore:
    with _pending_lock:
        return _encode_slots.setdefault((backend, purpose), threading.Semaphore(lanes))


def embed_documents(texts: Sequence[str], backend: Backend = DEFAULT_BACKEND) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    model = encoder(backend, "documents")
    if not texts:
        return np.zeros((0, model.dimensions), dtype=np.float32)
    with _slots(backend, "documents", 1):
        return model.encode(list(texts))


def embed_query(text: str, backend: Backend = DEFAULT_BACKEND) -> np.ndarray:
    """One unit-length, read-only vector for a search query (cached, batched under load)."""
    key = QueryCache.key(fingerprint(backend), text)
    cached = query_cache.get(key)
    if cached is not None:
        return cached
    model = encoder(backend, "query")
    slots = _slots(backend, "query", model.lanes)
    if model.lanes > 1:
        with slots:
            return query_cache.put(key, model.encode([text])[0])
    result: Future[np.ndarray] = Future()
    with _pending_lock:
        _pending.setdefault(backend, []).append((text, result))
    with slots:
        if not result.done():
            with _pending_lock:
                batch, _pending[backend] = _pending[backend], []
            try:
                vectors = model.encode([query for query, _ in batch])
            except BaseException as exc:
                for _, waiting in batch:
                    waiting.set_exception(exc)
            else:
                for (query, waiting), vector in zip(batch, vectors, strict=True):
                    waiting.set_result(
                        query_cache.put(QueryCache.key(fingerprint(backend), query), vector)
                    )
    return result.result()


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma's view of the model, passed explicitly to every collection so Chroma never
    falls back to its own default (which would download a model). Inkwell always hands
    Chroma its vectors, so this runs only if Chroma is asked to embed by someone else."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return list(embed_documents(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return [embed_query(text) for text in input]

    @staticmethod
    def name() -> str:
        return "inkwell-all-minilm-l6-v2"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction()

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def supported_spaces(self) -> list[str]:  # type: ignore[override]
        return ["cosine"]


__all__ = ["DEFAULT_BACKEND", "MODEL_NAME", "embed_documents", "embed_query", "embedding_key"]
