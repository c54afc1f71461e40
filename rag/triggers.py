"""Keyword triggers: every entry's name, keys and secondary keys in one table keyed by the
key's first word, so a scan looks up each word of the conversation once however many entries
there are, and building the table for 10,000 entries takes milliseconds (a compiled regex of
the same keys took most of a second). Matching is case-insensitive, on word boundaries,
across line breaks, and treats curly and straight apostrophes alike."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.entry import EntryKeys

_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})
_WORD = re.compile(r"\w+")
_WORD_CHAR = re.compile(r"\w")


def normalize_key(text: str) -> str:
    return " ".join(text.translate(_QUOTES).lower().split())


def _head(key: str) -> str:
    """The first word of a key ('' for a key that starts with punctuation)."""
    match = _WORD.match(key)
    return match.group() if match else ""


def _boundary(text: str, at: int) -> bool:
    """No word character at position `at` (the end of text counts as a boundary)."""
    return at >= len(text) or not _WORD_CHAR.match(text, at)


class KeywordTriggers:
    """Which keys occur in a text, and which entries they fire."""

    def __init__(self, entries: Iterable[EntryKeys]):
        self._fires: dict[str, list[tuple[str, str]]] = {}  # key -> [(entry id, key as written)]
        all_keys: set[str] = set()
        for entry in entries:
            for key in entry.fire:
                norm = normalize_key(key)
                self._fires.setdefault(norm, []).append((entry.entry_id, key))
                all_keys.add(norm)
            for key in entry.conditions:
                all_keys.add(normalize_key(key))
        all_keys.discard("")
        self._by_head: dict[str, list[str]] = {}
        for key in all_keys:
            self._by_head.setdefault(_head(key), []).append(key)
        # Keys that start with punctuation are few; they are looked for with str.find.
        self._odd = tuple(self._by_head.pop("", ()))

    def scan(self, text: str) -> set[str]:
        """Normalized keys present in text, each starting and ending on a word boundary
        (so 'Ilse' and 'Ilse Varga' are both found in 'Ilse Varga')."""
        if not text or not (self._by_head or self._odd):
            return set()
        norm = normalize_key(text)
        found: set[str] = set()
        for word in _WORD.finditer(norm):  # maximal runs: each starts on a word boundary
            start = word.start()
            for key in self._by_head.get(word.group(), ()):
                if norm.startswith(key, start) and _boundary(norm, start + len(key)):
                    found.add(key)
        for key in self._odd:
            at = norm.find(key)
            while at >= 0:
                if (at == 0 or _boundary(norm, at - 1)) and _boundary(norm, at + len(key)):
                    found.add(key)
                    break
                at = norm.find(key, at + 1)
        return found

    def fired(self, found: set[str]) -> dict[str, str]:
        """entry id -> the first key (as the author wrote it) that fired it."""
        fired: dict[str, str] = {}
        for norm in sorted(found, key=len, reverse=True):
            for entry_id, key in self._fires.get(norm, ()):
                fired.setdefault(entry_id, key)
        return fired
