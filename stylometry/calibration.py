"""Calibrating the style score against impostors, so a number means something.

`calibrate(profile, author_texts, impostor_texts)`: `author_texts` are the author's chapters,
`impostor_texts` other writers (a reference corpus) or base-model generations. Texts are cut
into 100-word units; chunks of 200 ... 5,000 words are runs of consecutive units.

The overall score is the verification model of verifier.py (the author's word and character
n-gram rates against the impostors'), calibrated per length: a Platt curve whose bias and
slope are linear in log(length), fitted on the out-of-fold margins of every length at once,
turns a margin into P(author) x 100, and each length's margins give the AUC and threshold
the report shows. Distances shrink as texts grow, so a text is scored with the
level closest to its length. The parts of the report (vocabulary, sentence lengths, ...) are
per-distance logistic curves, with the author's chunks scored leave-one-out against the
profile; they explain the score and do not enter it."""

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
from stylometry.metrics import auc, youden_threshold
from stylometry.profile import AuthorProfile, Calibration, LevelCalibration, text_hash
from stylometry.reference import build_reference
from stylometry.text import StyleInputError, chunk_paragraphs
from stylometry.vectors import chunk_ranges
from stylometry.verifier import Margins, fit_verifier

UNIT_WORDS = 100
LEVELS = (200, 300, 500, 1000, 2000, 5000)
POPULATION_LEVEL = 1000
MIN_CHUNKS = 6
MAX_PART_CHUNKS = 150  # per side and level, for the part curves
IMPOSTOR_WORDS_PER_TEXT = 40_000  # enough chunks per impostor; keeps `full` mode bearable
L2 = 0.01  # ridge on the weights; the loss is a class-balanced mean

__all__ = ["auc", "calibrate", "calibrate_units", "text_units", "youden_threshold"]


@dataclass
class TextUnits:
    """One text cut into 100-word units, with the features of the whole text."""

    hash: str
    units: list[Counts]
    total: Counts
    _chunks: dict[int, list[Counts]] = field(default_factory=dict, repr=False)

    def chunks(self, words: int) -> list[Counts]:
        """Runs of consecutive units of at least `words` words (cached)."""
        if words not in self._chunks:
            ranges = chunk_ranges([u.n_words for u in self.units], words)
            self._chunks[words] = [Counts.total(self.units[s:e]) for s, e in ranges]
        return self._chunks[words]


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


def _logistic(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, ridge: np.ndarray, bounds=None
) -> np.ndarray:
    """theta minimising the weighted log-loss of P(y=1) = sigmoid(x @ theta), plus
    sum(ridge * theta**2); x carries its own intercept column."""

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = _sigmoid(x @ theta)
        eps = 1e-12
        nll = -np.sum(weight * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        grad = x.T @ (weight * (p - y)) + 2 * ridge * theta
        return nll + float(ridge @ theta**2), grad

    return minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds).x


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[float, np.ndarray]:
    """P(y=1) = sigmoid(b - x @ w) with w >= 0 (more distance never means more author),
    classes weighted equally, L2 on w."""
    n_pos, n_neg = y.sum(), len(y) - y.sum()
    sw = np.where(y == 1, 0.5 / max(n_pos, 1), 0.5 / max(n_neg, 1))
    k = x.shape[1]
    design = np.column_stack([np.ones(len(x)), -x])
    ridge = np.array([0.0] + [l2] * k)
    theta = _logistic(design, y, sw, ridge, bounds=[(None, None)] + [(0.0, None)] * k)
    return float(theta[0]), theta[1:]


def transform(d: dict[str, float], lv: LevelCalibration) -> np.ndarray:
    """Distances -> standardised log-distances, in DISTANCES order."""
    return np.array(
        [(math.log(d[k] + lv.offset[k]) - lv.center[k]) / lv.scale[k] for k in DISTANCES]
    )


def part_score(name: str, x_j: float, lv: LevelCalibration) -> float:
    b, w = lv.feature_fits[name]
    return float(100 * _sigmoid(np.array(b - w * x_j)))


def log_odds(margin: float, lv: LevelCalibration) -> float:
    """The calibrated log-odds that the author wrote it, from a verifier margin."""
    return lv.platt_bias + lv.platt_slope * margin


