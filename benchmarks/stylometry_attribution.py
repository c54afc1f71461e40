"""Authorship attribution on a DIR/<author>/*.txt corpus: does the style score pick the
right author, and how does it compare with plain Delta and with the faststylometry package?

Headline split: for every author with two or more books the last book (by file name) is
held out and cut into `words`-word samples; profiles come from the other books (authors with
one book are candidates only). Rotation (leave one book out): split r holds out each author's
r-th book instead, and the report gives the mean over these splits next to the headline, so
the figure does not hinge on which book happens to sort last. Each profile is calibrated
against the other candidates' profile books, so no held-out sample is ever seen in training
or calibration; faststylometry gets the same training books and samples. Every sample is
scored against every profile; top-1 is the best-scoring profile, AUC pools all (sample,
profile) pairs with "same author" as the positive class.

Run: `inkwell bench stylometry --corpus ../shared/corpora/dev [--json] [--words 5000]`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from stylometry.calibration import TextUnits, auc, calibrate_units, text_units
from stylometry.classifier import AttributionClassifier
from stylometry.corpus import load_corpus
from stylometry.features import Counts, extract
from stylometry.profile import AuthorProfile, data_hash, profile_from_counts
from stylometry.score import score_counts
from stylometry.text import chunk_paragraphs, read_text

NAME = "stylometry_attribution"
MAX_SAMPLES_PER_BOOK = 10
DEMO_CHAPTERS = Path(__file__).resolve().parent.parent / "serving" / "demo_book" / "chapters"
DEMO_MIN_CHAPTERS = 8
DEMO_BAR = 75.0
# (method, how a sample-vs-profile value becomes "higher = more likely this author")
METHODS = ("inkwell", "cosine_delta", "burrows_delta", "sentence_length")


def _evenly(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    idx = np.linspace(0, len(items) - 1, k).round().astype(int)
    return [items[i] for i in idx]


def _profile(name: str, books: list[TextUnits], texts: list[str], mode: str) -> AuthorProfile:
    return profile_from_counts(
        name, mode, [b.hash for b in books], data_hash(texts, mode), [b.total for b in books]
    )


def words_per_second(text: str, mode: str, min_seconds: float = 2.0) -> float:
    """Feature-extraction throughput on one core: words per CPU-second of this (single-
    threaded) process, after a warm-up; CPU time rather than wall time, so other work on a
    shared machine does not count against it."""
    extract(text[:20000], mode)  # loads dictionaries / the tagger
    done, start = 0, time.process_time()
    while True:
        done += extract(text, mode).n_words
        elapsed = time.process_time() - start
        if elapsed >= min_seconds:
            return done / elapsed


def faststylometry_delta(train: dict[str, list[str]], samples: list[str]) -> np.ndarray:
    """faststylometry's Burrows' Delta (its defaults: 50 words, pronouns removed):
    matrix [sample, author] (lower = closer)."""
    from faststylometry import Corpus, calculate_burrows_delta, tokenise_remove_pronouns_en

    train_corpus = Corpus()
    for author, books in train.items():
        for i, text in enumerate(books):
            train_corpus.add_book(author, f"{author}_{i}", text)
    test_corpus = Corpus()
    keys = [f"sample{i:04d}" for i in range(len(samples))]
    for key, text in zip(keys, samples, strict=True):
        test_corpus.add_book(key, key, text)
    train_corpus.tokenise(tokenise_remove_pronouns_en)
    test_corpus.tokenise(tokenise_remove_pronouns_en)
    df = calculate_burrows_delta(train_corpus, test_corpus)
    return df.loc[list(train), [f"{k} - {k}" for k in keys]].to_numpy().T


def _method_figures(values: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """values [sample, author], higher = more likely; truth = the right author's column."""
    top1 = float(np.mean(values.argmax(axis=1) == truth))
    mask = np.zeros_like(values, dtype=bool)
    mask[np.arange(len(truth)), truth] = True
    return {"top1": round(top1, 4), "auc": round(auc(values[mask], values[~mask]), 4)}


