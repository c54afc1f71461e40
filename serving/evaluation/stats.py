"""Bootstrap intervals over prompts: the unit that varies between evaluations is the prompt,
so prompts are resampled (seeds are averaged within a prompt first)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel


class Interval(BaseModel):
    mean: float
    low: float
    high: float


def bootstrap_mean(
    values: Sequence[float], *, samples: int, confidence: float, seed: int = 0
) -> Interval:
    """Percentile bootstrap interval of the mean."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("bootstrap of no values")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(samples, data.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    return Interval(
        mean=float(data.mean()),
        low=float(np.quantile(means, alpha)),
        high=float(np.quantile(means, 1.0 - alpha)),
    )


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, samples: int, confidence: float, seed: int = 0
) -> Interval:
    """Mean of a - b over paired prompts, with a one-sided lower bound at `confidence`
    (`low`) and the matching upper bound (`high`)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length ({len(a)} vs {len(b)})")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(samples, diff.size))].mean(axis=1)
    return Interval(
        mean=float(diff.mean()),
        low=float(np.quantile(means, 1.0 - confidence)),
        high=float(np.quantile(means, confidence)),
    )
