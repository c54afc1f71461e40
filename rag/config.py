"""Settings for the lore store and retrieval (validated; unknown keys are errors)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


EmbeddingBackend = Literal["torch", "onnx", "onnx-int8", "model2vec"]


class StoreConfig(_Strict):
    backend: Literal["embedded", "http"] = Field(
        "embedded",
        description="embedded (PersistentClient under .inkwell/chroma) or http (`chroma run`).",
    )
    # benchmarks/retrieval_quality.py measures each backend.
    embedding: EmbeddingBackend = Field(
        "onnx-int8",
        description="How all-MiniLM-L6-v2 runs for index and queries: torch, onnx, onnx-int8 or "
        "model2vec; an index built by another backend is re-indexed by itself.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8002, ge=1, le=65535)
    # Each ingest writes a new generation collection "<collection>-g<n>-<tag>", so the name
    # leaves room for that suffix.
    collection: str = Field(
        "lore", min_length=3, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*[A-Za-z0-9]$"
    )
    index_chapters: bool = Field(False, description='Also index chapters as "story so far" memory.')
    # all-MiniLM-L6-v2 reads at most 256 word pieces, so chunks stay well under.
    chunk_words: int = Field(
        120, ge=20, le=180, description="Words per embedded chunk of a long entry or chapter."
    )
    refresh_s: float = Field(
        1.0, ge=0, description="How often (s) a running proxy looks for a newer index."
    )


class RetrievalConfig(_Strict):
    scan_messages: int = Field(4, ge=1, description="Keyword triggers look at the last N messages.")
    top_k: int = Field(6, ge=0)
    # all-MiniLM-L6-v2 scores a relevant question/passage pair at about 0.2-0.7.
    min_similarity: float = Field(
        0.25, ge=-1.0, le=1.0, description="Cosine floor for vector hits (MiniLM scale)."
    )
    # A vector hit must also be within this much of the best hit's similarity: a query that
    # matches one entry well does not drag in weak ones (benchmarks/retrieval_quality.py sweeps
    # it: 0.2 keeps the injected-answer rate of no relative floor at a quarter fewer tokens).
    relative_floor: float = Field(
        0.2, ge=0.0, le=2.0, description="...and within this much of the best vector hit."
    )
    token_budget: int = Field(700, ge=0)
    completion_token_budget: int = Field(200, ge=0)
    # The vector query is the tail of the latest user message: embedding cost grows with length.
    query_chars: int = Field(
        300, ge=20, description="The vector query is the tail of the latest user message."
    )
