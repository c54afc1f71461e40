"""The reference population that z-scores are taken against.

Delta needs a population: a word's rate only means something relative to how much it varies
between texts. We use the chunks of the author and of the impostors (other writers, or
base-model generations), pick the most frequent words that both sides use (culling words
that only some impostor texts use, such as character names), and keep their means and
standard deviations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from stylometry.features import (
    Counts,
    Mode,
    char_frequencies,
    char_ngrams,
    derived_scalars,
    punctuation_rates,
)

N_MFW = 400
N_CHARS = 300
MIN_IMPOSTOR_DOC_FREQ = 0.3


class Reference(BaseModel):
    mode: str
    mfw: list[str]
    mfw_mean: list[float]
    mfw_std: list[float]
    chars: list[str]
    char_mean: list[float]
    char_std: list[float]
    punctuation_mean: dict[str, float]
    punctuation_std: dict[str, float]
    scalar_mean: dict[str, float]
    scalar_std: dict[str, float]


def _rel(counter: Counter, total: int) -> dict[str, float]:
    total = max(total, 1)
    return {k: v / total for k, v in counter.items()}


def _shared_top(author: Counter, impostor_units: Sequence[Counter], n: int) -> list[str]:
    """Most frequent items (author and impostors weighted equally) that the author uses and
    that appear in at least MIN_IMPOSTOR_DOC_FREQ of the impostor chunks."""
    pooled: Counter = Counter()
    df: Counter = Counter()
    for unit in impostor_units:
        pooled.update(unit)
        df.update(unit.keys())
    a = _rel(author, sum(author.values()))
    b = _rel(pooled, sum(pooled.values()))
    need = MIN_IMPOSTOR_DOC_FREQ * len(impostor_units)
    ranked = sorted((w for w in a if df[w] >= need), key=lambda w: (-(a[w] + b.get(w, 0.0)), w))
    return ranked[:n]


def _stats(rows: list[np.ndarray]) -> tuple[list[float], list[float]]:
    m = np.vstack(rows)
    return m.mean(axis=0).tolist(), m.std(axis=0, ddof=1).tolist()


def build_reference(
    author_total: Counts,
    population: Sequence[Counts],
    impostor_units: Sequence[Counts],
    mode: Mode,
) -> Reference:
    """Choose the word and character n-gram lists and their population statistics."""
    if len(population) < 3 or not impostor_units:
        raise ValueError("calibration needs at least 3 chunks and some impostor text")
    mfw = _shared_top(author_total.words, [u.words for u in impostor_units], N_MFW)
    imp_chars = [char_ngrams(u.words) for u in impostor_units]
    chars = _shared_top(char_ngrams(author_total.words), imp_chars, N_CHARS)
    word_rows = [
        np.array([u.words.get(w, 0) for w in mfw], float) / max(u.n_words, 1) for u in population
    ]
    char_rows = [char_frequencies(u, chars) for u in population]
    punct = [punctuation_rates(u) for u in population]
    scal = [derived_scalars(u, mode) for u in population]
    mfw_mean, mfw_std = _stats(word_rows)
    char_mean, char_std = _stats(char_rows)
    p_names, s_names = list(punct[0]), list(scal[0])
    p_mean, p_std = _stats([np.array([p[k] for k in p_names]) for p in punct])
    s_mean, s_std = _stats([np.array([s[k] for k in s_names]) for s in scal])
    return Reference(
        mode=mode,
        mfw=mfw,
        mfw_mean=mfw_mean,
        mfw_std=mfw_std,
        chars=chars,
        char_mean=char_mean,
        char_std=char_std,
        punctuation_mean=dict(zip(p_names, p_mean, strict=True)),
        punctuation_std=dict(zip(p_names, p_std, strict=True)),
        scalar_mean=dict(zip(s_names, s_mean, strict=True)),
        scalar_std=dict(zip(s_names, s_std, strict=True)),
    )
