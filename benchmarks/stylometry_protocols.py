"""The evaluation protocols of the stylometry benchmark and the figures of each method.

Rotation (leave one book out): split r holds out every author's r-th book; profiles come
from the other books and are calibrated against the other candidates' training books.
Leave authors out: the authors are dealt into two halves; one half is only ever the
impostors a profile is calibrated against, the other half is both the candidates and the
impostors at test time, so nothing the score fitted has seen a test author as an impostor.
Every held-out sample is scored against every candidate profile: top-1 is the best-scoring
profile, AUC pools all (sample, profile) pairs with "same author" as the positive class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stylometry.calibration import TextUnits, calibrate_units
from stylometry.classifier import AttributionClassifier
from stylometry.features import Counts
from stylometry.metrics import auc, balanced_brier, balanced_c_at_1, reliability
from stylometry.profile import AuthorProfile, data_hash, profile_from_counts
from stylometry.score import score_counts

# the score, then its own components (distances, higher = closer after negation)
COMPONENTS = {
    "cosine_delta": "cosine_delta",
    "burrows_delta": "burrows_delta",
    "char_ngrams": "char_ngrams",
    "sentence_length": "sentence_lengths",
}


@dataclass
class Corpus:
    books: dict[str, dict[str, str]]  # author -> book -> text
    units: dict[str, dict[str, TextUnits]]
    samples: dict[tuple[str, str, int], list[tuple[str, Counts]]]  # (author, book, words)


@dataclass
class Split:
    """Candidates, their training books, the impostor books they are calibrated against."""

    label: str
    held: dict[str, str]  # candidate -> held-out book
    train: dict[str, list[str]]  # candidate -> training books
    impostors: dict[str, list[str]] | None = None  # None: the other candidates' training books


@dataclass
class Scored:
    """Per length: value matrices [sample, candidate] per method and the true column."""

    values: dict[int, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    truth: dict[int, list[np.ndarray]] = field(default_factory=dict)
    per_author: dict[int, list[dict[str, str]]] = field(default_factory=dict)


def rotation_splits(books: dict[str, dict[str, str]]) -> list[Split]:
    named = {a: sorted(b) for a, b in books.items() if len(b) >= 2}
    out = []
    for r in range(max((len(n) for n in named.values()), default=0)):
        held = {a: n[r] for a, n in named.items() if r < len(n)}
        if len(held) >= 2:
            train = {a: [b for b in sorted(books[a]) if b != held.get(a)] for a in books}
            out.append(Split(f"rotation {r + 1}", held, train))
    return out


def leave_authors_out_splits(books: dict[str, dict[str, str]]) -> list[Split]:
    """Two halves (authors dealt alternately by name); each half is tested once with the
    other half as the only impostors; the held-out book rotates with the half."""
    authors = sorted(a for a, b in books.items() if len(b) >= 2)
    halves = [authors[0::2], authors[1::2]]
    out = []
    for i, (test, imp) in enumerate([(halves[0], halves[1]), (halves[1], halves[0])]):
        held = {a: sorted(books[a])[-1 - i % len(books[a])] for a in test}
        train = {a: [b for b in sorted(books[a]) if b != held[a]] for a in test}
        impostors = {a: sorted(books[a]) for a in imp}
        out.append(Split(f"leave authors out {i + 1}", held, train, impostors))
    return out


def _profile(name: str, corpus: Corpus, names: list[str], mode: str) -> AuthorProfile:
    books = [corpus.units[name][n] for n in names]
    texts = [corpus.books[name][n] for n in names]
    return profile_from_counts(
        name, mode, [b.hash for b in books], data_hash(texts, mode), [b.total for b in books]
    )


def calibrated_profiles(corpus: Corpus, split: Split, mode: str) -> dict[str, AuthorProfile]:
    out = {}
    for a in sorted(split.train):
        pool = split.impostors or {b: split.train[b] for b in split.train if b != a}
        imp = [(b, corpus.units[b][n]) for b in sorted(pool) for n in pool[b]]
        own = [corpus.units[a][n] for n in split.train[a]]
        prof = _profile(a, corpus, split.train[a], mode)
        out[a] = calibrate_units(prof, own, [u for _, u in imp], [b for b, _ in imp])
    return out


def faststylometry_delta(train: dict[str, list[str]], samples: list[str]) -> np.ndarray:
    """faststylometry's Burrows' Delta (its defaults: 50 words, pronouns removed):
    matrix [sample, author] (lower = closer)."""
    from faststylometry import Corpus as FsCorpus
    from faststylometry import calculate_burrows_delta, tokenise_remove_pronouns_en

    train_corpus = FsCorpus()
    for author, books in train.items():
        for i, text in enumerate(books):
            train_corpus.add_book(author, f"{author}_{i}", text)
    test_corpus = FsCorpus()
    keys = [f"sample{i:04d}" for i in range(len(samples))]
    for key, text in zip(keys, samples, strict=True):
        test_corpus.add_book(key, key, text)
    train_corpus.tokenise(tokenise_remove_pronouns_en)
    test_corpus.tokenise(tokenise_remove_pronouns_en)
    df = calculate_burrows_delta(train_corpus, test_corpus)
    return df.loc[list(train), [f"{k} - {k}" for k in keys]].to_numpy().T


def _score_matrix(
    samples: list[tuple[str, Counts]], profiles: dict[str, AuthorProfile]
) -> dict[str, np.ndarray]:
    """The score (as calibrated log-odds) and its components for every (sample, profile)."""
    names = sorted(profiles)
    out = {m: np.zeros((len(samples), len(names))) for m in ["inkwell", *COMPONENTS]}
    for i, (_, counts) in enumerate(samples):
        for j, a in enumerate(names):
            r = score_counts(counts, profiles[a])
            out["inkwell"][i, j] = r.log_odds  # ranks without ties; sigmoid = the score
            for m, d in COMPONENTS.items():
                out[m][i, j] = -r.distances[d]
    return out


def evaluate_split(
    corpus: Corpus, split: Split, mode: str, lengths: Sequence[int], into: Scored
) -> None:
    """Calibrate the split's profiles, score every held-out sample at every length with every
    method, and add the value matrices to `into`."""
    profiles = calibrated_profiles(corpus, split, mode)
    names = sorted(split.train)
    svm = AttributionClassifier({a: [corpus.units[a][n] for n in split.train[a]] for a in names})
    by_len = {
        w: [s for a, b in sorted(split.held.items()) for s in corpus.samples[(a, b, w)]]
        for w in lengths
    }
    fs_all = faststylometry_delta(
        {a: [corpus.books[a][n] for n in split.train[a]] for a in names},
        [text for w in lengths for text, _ in by_len[w]],
    )
    start = 0
    for w in lengths:
        samples = by_len[w]
        owners = [a for a, b in sorted(split.held.items()) for _ in corpus.samples[(a, b, w)]]
        truth = np.array([names.index(a) for a in owners])
        values = _score_matrix(samples, profiles)
        values["svm_words_chars"] = np.array([list(svm.decision(c).values()) for _, c in samples])
        values["faststylometry_burrows_delta"] = -fs_all[start : start + len(samples)]
        start += len(samples)
        for m, v in values.items():
            into.values.setdefault(w, {}).setdefault(m, []).append(v)
        into.truth.setdefault(w, []).append(truth)
        right = values["inkwell"].argmax(axis=1) == truth
        into.per_author.setdefault(w, []).append(
            {a: f"{int(right[np.array(owners) == a].sum())}/{owners.count(a)}" for a in split.held}
        )


def method_figures(scored: Scored, words: int) -> dict[str, dict]:
    """top-1 and pooled AUC per method; c@1, Brier and the reliability bins for the score."""
    out = {}
    for m, parts in scored.values[words].items():
        top1 = np.concatenate(
            [v.argmax(axis=1) == t for v, t in zip(parts, scored.truth[words], strict=True)]
        )
        pos, neg = [], []
        for v, t in zip(parts, scored.truth[words], strict=True):
            mask = np.zeros_like(v, dtype=bool)
            mask[np.arange(len(t)), t] = True
            pos.append(v[mask])
            neg.append(v[~mask])
        p, n = np.concatenate(pos), np.concatenate(neg)
        fig = {"top1": round(float(top1.mean()), 4), "auc": round(auc(p, n), 4)}
        if m == "inkwell":
            p, n = 1 / (1 + np.exp(-p)), 1 / (1 + np.exp(-n))
            fig["c_at_1"] = round(balanced_c_at_1(p, n), 4)
            fig["brier"] = round(balanced_brier(p, n), 4)
            fig["reliability"] = reliability(p, n)
        out[m] = fig
    return out
