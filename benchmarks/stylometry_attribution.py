"""Authorship attribution and verification on a DIR/<author>/*.txt corpus, by text length:
does the style score pick the right author at the lengths the gate scores (200-300 words)
as well as at 5,000, is its probability calibrated, and does it hold on authors it never saw?

Two protocols (stylometry_protocols.py): rotation (every book held out once) and leave
authors out (half of the authors are the only impostors at calibration; the other half are
candidates and impostors at test). Methods: `inkwell` (the calibrated score), its own
components (Cosine/Burrows' Delta, character n-gram delta, sentence lengths), a closed-set
linear SVM over words and character n-grams, and the faststylometry package. For the score,
also c@1 and the Brier score of its probability (both class-balanced: it is calibrated at
even odds) and a reliability diagram. Then scoring speed, the demo book's calibration time,
and the LLM judge's order-swap consistency when `--judge-url` names an endpoint.

Run: `inkwell bench stylometry --corpus ../shared/corpora/dev [--words 200,500,1000]`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.judge_consistency import judge_consistency
from benchmarks.stylometry_protocols import (
    Corpus,
    Scored,
    evaluate_split,
    leave_authors_out_splits,
    method_figures,
    rotation_splits,
)
from benchmarks.stylometry_speed import demo_check, scoring_speed
from stylometry.calibration import text_units
from stylometry.corpus import load_corpus
from stylometry.features import extract
from stylometry.text import StyleInputError, chunk_paragraphs

NAME = "stylometry_attribution"
WORDS = (200, 300, 500, 1000, 2000, 5000)  # 300: what the gate scores
MAX_SAMPLES_PER_BOOK = 10
DEMO_CHAPTERS = Path(__file__).resolve().parent.parent / "serving" / "demo_book" / "chapters"
PROTOCOLS = {"rotation": rotation_splits, "leave_authors_out": leave_authors_out_splits}


def parse_words(value: str | Sequence[int]) -> list[int]:
    """ "200,500,1000" (or a list) -> sorted lengths; each must be at least 100 words."""
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        words = sorted({int(str(w).strip()) for w in items if str(w).strip()})
    except ValueError as exc:
        raise StyleInputError(f"--words: expected numbers like 200,500,1000 ({exc})") from exc
    if not words or words[0] < 100:
        raise StyleInputError("--words: give one or more lengths of at least 100 words")
    return words


def _evenly(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    idx = np.linspace(0, len(items) - 1, k).round().astype(int)
    return [items[i] for i in idx]


def _corpus(root: Path | str, lengths: list[int], mode: str, progress: bool) -> Corpus:
    books = load_corpus(root)
    units, samples = {}, {}
    n_books = sum(len(b) for b in books.values())
    bar = tqdm(total=n_books, desc="features", disable=not progress, unit="book")
    for a, bs in sorted(books.items()):
        units[a] = {}
        for name, text in sorted(bs.items()):
            units[a][name] = text_units(text, mode)
            for w in lengths:
                pieces = _evenly(chunk_paragraphs(text, w), MAX_SAMPLES_PER_BOOK)
                samples[(a, name, w)] = [(p, extract(p, mode)) for p in pieces]  # type: ignore[arg-type]
            bar.update()
    bar.close()
    return Corpus(books, units, samples)


def _protocol(corpus: Corpus, name: str, lengths: list[int], mode: str, progress: bool) -> dict:
    splits = PROTOCOLS[name](corpus.books)
    if not splits:
        raise StyleInputError(f"{name}: need at least two authors with two or more books")
    scored = Scored()
    last = None
    for split in tqdm(splits, desc=name, disable=not progress, unit="split"):
        evaluate_split(corpus, split, mode, lengths, scored)
        last = split
    return {
        "splits": [{"label": s.label, "held_out_books": s.held} for s in splits],
        "by_words": {w: method_figures(scored, w) for w in lengths},
        "inkwell_top1_per_author": {w: scored.per_author[w] for w in lengths},
        "last_split": last,
    }


def component_check(by_words: dict[int, dict]) -> dict:
    """The largest AUC lead of any of the score's own components over the score."""
    worst = {"lead": -1.0}
    for w, methods in by_words.items():
        for m in ("cosine_delta", "burrows_delta", "char_ngrams", "sentence_length"):
            lead = methods[m]["auc"] - methods["inkwell"]["auc"]
            if lead > worst["lead"]:
                worst = {"lead": round(lead, 4), "component": m, "words": w}
    return worst


