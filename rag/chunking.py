"""Long entries and chapters -> chunks small enough for all-MiniLM-L6-v2 (256 word pieces).
Chunks follow paragraphs, then sentences, so each one reads as a whole thought."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+")


def _pieces(paragraph: str, max_words: int) -> list[str]:
    """A paragraph as sentence pieces of at most max_words each (a longer sentence is cut)."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        words = sentence.split()
        for start in range(0, len(words), max_words):
            pieces.append(" ".join(words[start : start + max_words]))
    return [p for p in pieces if p]


def chunk_text(text: str, max_words: int) -> list[str]:
    """Greedy packing of paragraphs (split into sentences when too long) into chunks of at
    most max_words; paragraph breaks are kept inside a chunk."""
    chunks: list[str] = []
    current = ""
    count = 0
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        short = len(paragraph.split()) <= max_words
        parts = [paragraph] if short else _pieces(paragraph, max_words)
        for index, part in enumerate(parts):
            size = len(part.split())
            if current and count + size > max_words:
                chunks.append(current)
                current, count = "", 0
            separator = "" if not current else (" " if index else "\n\n")
            current += separator + part
            count += size
    if current:
        chunks.append(current)
    return chunks
