"""Keyword triggers: every entry's name, keys and secondary keys compiled once into one
regular expression shaped like a trie, so a scan costs one pass over the conversation
however many entries there are. Matching is case-insensitive, on word boundaries, across
line breaks, and treats curly and straight apostrophes alike."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.entry import LoreEntry

_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


def normalize_key(text: str) -> str:
    return " ".join(text.translate(_QUOTES).lower().split())


def _trie_pattern(keys: Iterable[str]) -> str:
    trie: dict[str, dict] = {}
    for key in keys:
        node = trie
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        branches = [
            (r"\s+" if char == " " else re.escape(char)) + build(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        optional = "" in node
        if len(branches) == 1 and not optional:
            return branches[0]
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if optional else group

    return build(trie)


class KeywordTriggers:
    """Which keys occur in a text, and which entries they fire."""

    def __init__(self, entries: Iterable[LoreEntry]):
        self._fires: dict[str, list[tuple[str, str]]] = {}  # key -> [(entry id, key as written)]
        all_keys: set[str] = set()
        for entry in entries:
            for key in entry.triggers:
                norm = normalize_key(key)
                self._fires.setdefault(norm, []).append((entry.id, key))
                all_keys.add(norm)
            for key in (*entry.secondary_keys.and_, *entry.secondary_keys.not_):
                all_keys.add(normalize_key(key))
        all_keys.discard("")
        self._keys = frozenset(all_keys)
        self._pattern = (
            re.compile(rf"(?<!\w)(?=({_trie_pattern(sorted(all_keys))})(?!\w))", re.IGNORECASE)
            if all_keys
            else None
        )

    def scan(self, text: str) -> set[str]:
        """Normalized keys present in text, including shorter keys that share a start with a
        longer match ('Ilse' inside 'Ilse Varga')."""
        if self._pattern is None or not text:
            return set()
        found: set[str] = set()
        for match in self._pattern.finditer(text.translate(_QUOTES)):
            norm = normalize_key(match.group(1))
            found.add(norm)
            for cut in range(len(norm) - 1, 0, -1):
                prefix = norm[:cut].rstrip()
                if not (norm[cut].isalnum() or norm[cut] == "_") and prefix in self._keys:
                    found.add(prefix)
        return found

    def fired(self, found: set[str]) -> dict[str, str]:
        """entry id -> the first key (as the author wrote it) that fired it."""
        fired: dict[str, str] = {}
        for norm in sorted(found, key=len, reverse=True):
            for entry_id, key in self._fires.get(norm, ()):
                fired.setdefault(entry_id, key)
        return fired
