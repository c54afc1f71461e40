"""`inkwell serve`: the RAG proxy."""

from __future__ import annotations


def serve() -> None:
    """Start the RAG proxy (filled in by the proxy work)."""
    raise NotImplementedError