def probability(odds: float) -> float:
    """Log-odds -> P(author) x 100."""
    return float(100 * _sigmoid(np.array(odds)))


def _part_curves(pos: list[dict], neg: list[dict]) -> dict:
    """Log-distance standardisation and one logistic curve per distance (the parts)."""
    all_d = pos + neg
    offset = {k: 0.05 * float(np.median([d[k] for d in all_d])) + 1e-9 for k in DISTANCES}
    logs = {k: np.log(np.array([d[k] for d in all_d]) + offset[k]) for k in DISTANCES}
    center = {k: float(v.mean()) for k, v in logs.items()}
    scale = {k: float(v.std()) or 1.0 for k, v in logs.items()}
    x = np.column_stack([(logs[k] - center[k]) / scale[k] for k in DISTANCES])
    y = np.array([1] * len(pos) + [0] * len(neg), dtype=float)
    fits = {}
    for j, k in enumerate(DISTANCES):
        b, w = fit_logistic(x[:, [j]], y)
        fits[k] = (b, float(w[0]))
    return {"offset": offset, "center": center, "scale": scale, "feature_fits": fits}


def platt_by_length(oof: Margins) -> dict[int, tuple[float, float]]:
    """(bias, slope) of the Platt curve at each length, both linear in log(length) and
    fitted on every length's out-of-fold margins at once (each length and class weighted
    equally). A long length has few chunks whose margins separate almost perfectly, so its
    own curve would be set by a handful of points; pooled, it follows the shorter lengths."""
    rows, ys, sw = [], [], []
    for words, (pos, neg) in oof.items():
        lw = math.log(words / POPULATION_LEVEL)
        for side, margins in ((1.0, pos), (0.0, neg)):
            for m in margins:
                rows.append([1.0, lw, m, m * lw])
                ys.append(side)
                sw.append(0.5 / len(margins) / len(oof))
    ridge = np.array([0.0, L2, L2, L2])
    theta = _logistic(np.array(rows), np.array(ys), np.array(sw), ridge)
    out = {}
    for words in oof:
        lw = math.log(words / POPULATION_LEVEL)
        out[words] = (float(theta[0] + theta[1] * lw), max(float(theta[2] + theta[3] * lw), 1e-3))
    return out


def _level(
    words: int, parts: dict, pos: np.ndarray, neg: np.ndarray, platt: tuple[float, float]
) -> LevelCalibration:
    """The Platt curve given, AUC and threshold from the verifier's out-of-fold margins."""
    lv = LevelCalibration(
        words=words,
        **parts,
        platt_bias=platt[0],
        platt_slope=platt[1],
        auc=auc(pos, neg),
        threshold=50.0,
        true_positive_rate=0.0,
        false_positive_rate=0.0,
        author_median=0.0,
        impostor_median=0.0,
        n_author=len(pos),
        n_impostor=len(neg),
        evaluated_on=f"{len(pos)} author chunks vs {len(neg)} impostor chunks, out-of-fold "
        "(author text and impostor writers unseen by the model that scored them)",
    )
    p = np.array([probability(log_odds(v, lv)) for v in pos])
    n = np.array([probability(log_odds(v, lv)) for v in neg])
    lv.threshold, lv.true_positive_rate, lv.false_positive_rate = youden_threshold(p, n)
    lv.author_median, lv.impostor_median = float(np.median(p)), float(np.median(n))
    return lv


def calibrate(
    profile: AuthorProfile,
    author_texts: Sequence[str],
    impostor_texts: Sequence[str],
    progress: bool = False,
    impostor_groups: Sequence[str] | None = None,
) -> AuthorProfile:
    """Return a copy of the profile with its calibration attached (see the module docstring).
    `impostor_groups` names each impostor text's writer (default: each text its own), so
    cross-validation never trains and tests on one writer."""
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
    return calibrate_units(profile, author, impostors, impostor_groups)