def _demo_check(
    units: dict[str, list[TextUnits]], others: list[tuple[str, Any]], demo_dir: Path, mode: str
) -> dict | None:
    """The demo book (not an author of the corpus): profile from its training chapters,
    calibrated against every corpus author; its held-out chapters should score >= 75 and
    every corpus sample below the calibrated threshold."""
    chapters = sorted(p for p in demo_dir.glob("*") if p.suffix in (".txt", ".md"))
    if len(chapters) < DEMO_MIN_CHAPTERS:
        return None
    config = demo_dir.parent / "inkwell.yaml"
    named = (
        (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("book", {}).get("held_out")
        if config.is_file()
        else None
    )
    held_paths = [p for p in chapters if p.name in (named or [])] or chapters[-1:]
    train_texts = [read_text(p) for p in chapters if p not in held_paths]
    held_texts = [read_text(p) for p in held_paths]
    train_units = [text_units(t, mode) for t in train_texts]
    held_units = [text_units(t, mode) for t in held_texts]
    profile = _profile("demo", train_units, train_texts, mode)
    impostors = [u for books in units.values() for u in books]
    profile = calibrate_units(profile, train_units + held_units, impostors)
    held_scores = [score_counts(u.total, profile) for u in held_units]
    other_scores = [(author, score_counts(c, profile)) for author, c in others]
    return {
        "chapters": len(chapters),
        "held_out": [p.name for p in held_paths],
        "held_out_scores": [r.overall for r in held_scores],
        "held_out_min": min(r.overall for r in held_scores),
        "held_out_all_at_least_75": all(r.overall >= DEMO_BAR for r in held_scores),
        "threshold": held_scores[0].threshold,
        "auc": held_scores[0].auc,
        "other_authors_max": max(r.overall for _, r in other_scores),
        "other_authors_all_below_threshold": all(r.overall < r.threshold for _, r in other_scores),
        "other_samples": len(other_scores),
    }


def _splits(books: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """The headline split (each author's last book by file name held out), then the rotation:
    split r holds out every author's r-th book (authors with fewer books serve as candidates
    only); splits with fewer than two held-out authors are skipped."""
    named = {a: sorted(b) for a, b in books.items() if len(b) >= 2}
    headline = {a: names[-1] for a, names in named.items()}
    rotation = []
    for r in range(max((len(n) for n in named.values()), default=0)):
        held = {a: names[r] for a, names in named.items() if r < len(names)}
        if len(held) >= 2:
            rotation.append(held)
    return [headline, *rotation]


def _evaluate_split(
    books: dict[str, dict[str, str]],
    units: dict[str, dict[str, TextUnits]],
    samples: dict[tuple[str, str], list[tuple[str, Counts]]],
    held: dict[str, str],
    mode: str,
    progress: bool,
    label: str,
) -> dict:
    """Profiles and calibration from the books not held out, every method scored on the
    held-out books' samples. Returns the method figures, the confusion matrix and the
    calibrated profiles."""
    candidates = sorted(books)
    train_names = {a: [n for n in sorted(books[a]) if n != held.get(a)] for a in candidates}
    profiles = {}
    for a in tqdm(candidates, desc=f"calibrate ({label})", disable=not progress, unit="author"):
        own = [units[a][n] for n in train_names[a]]
        impostors = [units[b][n] for b in candidates if b != a for n in train_names[b]]
        texts = [books[a][n] for n in train_names[a]]
        profiles[a] = calibrate_units(_profile(a, own, texts, mode), own, impostors)
    split_samples = [s for a, book in sorted(held.items()) for s in samples[(a, book)]]
    truth = np.array([candidates.index(a) for a, _, _ in split_samples])
    values = {m: np.zeros((len(split_samples), len(candidates))) for m in METHODS}
    for i, (_, _, counts) in enumerate(
        tqdm(split_samples, desc=f"score ({label})", disable=not progress, unit="sample")
    ):
        for j, a in enumerate(candidates):
            r = score_counts(counts, profiles[a])
            values["inkwell"][i, j] = r.overall
            values["cosine_delta"][i, j] = -r.distances["cosine_delta"]
            values["burrows_delta"][i, j] = -r.distances["burrows_delta"]
            values["sentence_length"][i, j] = -r.distances["sentence_lengths"]
    methods = {m: _method_figures(values[m], truth) for m in METHODS}
    svm = AttributionClassifier({a: [units[a][n] for n in train_names[a]] for a in candidates})
    svm_values = np.array([list(svm.decision(c).values()) for _, _, c in split_samples])
    methods["svm_words_chars"] = _method_figures(svm_values, truth)
    fs = faststylometry_delta(
        {a: [books[a][n] for n in train_names[a]] for a in candidates},
        [text for _, text, _ in split_samples],
    )
    methods["faststylometry_burrows_delta"] = _method_figures(-fs, truth)
    confusion = np.zeros((len(candidates), len(candidates)), dtype=int)
    for t, p in zip(truth, values["inkwell"].argmax(axis=1), strict=True):
        confusion[t, p] += 1
    per_author = {
        a: f"{confusion[i, i]}/{confusion[i].sum()}"
        for i, a in enumerate(candidates)
        if confusion[i].sum()
    }
    return {
        "held_out_books": held,
        "samples": len(split_samples),
        "methods": methods,
        "inkwell_top1_per_author": per_author,
        "confusion": confusion,
        "profiles": profiles,
        "sample_counts": [(a, c) for a, _, c in split_samples],
    }


def _rotation_mean(splits: list[dict]) -> dict[str, dict[str, float]]:
    names = splits[0]["methods"]
    return {
        m: {
            k: round(float(np.mean([s["methods"][m][k] for s in splits])), 4)
            for k in ("top1", "auc")
        }
        for m in names
    }


def _confusion_plot(confusion: np.ndarray, names: list[str], words: int):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted author")
    ax.set_ylabel("true author")
    ax.set_title(f"inkwell style score, {words}-word samples")
    for i in range(confusion.shape[0]):
        for j in range(confusion.shape[1]):
            if confusion[i, j]:
                ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8)
    return fig


def run(
    corpus: Path | str,
    words: int = 5000,
    mode: str = "fast",
    out_dir: Path | None = None,
    demo_chapters: Path | None = DEMO_CHAPTERS,
    progress: bool = True,
) -> dict:
    """Run the benchmark (headline split, then the rotation), write the report, return the
    figures."""
    from benchmarks.harness.results import write_results

    books = load_corpus(corpus)
    candidates = sorted(books)
    splits = _splits(books)
    if len(splits[0]) < 2:
        raise ValueError(f"{corpus}: need at least two authors with two or more books")

    n_books = sum(len(b) for b in books.values())
    bar = tqdm(total=n_books, desc="features", disable=not progress, unit="book")
    units: dict[str, dict[str, TextUnits]] = {}
    samples: dict[tuple[str, str], list[tuple[str, str, Counts]]] = {}
    held_any = {(a, n) for split in splits for a, n in split.items()}
    for a in candidates:
        units[a] = {}
        for name, text in sorted(books[a].items()):
            units[a][name] = text_units(text, mode)
            if (a, name) in held_any:
                pieces = _evenly(chunk_paragraphs(text, words), MAX_SAMPLES_PER_BOOK)
                samples[(a, name)] = [(a, p, extract(p, mode)) for p in pieces]
            bar.update()
    bar.close()

    results = [
        _evaluate_split(
            books, units, samples, held, mode, progress, "headline" if i == 0 else f"rotation {i}"
        )
        for i, held in enumerate(splits)
    ]
    head, rotation = results[0], results[1:]
    rotation_mean = _rotation_mean(rotation)
    methods = {
        m: {**v, "rotation_top1": rotation_mean[m]["top1"], "rotation_auc": rotation_mean[m]["auc"]}
        for m, v in head["methods"].items()
    }

    longest = max((t for bs in books.values() for t in bs.values()), key=len)
    speed = {
        "fast": round(words_per_second(longest, "fast")),
        "full": round(words_per_second(longest[:30000], "full")),
    }

    demo = None
    if demo_chapters is not None and Path(demo_chapters).is_dir():
        train_units = {
            a: [u for n, u in units[a].items() if n != splits[0].get(a)] for a in candidates
        }
        demo = _demo_check(train_units, head["sample_counts"], Path(demo_chapters), mode)

    confusion = head["confusion"]
    figures = {
        "corpus": str(Path(corpus).resolve()),
        "words": words,
        "mode": mode,
        "candidates": candidates,
        "held_out_books": head["held_out_books"],
        "samples": head["samples"],
        "methods": methods,
        "words_per_s": speed,
        "demo_book": demo,
        "confusion": {"labels": candidates, "matrix": confusion.tolist()},
        "inkwell_top1_per_author": head["inkwell_top1_per_author"],
        "calibration_auc": {
            a: {lv.words: round(lv.auc, 4) for lv in p.calibration.levels}
            for a, p in head["profiles"].items()
        },
        "rotation": {
            "mean": rotation_mean,
            "splits": [
                {
                    k: r[k]
                    for k in ("held_out_books", "samples", "methods", "inkwell_top1_per_author")
                }
                for r in rotation
            ],
        },
    }
    rows = "\n".join(
        f"| {m} | {v['top1']:.1%} | {v['auc']:.4f} | {v['rotation_top1']:.1%} | "
        f"{v['rotation_auc']:.4f} |"
        for m, v in methods.items()
    )
    rotation_md = "\n".join(
        f"- held out {', '.join(sorted(set(r['held_out_books'].values())))}: inkwell "
        f"{r['methods']['inkwell']['top1']:.1%}, faststylometry "
        f"{r['methods']['faststylometry_burrows_delta']['top1']:.1%} ({r['samples']} samples; "
        + ", ".join(f"{a} {v}" for a, v in r["inkwell_top1_per_author"].items())
        + ")"
        for r in rotation
    )
    demo_md = (
        "not run (demo book has fewer than 8 chapters)"
        if demo is None
        else (
            f"{demo['chapters']} chapters; held-out {', '.join(demo['held_out'])} scored "
            f"{demo['held_out_scores']} (bar {DEMO_BAR:.0f}); calibrated threshold "
            f"{demo['threshold']:.1f}, AUC {demo['auc']:.3f}; highest score of another author's "
            f"sample {demo['other_authors_max']:.1f} "
            f"(all below threshold: {demo['other_authors_all_below_threshold']})"
        )
    )
    per_author = head["inkwell_top1_per_author"]
    markdown = f"""# Stylometry: authorship attribution

Corpus `{figures["corpus"]}`: {len(candidates)} candidate authors, `{mode}` features,
samples of {words} words from held-out books (never used for profiles or calibration).

**Headline split**: each author's last book by file name held out ({head["samples"]} samples).
**Rotation** (leave one book out): split r holds out each author's r-th book by file name,
{len(rotation)} splits; the figure is the mean over them, so it does not hinge on which book
happens to be last.

| method | top-1 | AUC | rotation top-1 | rotation AUC |
|---|---|---|---|---|
{rows}

Right per author, headline (inkwell): {", ".join(f"{a} {v}" for a, v in per_author.items())}.

Rotation splits:
{rotation_md}

`inkwell` is the calibrated combined style score; Cosine/Burrows' Delta and sentence length
are its single components; `svm_words_chars` is a linear SVM over z-scored rates of 1,000
culled most-frequent words and 2,000 character 3-/4-grams, trained on 2,000-word chunks of
the training books (`stylometry/classifier.py`); `faststylometry_burrows_delta` is the
faststylometry package (defaults: 50 MFW, pronouns removed) on the same splits.

Feature throughput (words per CPU-second, one core): fast {speed["fast"]:,} words/s,
full {speed["full"]:,} words/s.

Demo book: {demo_md}
"""
    write_results(
        out_dir,
        NAME,
        figures,
        markdown,
        {"confusion matrix": _confusion_plot(confusion, candidates, words)},
    )
    return figures
