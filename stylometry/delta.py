"""Burrows' Delta and Cosine Delta over z-scored word frequencies.

Frequencies are z-scored against a reference population (the author's and the impostors'
chunks) so that every word counts by how unusual its rate is, not by how common it is.
Cosine Delta (Smith & Aldridge 2011; Evert et al. 2017) compares the direction of the
z-profiles and is the strong baseline with a few hundred most-frequent words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

STD_FLOOR = 1e-9


def relative_frequencies(counts: Mapping[str, int], vocab: Sequence[str], total: int) -> np.ndarray:
    total = max(total, 1)
    return np.fromiter((counts.get(w, 0) for w in vocab), dtype=float, count=len(vocab)) / total


def zscores(freqs: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (freqs - mean) / np.maximum(std, STD_FLOOR)


def burrows_delta(z_text: np.ndarray, z_author: np.ndarray) -> float:
    """Mean absolute difference of z-scores (Burrows 2002)."""
    return float(np.mean(np.abs(z_text - z_author))) if z_text.size else 0.0


def cosine_delta(z_text: np.ndarray, z_author: np.ndarray) -> float:
    """1 - cosine similarity of the z-profiles (0 same direction, 2 opposite)."""
    norm = float(np.linalg.norm(z_text) * np.linalg.norm(z_author))
    if norm == 0.0:
        return 1.0
    return float(1.0 - np.dot(z_text, z_author) / norm)