def _reference(profile: AuthorProfile, author: list[TextUnits], impostors: list[TextUnits]):
    """The z-score population of the parts: the profile's own texts and the impostors."""
    sources = set(profile.source_hashes)
    own = [t for t in author if t.hash in sources] or author
    pop_author = [c for t in own for c in t.chunks(POPULATION_LEVEL)]
    pop_imp = _spread([t.chunks(POPULATION_LEVEL) for t in impostors], 2 * MAX_PART_CHUNKS)
    if len(pop_author) + len(pop_imp) < 3 * MIN_CHUNKS or len(pop_imp) < MIN_CHUNKS:
        pop_author = [u for t in own for u in t.units]
        pop_imp = _spread([t.units for t in impostors], 2 * MAX_PART_CHUNKS)
    return build_reference(profile.counts(), pop_author + pop_imp, pop_imp, profile.mode)


class _PartDistances:
    """Distances of chunks to the profile; the profile's own texts are left out of it
    (by text, or by chunk when it has one text), so they act as unseen author text."""

    def __init__(self, profile: AuthorProfile, ref) -> None:
        self.total, self.ref = profile.counts(), ref
        self.sources = set(profile.source_hashes)
        self.full = prepare(self.total, ref)
        self.views: dict[str, Prepared] = {}

    def author(self, t: TextUnits, chunk: Counts) -> dict[str, float]:
        if t.hash not in self.sources:
            return distances(prepare(chunk, self.ref), self.full)
        if len(self.sources) > 1:
            view = self.views.get(t.hash)
            if view is None:
                view = self.views[t.hash] = prepare(self.total - t.total, self.ref)
        else:
            view = prepare(self.total - chunk, self.ref)
        return distances(prepare(chunk, self.ref), view)

    def impostor(self, chunk: Counts) -> dict[str, float]:
        return distances(prepare(chunk, self.ref), self.full)


def _groups(impostors: list[TextUnits], names: Sequence[str] | None) -> list[int]:
    if names is None:
        return list(range(len(impostors)))
    index = {n: i for i, n in enumerate(sorted(set(names)))}
    return [index[n] for n in names]


def calibrate_units(
    profile: AuthorProfile,
    author: list[TextUnits],
    impostors: list[TextUnits],
    impostor_groups: Sequence[str] | None = None,
) -> AuthorProfile:
    """`calibrate` on texts already cut into units (the benchmark reuses them)."""
    names = list(impostor_groups) if impostor_groups is not None else None
    keep = [i for i, t in enumerate(impostors) if t.units]
    impostors = [impostors[i] for i in keep]
    names = [names[i] for i in keep] if names is not None else None
    if not impostors:
        raise StyleInputError("impostor texts are too short to calibrate (under 50 words each)")
    ref = _reference(profile, author, impostors)
    fit = fit_verifier(
        [t.units for t in author], [t.units for t in impostors], _groups(impostors, names), LEVELS
    )
    parts = _PartDistances(profile, ref)
    kept = {}
    for words in LEVELS:
        pos, neg = fit.out_of_fold.get(words, ((), ()))
        mine = _spread([[(t, c) for c in t.chunks(words)] for t in author], MAX_PART_CHUNKS)
        theirs = _spread([t.chunks(words) for t in impostors], MAX_PART_CHUNKS)
        if min(len(pos), len(neg), len(mine), len(theirs)) >= MIN_CHUNKS:
            kept[words] = (pos, neg, mine, theirs)
    platt = platt_by_length({w: (k[0], k[1]) for w, k in kept.items()}) if kept else {}
    levels = []
    for words, (pos, neg, mine, theirs) in kept.items():
        d_pos = [parts.author(t, c) for t, c in mine]
        d_neg = [parts.impostor(c) for c in theirs]
        levels.append(_level(words, _part_curves(d_pos, d_neg), pos, neg, platt[words]))
    if not levels:
        raise StyleInputError(
            f"profile {profile.name!r}: not enough text to calibrate (need at least "
            f"{MIN_CHUNKS * 2 * LEVELS[0]:,} words of the author and of impostors)"
        )
    digest = hashlib.sha256("".join(t.hash for t in impostors).encode()).hexdigest()
    calibration = Calibration(
        reference=ref,
        verifier=fit.model,
        levels=levels,
        impostor_texts=len(impostors),
        impostor_words=sum(t.total.n_words for t in impostors),
        impostor_hash=digest,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return profile.model_copy(update={"calibration": calibration})
