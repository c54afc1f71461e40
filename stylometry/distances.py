"""Per-feature distances between a text and an author, the inputs of the style score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stylometry.delta import burrows_delta, cosine_delta, relative_frequencies, zscores
from stylometry.distributions import Histogram, wasserstein
from stylometry.features import Counts, char_frequencies, derived_scalars, punctuation_rates
from stylometry.reference import Reference

BURROWS_MFW = 150  # Burrows' classic setting; Cosine Delta uses the whole list

# distance name -> the part of the report it feeds
PART_OF = {
    "cosine_delta": "vocabulary",
    "burrows_delta": "vocabulary",
    "char_ngrams": "vocabulary",
    "sentence_lengths": "sentence_lengths",
    "paragraph_lengths": "paragraph_structure",
    "dialogue": "dialogue",
    "punctuation": "punctuation",
    "readability_pacing": "readability_pacing",
}
DISTANCES = tuple(PART_OF)


@dataclass
class Prepared:
    """A text (or an author's totals) reduced to what the distances compare."""

    counts: Counts
    z_words: np.ndarray
    z_chars: np.ndarray
    z_punct: np.ndarray
    z_scalars: np.ndarray
    sentences: Histogram
    paragraphs: Histogram
    dialogue: Histogram


def prepare(c: Counts, ref: Reference) -> Prepared:
    z_words = zscores(
        relative_frequencies(c.words, ref.mfw, c.n_words),
        np.array(ref.mfw_mean),
        np.array(ref.mfw_std),
    )
    z_chars = zscores(
        char_frequencies(c, ref.chars), np.array(ref.char_mean), np.array(ref.char_std)
    )
    p = punctuation_rates(c)
    z_punct = zscores(
        np.array([p[k] for k in ref.punctuation_mean]),
        np.array(list(ref.punctuation_mean.values())),
        np.array(list(ref.punctuation_std.values())),
    )
    s = derived_scalars(c, ref.mode)
    z_scalars = zscores(
        np.array([s[k] for k in ref.scalar_mean]),
        np.array(list(ref.scalar_mean.values())),
        np.array(list(ref.scalar_std.values())),
    )
    return Prepared(
        c,
        z_words,
        z_chars,
        z_punct,
        z_scalars,
        Histogram.of(c.sentence_lengths),
        Histogram.of(c.paragraph_lengths, np.log1p),
        Histogram.of(c.dialogue),
    )


def distances(text: Prepared, author: Prepared) -> dict[str, float]:
    """Every distance is >= 0 and 0 for identical features."""
    return {
        "cosine_delta": cosine_delta(text.z_words, author.z_words),
        "burrows_delta": burrows_delta(text.z_words[:BURROWS_MFW], author.z_words[:BURROWS_MFW]),
        "char_ngrams": cosine_delta(text.z_chars, author.z_chars),
        "sentence_lengths": wasserstein(text.sentences, author.sentences),
        "paragraph_lengths": wasserstein(text.paragraphs, author.paragraphs),
        "dialogue": wasserstein(text.dialogue, author.dialogue),
        "punctuation": float(np.mean(np.abs(text.z_punct - author.z_punct))),
        "readability_pacing": float(np.mean(np.abs(text.z_scalars - author.z_scalars))),
    }
