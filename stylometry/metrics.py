"""Figures of a score's quality: AUC, the Youden threshold, c@1 and the Brier score."""

from __future__ import annotations

import numpy as np


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC as P(score of a positive > score of a negative), ties counted half."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.sort(neg)
    below = np.searchsorted(order, pos, side="left")
    ties = np.searchsorted(order, pos, side="right") - below
    return float(np.mean(below + 0.5 * ties) / len(neg))


def youden_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float, float]:
    """The score threshold maximising TPR - FPR: (threshold, tpr, fpr)."""
    candidates = np.unique(np.concatenate([pos, neg]))
    best = (50.0, 0.0, 0.0, -1.0)
    for i, t in enumerate(candidates):
        cut = (candidates[i - 1] + t) / 2 if i else t
        tpr = float(np.mean(pos >= cut))
        fpr = float(np.mean(neg >= cut))
        if tpr - fpr > best[3]:
            best = (float(cut), tpr, fpr, tpr - fpr)
    return best[0], best[1], best[2]


def balanced_c_at_1(p_pos: np.ndarray, p_neg: np.ndarray) -> float:
    """c@1 (Peñas & Rodrigo 2011) of probabilities, answering "same author" above 0.5, "not"
    below and abstaining at exactly 0.5; both classes weigh the same (pairs are 1 : n-1)."""
    w_pos, w_neg = 0.5 / len(p_pos), 0.5 / len(p_neg)
    right = w_pos * np.sum(p_pos > 0.5) + w_neg * np.sum(p_neg < 0.5)
    unanswered = w_pos * np.sum(p_pos == 0.5) + w_neg * np.sum(p_neg == 0.5)
    return float(right + unanswered * right)


def balanced_brier(p_pos: np.ndarray, p_neg: np.ndarray) -> float:
    """Mean squared error of the probability, each class weighted equally (the score is
    calibrated at even odds: author or impostor)."""
    return float(0.5 * np.mean((1 - p_pos) ** 2) + 0.5 * np.mean(p_neg**2))


def reliability(p_pos: np.ndarray, p_neg: np.ndarray, bins: int = 10) -> list[dict]:
    """Per probability bin: mean predicted probability and the class-balanced share of
    same-author pairs (what a reliability diagram plots)."""
    p = np.concatenate([p_pos, p_neg])
    y = np.concatenate([np.ones(len(p_pos)), np.zeros(len(p_neg))])
    w_pos, w_neg = 0.5 / len(p_pos), 0.5 / len(p_neg)
    w = np.concatenate([np.full(len(p_pos), w_pos), np.full(len(p_neg), w_neg)])
    idx = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        if m.any():
            out.append(
                {
                    "predicted": float(np.average(p[m], weights=w[m])),
                    "observed": float(np.average(y[m], weights=w[m])),
                    "pairs": int(m.sum()),
                }
            )
    return out
