"""Word and character n-gram rates of many text chunks at once, as sparse matrices.

Calibration compares hundreds of chunks at six lengths; building a Python table per chunk
would dominate its time. Each 100-word unit becomes a sparse row of word-type counts once;
character n-grams (3- and 4-grams of each word with its boundary spaces, weighted by the
word's count) follow by one sparse product with a type-to-gram matrix, and chunks are sums
of consecutive unit rows.

Grams can also be taken from the text after distortion (Stamatatos 2017, "Authorship
attribution using text distortion"): every word outside a kept set of frequent words shows
only its length ("*****"), so its grams say how long the rare words are and where they sit,
not what they are about: a topic-free view of the same units."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from stylometry.features import PUNCTUATION, Counts, word_grams

GRAM_SIZES = (3, 4)  # character n-grams of each word with its boundary spaces
MASK = "*"


def grams_of(word: str, kept: frozenset[str] | None = None) -> tuple[str, ...]:
    """The word's grams; with `kept` (distortion), a word outside it is masked first."""
    if kept is None or word in kept:
        return word_grams(word, GRAM_SIZES)
    return word_grams(MASK * len(word), GRAM_SIZES)


class UnitMatrix:
    """Word-type counts of many units (rows), and their character n-gram counts."""

    def __init__(self, units: Sequence[Counts]) -> None:
        index: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for r, u in enumerate(units):
            for w, k in u.words.items():
                rows.append(r)
                cols.append(index.setdefault(w, len(index)))
                vals.append(k)
        self.types = list(index)
        self.words = sparse.csr_matrix(
            (vals, (rows, cols)), shape=(len(units), len(index)), dtype=np.float64
        )
        self.n_words = np.asarray(self.words.sum(axis=1)).ravel()
        self.marks = np.array([[u.punctuation.get(k, 0) for k in PUNCTUATION] for u in units])
        self._grams(None)

    def distorted(self, kept: frozenset[str]) -> UnitMatrix:
        """The same units with their grams taken from the distorted text (words shared)."""
        view = copy.copy(self)
        view._grams(kept)
        return view

    def _grams(self, kept: frozenset[str] | None) -> None:
        gram_index: dict[str, int] = {}
        g_rows, g_cols = [], []
        for t, w in enumerate(self.types):
            for g in grams_of(w, kept):
                g_rows.append(t)
                g_cols.append(gram_index.setdefault(g, len(gram_index)))
        self.grams = list(gram_index)
        type_grams = sparse.csr_matrix(
            (np.ones(len(g_rows)), (g_rows, g_cols)), shape=(len(self.types), len(gram_index))
        )
        self.chars = (self.words @ type_grams).tocsr()
        self.n_grams = np.asarray(self.chars.sum(axis=1)).ravel()

    def totals(self, groups: Sequence[tuple[int, int]]):
        """Word and gram counts summed over unit ranges [start, end) (e.g. whole texts)."""
        agg = _aggregator(groups, self.words.shape[0])
        return (agg @ self.words).tocsr(), (agg @ self.chars).tocsr()

    def rates(self, groups: Sequence[tuple[int, int]], words: list[int], chars: list[int]):
        """Rates of the chosen word and gram columns in chunks = unit ranges [start, end)."""
        agg = _aggregator(groups, self.words.shape[0])
        w = (agg @ self.words[:, words]).toarray() / np.maximum(agg @ self.n_words, 1)[:, None]
        c = (agg @ self.chars[:, chars]).toarray() / np.maximum(agg @ self.n_grams, 1)[:, None]
        m = (agg @ self.marks) / np.maximum(agg @ self.n_words, 1)[:, None]
        return np.hstack([w, c, m])


def _aggregator(groups: Sequence[tuple[int, int]], n_units: int) -> sparse.csr_matrix:
    rows = [i for i, (s, e) in enumerate(groups) for _ in range(s, e)]
    cols = [j for s, e in groups for j in range(s, e)]
    return sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(groups), n_units), dtype=np.float64
    )


def text_rates(
    c: Counts, words: Sequence[str], chars: dict[str, int], kept: frozenset[str] | None = None
) -> np.ndarray:
    """The same rates for one text (scoring): words by lookup, grams from its word types
    (distorted with `kept`), punctuation marks per word."""
    total = max(c.n_words, 1)
    w = np.fromiter((c.words.get(x, 0) for x in words), dtype=float, count=len(words)) / total
    grams = np.zeros(len(chars))
    n_grams = 0
    for word, k in c.words.items():
        gs = grams_of(word, kept)
        n_grams += k * len(gs)
        for g in gs:
            j = chars.get(g)
            if j is not None:
                grams[j] += k
    marks = np.fromiter((c.punctuation.get(k, 0) for k in PUNCTUATION), dtype=float) / total
    return np.concatenate([w, grams / max(n_grams, 1), marks])


def top_columns(
    totals: sparse.csr_matrix, author_rows: list[int], impostor_rows: list[int], n: int
) -> list[int]:
    """Columns ranked by author rate + pooled impostor rate (weighted equally), kept only if
    the author uses them and at least half of the impostor texts do (drops names)."""
    a = np.asarray(totals[author_rows].sum(axis=0)).ravel()
    imp = totals[impostor_rows]
    b = np.asarray(imp.sum(axis=0)).ravel()
    df = np.asarray((imp > 0).sum(axis=0)).ravel()
    keep = (a > 0) & (df >= 0.5 * len(impostor_rows))
    rank = a / max(a.sum(), 1) + b / max(b.sum(), 1)
    rank[~keep] = -1
    order = np.argsort(-rank, kind="stable")[:n]
    return [int(j) for j in order if rank[j] > 0]


def chunk_ranges(unit_words: Sequence[int], words: int, start: int = 0) -> list[tuple[int, int]]:
    """Consecutive units grouped until each group has at least `words` words, as ranges
    [start, end) offset by `start`; a last group short of it is dropped."""
    out, begin, count = [], 0, 0
    for i, n in enumerate(unit_words):
        count += n
        if count >= words:
            out.append((start + begin, start + i + 1))
            begin, count = i + 1, 0
    return out
