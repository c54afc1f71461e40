"""Distances between distributions (sentence lengths, paragraph lengths, dialogue shares).

Two writers can share a mean sentence length and still read differently (one steady, one
alternating fragments with long periodic sentences), so we compare whole distributions
with the 1-Wasserstein (earth mover's) distance over histograms."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.stats import wasserstein_distance


def wasserstein(
    hist_a: Mapping[int, float],
    hist_b: Mapping[int, float],
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """W1 distance between two histograms {value: weight}; 0.0 when either is empty."""
    a = {k: v for k, v in hist_a.items() if v > 0}
    b = {k: v for k, v in hist_b.items() if v > 0}
    if not a or not b:
        return 0.0
    va = np.fromiter(a.keys(), dtype=float)
    vb = np.fromiter(b.keys(), dtype=float)
    if transform is not None:
        va, vb = transform(va), transform(vb)
    return float(wasserstein_distance(va, vb, list(a.values()), list(b.values())))


def median(hist: Mapping[int, float]) -> float:
    """Weighted median of a histogram (for explanations)."""
    items = sorted((k, v) for k, v in hist.items() if v > 0)
    if not items:
        return 0.0
    total = sum(v for _, v in items)
    acc = 0.0
    for k, v in items:
        acc += v
        if acc >= total / 2:
            return float(k)
    return float(items[-1][0])
