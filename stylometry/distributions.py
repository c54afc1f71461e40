"""Distances between distributions (sentence lengths, paragraph lengths, dialogue shares).

Two writers can share a mean sentence length and still read differently (one steady, one
alternating fragments with long periodic sentences), so we compare whole distributions
with the 1-Wasserstein (earth mover's) distance over histograms."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np


def wasserstein(
    hist_a: Mapping[int, float],
    hist_b: Mapping[int, float],
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """W1 distance between two histograms {value: weight} (optionally on transformed values):
    the area between their cumulative distribution functions. 0.0 when either is empty."""
    support = np.array(sorted(set(hist_a) | set(hist_b)), dtype=float)
    wa = np.array([hist_a.get(int(v), 0) for v in support], dtype=float)
    wb = np.array([hist_b.get(int(v), 0) for v in support], dtype=float)
    if wa.sum() <= 0 or wb.sum() <= 0:
        return 0.0
    x = transform(support) if transform is not None else support
    cdf_gap = np.abs(np.cumsum(wa / wa.sum()) - np.cumsum(wb / wb.sum()))[:-1]
    return float(np.sum(cdf_gap * np.diff(x)))


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