def _markdown(figures: dict) -> str:
    from benchmarks.stylometry_page import calibration_table, length_table

    parts = [
        "# Stylometry: attribution and verification by text length\n",
        f"Corpus `{figures['corpus']}`: {len(figures['candidates'])} authors, "
        f"`{figures['mode']}` features, up to {MAX_SAMPLES_PER_BOOK} samples per held-out "
        "book and length (never used for profiles or calibration). Cells: top-1 / AUC.",
    ]
    for name, p in figures["protocols"].items():
        check = p["component_check"]
        parts += [
            f"\n## {name.replace('_', ' ')} ({len(p['splits'])} splits)\n",
            length_table(p["by_words"]),
            "\nThe score's probability (class-balanced c@1 and Brier):\n",
            calibration_table(p["by_words"]),
            f"\nLargest AUC lead of one of the score's components over it: {check['lead']:+.4f}"
            f" ({check.get('component')}, {check.get('words')} words).",
            f"\nRight per author per split at {max(p['by_words'])} words: "
            + "; ".join(", ".join(f"{a} {v}" for a, v in d.items()) for d in p["per_author"]),
        ]
    s, demo, judge = figures["scoring_speed"], figures["demo_book"], figures["judge"]
    parts.append(
        f"\n## Speed and the judge\n\nScoring {s['texts']:,} texts of ~{s['words_each']} words "
        f"on one core: {s['cpu_s']} CPU s. Demo book calibrated against the corpus in "
        f"{demo['calibration_wall_s'] if demo else '-'} s wall."
        + (
            f" Held-out chapters scored {demo['held_out_scores']} (threshold {demo['threshold']}"
            f", AUC {demo['auc']}); corpus passages below threshold: "
            f"{demo['other_authors_below_threshold']}/{demo['other_samples']}."
            if demo
            else ""
        )
        + f"\n\nJudge: {judge if judge.get('measured') else judge['note']}."
    )
    parts.append(
        "\n`inkwell` is the calibrated score (stylometry/verifier.py: per-book logistic "
        "regression of MFW, character 3-/4-gram and punctuation rates against impostors, "
        "on the text as written and after text distortion, margins averaged; one Platt "
        "curve over log length). `svm_words_chars` is closed-set (it knows the "
        "candidates), the rest verify."
    )
    return "\n".join(parts)


def run(
    corpus: Path | str,
    words: str | Sequence[int] = WORDS,
    mode: str = "fast",
    out_dir: Path | None = None,
    demo_chapters: Path | None = DEMO_CHAPTERS,
    progress: bool = True,
    judge_url: str | None = None,
    judge_model: str | None = None,
) -> dict:
    """Run both protocols at every length, the speed checks and the judge; write the report."""
    from benchmarks.harness.results import write_results
    from benchmarks.stylometry_page import accuracy_plot, reliability_plot

    lengths = parse_words(words)
    data = _corpus(corpus, lengths, mode, progress)
    protocols = {}
    last = None
    for name in PROTOCOLS:
        p = _protocol(data, name, lengths, mode, progress)
        last = p.pop("last_split")
        p["per_author"] = p.pop("inkwell_top1_per_author")[max(lengths)]
        p["component_check"] = component_check(p["by_words"])
        protocols[name] = p
    demo = None
    if demo_chapters is not None and Path(demo_chapters).is_dir():
        demo = demo_check(data.books, Path(demo_chapters), mode)
    from benchmarks.stylometry_protocols import calibrated_profiles

    some = (
        demo.pop("profile") if demo else next(iter(calibrated_profiles(data, last, mode).values()))
    )
    figures = {
        "corpus": str(Path(corpus).resolve()),
        "words": lengths,
        "mode": mode,
        "candidates": sorted(data.books),
        "protocols": protocols,
        "scoring_speed": scoring_speed(data.books, some),
        "demo_book": demo,
        "judge": judge_consistency(data.books, judge_url, judge_model),
    }
    figures["methods"] = {
        m: {"top1": v["top1"], "auc": v["auc"]}
        for m, v in protocols["rotation"]["by_words"][max(lengths)].items()
    }
    plots = {
        "accuracy by length": accuracy_plot(protocols),
        "reliability": reliability_plot(protocols),
    }
    write_results(out_dir, NAME, figures, _markdown(figures), plots)
    return figures
