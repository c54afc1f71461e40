"""Per-text features as additive counts.

Everything a profile or a score needs is a count (word counts, a histogram of sentence
lengths, punctuation marks, syllables, ...), so the features of a book are the sum of its
chapters', and leaving one chapter out of a profile is a subtraction. Ratios and
distributions are derived from the counts where they are compared."""

from __future__ import annotations

import re
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np

from stylometry import pacing, readability
from stylometry.text import (
    WORD_RE,
    StyleInputError,
    check_text,
    normalize,
    paragraphs,
    sentences,
)

Mode = Literal["fast", "full"]
MODES = ("fast", "full")
DIALOGUE_BINS = 20  # per-paragraph dialogue share, in 5% steps

PUNCTUATION = {
    "comma": ",",
    "semicolon": ";",
    "colon": ":",
    "exclamation": "!",
    "question": "?",
    "dash": "—",
    "double_hyphen": "--",
    "parenthesis": "(",
    "ellipsis": "...",
    "period": ".",
}
_QUOTE = re.compile(r"[\"“”]")


@dataclass(eq=False)  # identity hash: computed views of a Counts are cached per object
class Counts:
    """Additive features of a text (see the module docstring)."""

    n_words: int = 0
    words: Counter = field(default_factory=Counter)
    sentence_lengths: Counter = field(default_factory=Counter)
    paragraph_lengths: Counter = field(default_factory=Counter)
    dialogue: Counter = field(default_factory=Counter)  # share bin -> words in such paragraphs
    punctuation: Counter = field(default_factory=Counter)
    other: Counter = field(default_factory=Counter)  # readability + pacing counts

    def __sub__(self, other: Counts) -> Counts:
        out = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, Counter):
                diff = Counter(mine)
                diff.subtract(theirs)
                out[f.name] = +diff  # drop zero and negative entries
            else:
                out[f.name] = max(mine - theirs, 0)
        return Counts(**out)

    @classmethod
    def total(cls, items: Iterable[Counts]) -> Counts:
        """The sum of many, accumulated in place (summing pairwise would copy every time)."""
        out = cls()
        for item in items:
            out.n_words += item.n_words
            for f in fields(cls):
                if f.name != "n_words":
                    getattr(out, f.name).update(getattr(item, f.name))
        return out

    @property
    def n_sentences(self) -> int:
        return sum(self.sentence_lengths.values())

    @property
    def n_paragraphs(self) -> int:
        return sum(self.paragraph_lengths.values())

    def to_dict(self) -> dict:
        return {
            f.name: (dict(v) if isinstance(v := getattr(self, f.name), Counter) else v)
            for f in fields(self)
        }

    @classmethod
    def from_dict(cls, data: dict) -> Counts:
        out = {}
        for f in fields(cls):
            value = data.get(f.name, 0 if f.name == "n_words" else {})
            if f.name in ("sentence_lengths", "paragraph_lengths", "dialogue"):
                value = Counter({int(k): v for k, v in value.items()})
            elif isinstance(value, dict):
                value = Counter(value)
            out[f.name] = value
        return cls(**out)


def _split_quotes(paragraph: str) -> tuple[str, str]:
    """(inside quotes, outside quotes). Straight quotes toggle, curly ones open/close; a quote
    left open runs to the end of the paragraph (the usual multi-paragraph speech)."""
    inside, outside = [], []
    is_in = False
    pos = 0
    for m in _QUOTE.finditer(paragraph):
        (inside if is_in else outside).append(paragraph[pos : m.start()])
        ch = m.group()
        is_in = (not is_in) if ch == '"' else (ch == "“")
        pos = m.end()
    (inside if is_in else outside).append(paragraph[pos:])
    return " ".join(inside), " ".join(outside)


