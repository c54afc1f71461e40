"""Does the score keep the gate fast, and does a new book calibrate quickly and sensibly?

Scoring: 1,000 texts of 300 words scored against one calibrated profile, features included,
timed in CPU seconds of this single-threaded loop (one core; other work on a shared machine
does not count against it). Calibration: the demo book's profile calibrated from raw text
against the whole reference corpus, as `inkwell style profile` does, in wall seconds."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from stylometry import build_profile, calibrate, score
from stylometry.profile import AuthorProfile
from stylometry.text import chunk_paragraphs, read_text

SCORED_TEXTS = 1000
SCORED_WORDS = 300
DEMO_MIN_CHAPTERS = 8
DEMO_BAR = 75.0


def scoring_speed(books: dict[str, dict[str, str]], profile: AuthorProfile) -> dict:
    """CPU seconds to score 1,000 texts of ~300 words (round-robin over the corpus books)."""
    pools = [chunk_paragraphs(t, SCORED_WORDS)[:200] for bs in books.values() for t in bs.values()]
    texts = [p[i] for i in range(200) for p in pools if i < len(p)][:SCORED_TEXTS]
    score(texts[0], profile)  # warm caches
    start = time.process_time()
    for t in texts:
        score(t, profile)
    cpu = time.process_time() - start
    return {"texts": len(texts), "words_each": SCORED_WORDS, "cpu_s": round(cpu, 2)}


def _held_out(demo_dir: Path, chapters: list[Path]) -> list[Path]:
    config = demo_dir.parent / "inkwell.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8")) if config.is_file() else None
    named = ((data or {}).get("book") or {}).get("held_out") or []
    return [p for p in chapters if p.name in named] or chapters[-1:]


def demo_check(books: dict[str, dict[str, str]], demo_dir: Path, mode: str) -> dict | None:
    """The demo book (not an author of the corpus): profile from its training chapters,
    calibrated against every corpus book (timed); its held-out chapters should score >= 75
    and corpus passages of its length below the threshold."""
    chapters = sorted(p for p in demo_dir.glob("*") if p.suffix in (".txt", ".md"))
    if len(chapters) < DEMO_MIN_CHAPTERS:
        return None
    held_paths = _held_out(demo_dir, chapters)
    train = [read_text(p) for p in chapters if p not in held_paths]
    held = [read_text(p) for p in held_paths]
    impostors = [(a, t) for a, bs in sorted(books.items()) for t in bs.values()]
    start = time.perf_counter()
    profile = build_profile(train, "demo", mode)  # type: ignore[arg-type]
    profile = calibrate(
        profile, train + held, [t for _, t in impostors], impostor_groups=[a for a, _ in impostors]
    )
    seconds = time.perf_counter() - start
    held_scores = [score(t, profile) for t in held]
    size = max(200, min(len(t.split()) for t in held))
    others = [chunk_paragraphs(t, size)[3] for _, t in impostors]
    other_scores = [score(t, profile) for t in others]
    return {
        "chapters": len(chapters),
        "held_out": [p.name for p in held_paths],
        "held_out_scores": [r.overall for r in held_scores],
        "held_out_all_at_least_75": all(r.overall >= DEMO_BAR for r in held_scores),
        "threshold": held_scores[0].threshold,
        "auc": held_scores[0].auc,
        "other_authors_max": max(r.overall for r in other_scores),
        "other_authors_below_threshold": sum(r.overall < r.threshold for r in other_scores),
        "other_samples": len(other_scores),
        "calibration_wall_s": round(seconds, 1),
        "profile": profile,
    }
