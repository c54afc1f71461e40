"""Calibrating the style score against impostors, so a number means something.

`calibrate(profile, author_texts, impostor_texts)`:

- `author_texts` are the author's chapters. Those the profile was built from are recognised
  by hash and scored *leave-one-out* (against the profile minus that chapter), so they act as
  unseen author text; the others (held-out chapters) are scored against the full profile.
- `impostor_texts` are other writers (a reference corpus) or base-model generations.

Texts are cut into 250-word units; for each length level (250 ... 5,000 words) consecutive
units form chunks. Per level we compute every distance for author and impostor chunks, then
fit (class-balanced logistic regression, numpy/scipy only): one curve per distance (the
per-part similarity) and one combined model with non-negative weights (the overall score,
P(author) x 100). Distances shrink as texts grow, so a text is scored with the level
closest to its length. Fitting uses leave-one-out author chunks and half of the impostor
texts; AUC and the threshold are measured on held-out chapters and the other half."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from scipy.optimize import minimize
from tqdm import tqdm

from stylometry.distances import DISTANCES, Prepared, distances, prepare
from stylometry.features import Counts, extract
from stylometry.profile import AuthorProfile, Calibration, LevelCalibration, text_hash
from stylometry.reference import build_reference
from stylometry.text import StyleInputError, chunk_paragraphs

UNIT_WORDS = 250
LEVELS = (250, 500, 1000, 2000, 5000)
POPULATION_LEVEL = 1000
MIN_CHUNKS = 6
MIN_EVAL_AUTHOR = 5
MAX_CHUNKS = 300  # per side and level
IMPOSTOR_WORDS_PER_TEXT = 40_000  # enough chunks per impostor; keeps `full` mode bearable
L2 = 0.01  # ridge on the weights; the loss is a class-balanced mean


@dataclass
class TextUnits:
    """One text cut into 250-word units, with the features of the whole text."""

    hash: str
    units: list[Counts]
    total: Counts
    _chunks: dict[int, list[Counts]] = field(default_factory=dict, repr=False)

    def chunks(self, words: int) -> list[Counts]:
        """Consecutive units summed into chunks of about `words` words (cached)."""
        k = max(1, round(words / UNIT_WORDS))
        if k not in self._chunks:
            self._chunks[k] = (
                self.units
                if k == 1
                else [
                    Counts.total(self.units[i : i + k])
                    for i in range(0, len(self.units) - k + 1, k)
                ]
            )
        return self._chunks[k]


def text_units(text: str, mode: str, max_words: int | None = None) -> TextUnits:
    """Cut a text into units; with max_words, only its first max_words words are used."""
    pieces = chunk_paragraphs(text, UNIT_WORDS)
    if max_words is not None:
        pieces = pieces[: max(1, max_words // UNIT_WORDS)]
        text = "\n\n".join(pieces)
    units = [extract(piece, mode) for piece in pieces]
    return TextUnits(text_hash(text), units, extract(text, mode))


def _spread(groups: list[list], cap: int) -> list:
    """Up to `cap` items taken round-robin across groups, so no single text dominates."""
    out: list = []
    depth = 0
    while len(out) < cap and any(depth < len(g) for g in groups):
        for g in groups:
            if depth < len(g) and len(out) < cap:
                out.append(g[depth])
        depth += 1
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[float, np.ndarray]:
    """P(y=1) = sigmoid(b - x @ w) with w >= 0 (more distance never means more author),
    classes weighted equally, L2 on w."""
    n_pos, n_neg = y.sum(), len(y) - y.sum()
    sw = np.where(y == 1, 0.5 / max(n_pos, 1), 0.5 / max(n_neg, 1))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, w = theta[0], theta[1:]
        p = _sigmoid(b - x @ w)
        eps = 1e-12
        nll = -np.sum(sw * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        r = sw * (p - y)  # d nll / d logit
        grad = np.concatenate([[np.sum(r)], -(x.T @ r) + 2 * l2 * w])
        return nll + l2 * float(w @ w), grad

    theta0 = np.zeros(x.shape[1] + 1)
    bounds = [(None, None)] + [(0.0, None)] * x.shape[1]
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    return float(res.x[0]), res.x[1:]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC as P(score of a positive > score of a negative), ties counted half."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def youden_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float, float]:
    """The score threshold maximising TPR - FPR: (threshold, tpr, fpr)."""
    candidates = np.unique(np.concatenate([pos, neg]))
    best = (50.0, 0.0, 0.0, -1.0)
    for i, t in enumerate(candidates):
        lower = candidates[i - 1] if i else t - 1.0
        cut = (lower + t) / 2 if i else t
        tpr = float(np.mean(pos >= cut))
        fpr = float(np.mean(neg >= cut))
        if tpr - fpr > best[3]:
            best = (float(cut), tpr, fpr, tpr - fpr)
    return best[0], best[1], best[2]


def transform(d: dict[str, float], lv: LevelCalibration) -> np.ndarray:
    """Distances -> standardised log-distances, in DISTANCES order."""
    return np.array(
        [(math.log(d[k] + lv.offset[k]) - lv.center[k]) / lv.scale[k] for k in DISTANCES]
    )


def _fit_level(
    words: int,
    fit_pos: list[dict],
    fit_neg: list[dict],
    eval_pos: list[dict],
    eval_neg: list[dict],
    evaluated_on: str,
) -> LevelCalibration:
    all_d = fit_pos + fit_neg
    offset = {k: 0.05 * float(np.median([d[k] for d in all_d])) + 1e-9 for k in DISTANCES}
    logs = {k: np.log(np.array([d[k] for d in all_d]) + offset[k]) for k in DISTANCES}
    center = {k: float(v.mean()) for k, v in logs.items()}
    scale = {k: float(v.std()) or 1.0 for k, v in logs.items()}
    lv = LevelCalibration(
        words=words,
        offset=offset,
        center=center,
        scale=scale,
        feature_fits={},
        weights={},
        bias=0.0,
        auc=0.0,
        threshold=50.0,
        true_positive_rate=0.0,
        false_positive_rate=0.0,
        author_median=0.0,
        impostor_median=0.0,
        n_author=len(eval_pos),
        n_impostor=len(eval_neg),
        evaluated_on=evaluated_on,
    )
    x = np.vstack([transform(d, lv) for d in all_d])
    y = np.array([1] * len(fit_pos) + [0] * len(fit_neg), dtype=float)
    for j, k in enumerate(DISTANCES):
        b, w = fit_logistic(x[:, [j]], y)
        lv.feature_fits[k] = (b, float(w[0]))
    b, w = fit_logistic(x, y)
    lv.bias, lv.weights = b, {k: float(v) for k, v in zip(DISTANCES, w, strict=True)}
    pos = np.array([overall_score(transform(d, lv), lv) for d in eval_pos])
    neg = np.array([overall_score(transform(d, lv), lv) for d in eval_neg])
    lv.auc = auc(pos, neg)
    lv.threshold, lv.true_positive_rate, lv.false_positive_rate = youden_threshold(pos, neg)
    lv.author_median, lv.impostor_median = float(np.median(pos)), float(np.median(neg))
    return lv


def overall_score(x: np.ndarray, lv: LevelCalibration) -> float:
    w = np.array([lv.weights[k] for k in DISTANCES])
    return float(100 * _sigmoid(np.array(lv.bias - x @ w)))


def part_score(name: str, x_j: float, lv: LevelCalibration) -> float:
    b, w = lv.feature_fits[name]
    return float(100 * _sigmoid(np.array(b - w * x_j)))


def calibrate(
    profile: AuthorProfile,
    author_texts: Sequence[str],
    impostor_texts: Sequence[str],
    progress: bool = False,
) -> AuthorProfile:
    """Return a copy of the profile with its calibration attached (see the module docstring)."""
    if not impostor_texts:
        raise StyleInputError(
            "calibration needs impostor text: other writers (a reference corpus folder "
            "DIR/<author>/*.txt) or base-model generations"
        )
    bar = tqdm(
        total=len(author_texts) + len(impostor_texts),
        desc="calibrate",
        disable=not progress,
        unit="text",
    )

    def units(texts: Sequence[str], max_words: int | None = None) -> list[TextUnits]:
        out = []
        for t in texts:
            out.append(text_units(t, profile.mode, max_words))
            bar.update()
        return out

    author = units(author_texts)
    impostors = units(impostor_texts, IMPOSTOR_WORDS_PER_TEXT)
    bar.close()
    return calibrate_units(profile, author, impostors)


def calibrate_units(
    profile: AuthorProfile, author: list[TextUnits], impostors: list[TextUnits]
) -> AuthorProfile:
    """`calibrate` on texts already cut into units (the benchmark reuses them)."""
    total = profile.counts()
    sources = set(profile.source_hashes)
    loo_by_text = len(sources) > 1
    impostors = [t for t in impostors if t.units]
    if not impostors:
        raise StyleInputError("impostor texts are too short to calibrate (under 125 words each)")

    # z-score population: the profile's own texts (held-out chapters stay unseen) + impostors
    own = [t for t in author if t.hash in sources] or author
    pop_level = POPULATION_LEVEL
    pop_author = [c for t in own for c in t.chunks(pop_level)]
    pop_imp = _spread([t.chunks(pop_level) for t in impostors], MAX_CHUNKS)
    if len(pop_author) + len(pop_imp) < 3 * MIN_CHUNKS or len(pop_imp) < MIN_CHUNKS:
        pop_level = UNIT_WORDS
        pop_author = [u for t in own for u in t.units]
        pop_imp = _spread([t.units for t in impostors], MAX_CHUNKS)
    ref = build_reference(total, pop_author + pop_imp, pop_imp, profile.mode)
    full_view = prepare(total, ref)
    views: dict[str, Prepared] = {}

    def author_distances(t: TextUnits, chunk: Counts) -> dict[str, float]:
        if t.hash not in sources:
            return distances(prepare(chunk, ref), full_view)
        if loo_by_text:
            view = views.get(t.hash)
            if view is None:
                view = views[t.hash] = prepare(total - t.total, ref)
        else:
            view = prepare(total - chunk, ref)
        return distances(prepare(chunk, ref), view)

    levels = []
    for words in LEVELS:
        loo = [[(t, c) for c in t.chunks(words)] for t in author if t.hash in sources]
        held = [[(t, c) for c in t.chunks(words)] for t in author if t.hash not in sources]
        fit_pos_items = _spread(loo, MAX_CHUNKS) or _spread(held, MAX_CHUNKS)
        held_items = _spread(held, MAX_CHUNKS)
        imp_chunks = [t.chunks(words) for t in impostors]
        fit_neg_c = _spread(imp_chunks[0::2], MAX_CHUNKS)
        eval_neg_c = _spread(imp_chunks[1::2], MAX_CHUNKS) or fit_neg_c
        if len(fit_pos_items) < MIN_CHUNKS or len(fit_neg_c) < MIN_CHUNKS:
            continue
        fit_pos = [author_distances(t, c) for t, c in fit_pos_items]
        fit_neg = [distances(prepare(c, ref), full_view) for c in fit_neg_c]
        eval_neg = (
            fit_neg
            if eval_neg_c is fit_neg_c
            else [distances(prepare(c, ref), full_view) for c in eval_neg_c]
        )
        held_d = [author_distances(t, c) for t, c in held_items]
        if len(held_d) >= MIN_EVAL_AUTHOR:
            eval_pos, what = held_d, f"{len(held_d)} held-out author chunks"
        elif loo and held_d:
            eval_pos = held_d + fit_pos
            what = f"{len(held_d)} held-out + {len(fit_pos)} leave-one-out author chunks"
        else:
            eval_pos, what = fit_pos, f"{len(fit_pos)} leave-one-out author chunks"
        what += f" vs {len(eval_neg)} impostor chunks"
        if eval_neg_c is not fit_neg_c:
            what += " from impostor texts not used for fitting"
        levels.append(_fit_level(words, fit_pos, fit_neg, eval_pos, eval_neg, what))
    if not levels:
        raise StyleInputError(
            f"profile {profile.name!r}: not enough text to calibrate (need at least "
            f"{MIN_CHUNKS * UNIT_WORDS} words of the author and of impostors)"
        )
    digest = hashlib.sha256("".join(t.hash for t in impostors).encode()).hexdigest()
    calibration = Calibration(
        reference=ref,
        levels=levels,
        impostor_texts=len(impostors),
        impostor_words=sum(t.total.n_words for t in impostors),
        impostor_hash=digest,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return profile.model_copy(update={"calibration": calibration})
