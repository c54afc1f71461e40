"""Closed-set attribution by a linear SVM over z-scored word and character n-gram rates.

Delta compares a text with each author's centroid; with only two or three training books
per author, one book in an unusual register pulls the centroid away. A discriminative
linear model trained on many chunks of the training books learns which features separate
the candidates (the classic SVM-on-MFW setup of the attribution literature), and is far
less sensitive to that. Everything (feature lists, z-score statistics, weights) comes from
the training books only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.svm import LinearSVC

from stylometry.calibration import TextUnits
from stylometry.features import Counts, char_ngrams
from stylometry.vectors import GRAM_SIZES

N_WORDS = 1000  # most frequent words, culled
N_CHARS = 2000  # most frequent character 3- and 4-grams, culled
WORD_CULL = 0.5  # a word must occur in at least half of the training books (drops names)
CHAR_CULL = 1.0  # a character n-gram in every training book
TRAIN_WORDS = 2000  # training chunk length
STATS_WORDS = 5000  # chunk length of the z-score population
SVM_C = 0.01  # strong regularisation: many correlated features, few books


def _rates(table: Counter, items: Sequence[str]) -> np.ndarray:
    total = max(sum(table.values()), 1)
    return np.fromiter((table.get(k, 0) for k in items), dtype=float, count=len(items)) / total


def _top(tables: dict[str, list[Counter]], n: int, cull: float) -> list[str]:
    """Items ranked by their mean rate over authors (each author weighted equally), kept if
    they occur in at least `cull` of all training books."""
    books = [t for ts in tables.values() for t in ts]
    df: Counter = Counter()
    for t in books:
        df.update(t.keys())
    mean: Counter = Counter()
    for ts in tables.values():
        pooled: Counter = Counter()
        for t in ts:
            pooled.update(t)
        total = sum(pooled.values())
        for k, v in pooled.items():
            mean[k] += v / total
    need = cull * len(books)
    return sorted((k for k in mean if df[k] >= need), key=lambda k: (-mean[k], k))[:n]


def _chunks(book: TextUnits, words: int) -> list[Counts]:
    """The book's chunks of about `words` words; a shorter book is one chunk."""
    return book.chunks(words) or [book.total]


class AttributionClassifier:
    """Fit on candidates' training books; `decision(counts)` ranks the candidates."""

    def __init__(self, training: dict[str, list[TextUnits]]) -> None:
        if len(training) < 2:
            raise ValueError("attribution needs at least two candidate authors")
        self.authors = sorted(training)
        books = {a: [b.total for b in training[a]] for a in self.authors}
        self.words = _top({a: [c.words for c in cs] for a, cs in books.items()}, N_WORDS, WORD_CULL)
        self.chars = _top(
            {a: [char_ngrams(c.words, GRAM_SIZES) for c in cs] for a, cs in books.items()},
            N_CHARS,
            CHAR_CULL,
        )
        population = [c for a in self.authors for b in training[a] for c in _chunks(b, STATS_WORDS)]
        raw = np.vstack([self._raw(c) for c in population])
        self.mean, self.std = raw.mean(axis=0), np.maximum(raw.std(axis=0), 1e-12)
        x, y = [], []
        for i, a in enumerate(self.authors):
            for b in training[a]:
                for c in _chunks(b, TRAIN_WORDS):
                    x.append(self._z(c))
                    y.append(i)
        self.model = LinearSVC(C=SVM_C, max_iter=10_000).fit(np.vstack(x), np.array(y))

    def _raw(self, c: Counts) -> np.ndarray:
        return np.concatenate(
            [_rates(c.words, self.words), _rates(char_ngrams(c.words, GRAM_SIZES), self.chars)]
        )

    def _z(self, c: Counts) -> np.ndarray:
        return (self._raw(c) - self.mean) / self.std

    def decision(self, counts: Counts) -> dict[str, float]:
        """One value per candidate, higher = more likely the author."""
        d = self.model.decision_function(self._z(counts)[None, :])[0]
        if len(self.authors) == 2:  # binary SVM: one margin for the second class
            d = np.array([-d, d]) if np.ndim(d) == 0 else d
        return {a: float(v) for a, v in zip(self.authors, np.atleast_1d(d), strict=True)}