def extract(text: str, mode: Mode = "fast") -> Counts:
    """Features of one text. `fast`: regex only; `full`: adds spaCy's tagger markers."""
    if mode not in MODES:
        raise ValueError(f"unknown style profile mode {mode!r}; use one of {', '.join(MODES)}")
    check_text(text)
    c = Counts()
    paras = paragraphs(normalize(text))
    other = c.other
    narration: Counter = Counter()
    for para in paras:
        para_words = [w.lower() for w in WORD_RE.findall(para)]
        n = len(para_words)
        if n == 0:
            continue
        c.n_words += n
        c.words.update(para_words)
        c.paragraph_lengths[n] += 1
        for name, mark in PUNCTUATION.items():
            k = para.count(mark)
            if k:
                c.punctuation[name] += k
        quoted, plain = _split_quotes(para) if ('"' in para or "“" in para) else ("", para)
        q_words = len(WORD_RE.findall(quoted)) if quoted else 0
        c.dialogue[round(DIALOGUE_BINS * q_words / n)] += n
        other["dialogue_words"] += q_words
        narration.update(w.lower() for w in WORD_RE.findall(plain))
        for sent in sentences(para):
            first = WORD_RE.search(sent)
            if first is None:
                continue
            c.sentence_lengths[len(WORD_RE.findall(sent))] += 1
            opens_quoted = sent.lstrip()[:1] in "\"“‘'"
            kind = pacing.opening_kind(first.group().lower(), opens_quoted)
            other[f"open_{kind}"] += 1
    if c.n_words == 0:
        raise StyleInputError("no prose to measure (only headings or markup)")
    other["narration_words"] += sum(narration.values())
    other.update(pacing.narration_counts(narration))
    other.update(readability.readability_counts(c.words))
    if mode == "full":
        other.update(pacing.tagged_counts(paras))
    return c


def derived_scalars(c: Counts, mode: Mode) -> dict[str, float]:
    """Readability and pacing ratios of a text (or a profile's totals)."""
    out = readability.readability_metrics(c.other, c.n_words, c.n_sentences)
    out.update(pacing.pacing_metrics(c.other, c.n_words, c.n_sentences, mode))
    out["dialogue_share"] = c.other.get("dialogue_words", 0) / max(c.n_words, 1)
    return out


_WORD_GRAMS: dict[tuple[str, tuple[int, ...]], tuple[str, ...]] = {}


def word_grams(word: str, sizes: tuple[int, ...] = (3,)) -> tuple[str, ...]:
    """Character n-grams of one word with its boundaries (" th", "the", "he "), of each size
    in `sizes`, cached."""
    grams = _WORD_GRAMS.get((word, sizes))
    if grams is None:
        padded = f" {word} "
        grams = _WORD_GRAMS[word, sizes] = tuple(
            padded[i : i + n] for n in sizes for i in range(len(padded) - n + 1)
        )
    return grams


def char_ngrams(words: Counter, sizes: tuple[int, ...] = (3,)) -> Counter:
    """Character n-grams of the words, weighted by word counts: per word type rather than per
    token, which keeps the fast profile fast."""
    out: Counter = Counter()
    for word, k in words.items():
        for g in word_grams(word, sizes):
            out[g] += k
    return out


_CHAR_CACHE: weakref.WeakKeyDictionary[Counts, tuple[Counter, int]] = weakref.WeakKeyDictionary()


def char_frequencies(c: Counts, chars: Sequence[str]) -> np.ndarray:
    """Relative frequencies of the listed character 3-grams among all of the text's 3-grams.
    The text's n-gram table is built once per Counts object (a chunk is compared with many
    profiles)."""
    cached = _CHAR_CACHE.get(c)
    if cached is None:
        table = char_ngrams(c.words)
        cached = _CHAR_CACHE[c] = (table, sum(table.values()))
    table, total = cached
    return np.fromiter((table.get(g, 0) for g in chars), dtype=float, count=len(chars)) / max(
        total, 1
    )


def punctuation_rates(c: Counts) -> dict[str, float]:
    """Marks per 1,000 words."""
    return {name: 1000 * c.punctuation.get(name, 0) / max(c.n_words, 1) for name in PUNCTUATION}
