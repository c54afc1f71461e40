"""Distances between distributions (sentence lengths, paragraph lengths, dialogue shares).

Two writers can share a mean sentence length and still read differently (one steady, one
alternating fragments with long periodic sentences), so we compare whole distributions
with the 1-Wasserstein (earth mover's) distance over histograms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Histogram:
    """A histogram as sorted support values and its cumulative distribution."""

    values: np.ndarray
    cdf: np.ndarray

    @classmethod
    def of(
        cls, hist: Mapping[int, float], transform: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> Histogram:
        items = sorted((k, v) for k, v in hist.items() if v > 0)
        values = np.array([k for k, _ in items], dtype=float)
        weights = np.array([v for _, v in items], dtype=float)
        if transform is not None:
            values = transform(values)
        total = weights.sum()
        return cls(values, np.cumsum(weights) / total if total > 0 else weights)


def wasserstein(a: Histogram, b: Histogram) -> float:
    """W1 distance: the area between the two cumulative distribution functions.
    0.0 when either histogram is empty."""
    if a.values.size == 0 or b.values.size == 0:
        return 0.0
    x = np.union1d(a.values, b.values)
    fa = np.concatenate([[0.0], a.cdf])[np.searchsorted(a.values, x, side="right")]
    fb = np.concatenate([[0.0], b.cdf])[np.searchsorted(b.values, x, side="right")]
    return float(np.sum(np.abs(fa - fb)[:-1] * np.diff(x)))


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
