"""The 0-100 style score of a text against a calibrated author profile."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from stylometry.calibration import log_odds, part_score, probability, transform
from stylometry.distances import DISTANCES, PART_OF, Prepared, distances, prepare
from stylometry.distributions import median
from stylometry.features import Counts, derived_scalars, extract, punctuation_rates
from stylometry.profile import AuthorProfile
from stylometry.text import StyleInputError, check_text

if TYPE_CHECKING:
    from stylometry.judge import Judge

JUDGE_WEIGHT = 0.2  # the judge nudges the score; stylometry stays the main signal
SHORT_TEXT_WORDS = 150

PART_LABELS = {
    "vocabulary": "vocabulary",
    "sentence_lengths": "sentence-length distribution",
    "paragraph_structure": "paragraph structure",
    "dialogue": "dialogue ratio",
    "punctuation": "punctuation",
    "readability_pacing": "readability and pacing",
    "judge": "LLM judge",
}


@dataclass
class StyleReport:
    overall: float  # 0-100: 100 x P(the author wrote it) at even odds, judge blended in
    # when it is enabled and consistent under order swap
    parts: dict[str, float]  # 0-100 per part (see PART_LABELS)
    explanation: str
    words: int
    calibrated_for_words: int  # the calibration level used (closest text length)
    threshold: float  # scores at or above it read as the author (Youden-optimal)
    auc: float  # how well the score separated held-out author text from impostors
    stylometric: float  # the overall score before the judge
    distances: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    log_odds: float = 0.0  # the calibrated log-odds behind `stylometric`, unrounded: ranks
    # texts or authors without the ties of a rounded, saturated 0-100 scale

    @property
    def reads_as_author(self) -> bool:
        return self.overall >= self.threshold

    def to_dict(self) -> dict:
        out = asdict(self)
        out["reads_as_author"] = self.reads_as_author
        return out


_VIEWS: dict[tuple[str, str], Prepared] = {}


def _author_view(profile: AuthorProfile) -> Prepared:
    """The profile prepared against its reference; cached (scoring many texts is the norm)."""
    cal = profile.calibration
    assert cal is not None
    key = (profile.data_hash, cal.impostor_hash + cal.created_at)
    view = _VIEWS.get(key)
    if view is None:
        if len(_VIEWS) > 16:
            _VIEWS.clear()
        view = _VIEWS[key] = prepare(profile.counts(), cal.reference)
    return view


def _detail(part: str, text: Prepared, author: Prepared, d: dict[str, float], mode: str) -> str:
    t, a = text.counts, author.counts
    if part == "judge":
        return "the judge preferred the author's own passage"
    if part == "sentence_lengths":
        return (
            f"median sentence {median(t.sentence_lengths):.0f} words vs the author's "
            f"{median(a.sentence_lengths):.0f}"
        )
    if part == "paragraph_structure":
        return (
            f"median paragraph {median(t.paragraph_lengths):.0f} words vs the author's "
            f"{median(a.paragraph_lengths):.0f}"
        )
    if part == "dialogue":
        ts, as_ = (
            derived_scalars(t, mode)["dialogue_share"],
            derived_scalars(a, mode)["dialogue_share"],
        )
        return f"dialogue {ts:.0%} of words vs the author's {as_:.0%}"
    if part == "punctuation":
        tp, ap = punctuation_rates(t), punctuation_rates(a)
        k = list(tp)[int(np.argmax(np.abs(text.z_punct - author.z_punct)))]
        return f"{k.replace('_', ' ')} {tp[k]:.1f} vs {ap[k]:.1f} per 1,000 words"
    if part == "readability_pacing":
        ts, as_ = derived_scalars(t, mode), derived_scalars(a, mode)
        k = list(ts)[int(np.argmax(np.abs(text.z_scalars - author.z_scalars)))]
        return f"{k.replace('_', ' ')} {ts[k]:.2f} vs {as_[k]:.2f}"
    return f"word-frequency profile differs (cosine delta {d['cosine_delta']:.2f})"


def score(text: str, profile: AuthorProfile, judge: Judge | None = None) -> StyleReport:
    """Score `text` against a calibrated profile. Raises StyleInputError on unusable text or
    an uncalibrated profile; never returns NaN."""
    check_text(text)
    _require_calibration(profile)
    return score_counts(extract(text, profile.mode), profile, judge, text)  # type: ignore[arg-type]


def stylometric_score(text: str, profile: AuthorProfile) -> float:
    """`score(text, profile).stylometric`, unrounded, without the parts that explain it: what
    ranking many candidates needs (best-of), at under half the cost. The verifier reads only
    word and punctuation counts, so the fast features suffice in either profile mode."""
    _require_calibration(profile)
    return probability(_log_odds(extract(text, "fast"), profile))


def _log_odds(counts: Counts, profile: AuthorProfile) -> float:
    cal = profile.calibration
    assert cal is not None
    return log_odds(cal.verifier.margin(counts), cal.level_for(counts.n_words))


def _require_calibration(profile: AuthorProfile) -> None:
    if profile.calibration is None:
        raise StyleInputError(
            f"profile {profile.name!r} is not calibrated; calibrate it against impostor text "
            "(`inkwell style profile --reference DIR`)"
        )


def score_counts(
    counts: Counts, profile: AuthorProfile, judge: Judge | None = None, text: str | None = None
) -> StyleReport:
    """`score` on features already extracted (scoring one text against many profiles)."""
    _require_calibration(profile)
    cal = profile.calibration
    assert cal is not None
    lv = cal.level_for(counts.n_words)
    author = _author_view(profile)
    prepared = prepare(counts, cal.reference)
    d = distances(prepared, author)
    x = transform(d, lv)
    by_part: dict[str, list[float]] = {}
    for j, name in enumerate(DISTANCES):
        by_part.setdefault(PART_OF[name], []).append(part_score(name, float(x[j]), lv))
    parts = {p: round(float(np.mean(v)), 1) for p, v in by_part.items()}
    odds = _log_odds(counts, profile)
    stylometric = probability(odds)
    warnings = []
    if counts.n_words < SHORT_TEXT_WORDS:
        warnings.append(
            f"short text ({counts.n_words} words): the score is noisy below "
            f"{SHORT_TEXT_WORDS} words"
        )
    overall = stylometric
    if judge is not None and text is not None:
        verdict = judge.rate(text)
        if verdict.score is None:
            warnings.append(f"judge skipped: {verdict.note}")
        else:
            parts["judge"] = round(verdict.score, 1)
            if verdict.consistent:
                overall = (1 - JUDGE_WEIGHT) * stylometric + JUDGE_WEIGHT * verdict.score
            else:
                warnings.append("judge not blended: its verdict changed when the order was swapped")
    if not all(math.isfinite(v) for v in [overall, *parts.values()]):
        raise StyleInputError("internal error: a non-finite score; please report this text")
    worst = min(parts, key=parts.get)
    best = max(parts, key=parts.get)
    side = "reads as the author" if overall >= lv.threshold else "does not read as the author"
    explanation = (
        f"{overall:.0f}/100 {side} (threshold {lv.threshold:.0f}, AUC {lv.auc:.2f} at "
        f"~{lv.words} words); lowest: {PART_LABELS[worst]} {parts[worst]:.0f} "
        f"({_detail(worst, prepared, author, d, profile.mode)}); "
        f"highest: {PART_LABELS[best]} {parts[best]:.0f}"
    )
    return StyleReport(
        overall=round(overall, 1),
        parts=parts,
        explanation=explanation,
        words=counts.n_words,
        calibrated_for_words=lv.words,
        threshold=round(lv.threshold, 1),
        auc=round(lv.auc, 4),
        stylometric=round(stylometric, 1),
        log_odds=round(odds, 4),
        distances={k: round(v, 5) for k, v in d.items()},
        warnings=warnings,
    )
