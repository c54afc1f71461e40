"""Settings for the lore store and retrieval (validated; unknown keys are errors)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Strict):
    backend: Literal["embedded", "http"] = "embedded"
    host: str = "127.0.0.1"
    port: int = Field(8002, ge=1, le=65535)
    collection: str = Field("lore", min_length=3, max_length=63)
    index_chapters: bool = False


class RetrievalConfig(_Strict):
    scan_messages: int = Field(4, ge=1)
    top_k: int = Field(6, ge=0)
    min_similarity: float = Field(0.35, ge=-1.0, le=1.0)
    token_budget: int = Field(700, ge=0)
    completion_token_budget: int = Field(200, ge=0)
