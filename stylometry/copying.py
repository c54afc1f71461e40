"""Text a model copied from its prompt is not text it wrote.

A continuation that repeats the passage it was given (small models do, when the prompt
holds the author's own prose) scored as the author: on the gate benchmark one adapter
reached 100 on another writer's yardstick by echoing the context, and best-of would pick
such a candidate every time. So before a generation is scored, its sentences that are
mostly copied from the prompt are dropped: a sentence goes when COPIED_SHARE of its words
lie in runs of COPY_WORDS or more words found verbatim in the prompt."""

from __future__ import annotations

from functools import lru_cache

from stylometry.text import WORD_RE, normalize, paragraphs, sentences

COPY_WORDS = 8  # shorter shared runs are idiom ("at the end of the day"), not copying
COPIED_SHARE = 0.5


def _words(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


@lru_cache(maxsize=16)  # best-of and evaluation check several candidates of one prompt
def _runs(prompt: str) -> frozenset[tuple[str, ...]]:
    source = _words(normalize(prompt))
    return frozenset(tuple(source[i : i + COPY_WORDS]) for i in range(len(source) - COPY_WORDS + 1))


def without_copied(text: str, prompt: str) -> str:
    """`text` without the sentences it copied from `prompt`, paragraphs kept; "" when it
    copied everything."""
    runs = _runs(prompt)
    if not runs:
        return text
    layout = [sentences(p) for p in paragraphs(normalize(text))]
    words = [[_words(s) for s in para] for para in layout]
    flat = [w for para in words for sent in para for w in sent]
    copied = [False] * len(flat)
    for i in range(len(flat) - COPY_WORDS + 1):
        if tuple(flat[i : i + COPY_WORDS]) in runs:
            copied[i : i + COPY_WORDS] = [True] * COPY_WORDS
    if not any(copied):
        return text
    kept, at = [], 0
    for para, para_words in zip(layout, words, strict=True):
        keep = []
        for sentence, sentence_words in zip(para, para_words, strict=True):
            n = len(sentence_words)
            if sum(copied[at : at + n]) < COPIED_SHARE * max(n, 1):
                keep.append(sentence)
            at += n
        if keep:
            kept.append(" ".join(keep))
    return "\n\n".join(kept)
