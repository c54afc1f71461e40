"""Which author in a corpus (DIR/<author>/*.txt) wrote a text.

Each author's profile is built from all their books and calibrated against the other
authors' books, then cached on disk under a key made of the content hashes, so repeated
calls (the CLI's `inkwell style attribute`) only pay for it once."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from stylometry.calibration import calibrate_units, text_units
from stylometry.corpus import load_corpus
from stylometry.features import Mode, extract
from stylometry.profile import AuthorProfile, data_hash, profile_from_counts
from stylometry.score import score_counts
from stylometry.text import check_text


def default_cache_dir() -> Path:
    root = os.environ.get("INKWELL_CACHE_DIR") or Path.home() / ".cache" / "inkwell"
    return Path(root) / "style"


def corpus_profiles(
    corpus_dir: Path | str,
    mode: Mode = "fast",
    cache_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, AuthorProfile]:
    """Calibrated profiles of every author in the corpus (from the cache when unchanged)."""
    corpus = load_corpus(corpus_dir)
    cache = cache_dir or default_cache_dir()
    hashes = {a: data_hash(list(books.values()), mode) for a, books in corpus.items()}
    everyone = hashlib.sha256("".join(sorted(hashes.values())).encode()).hexdigest()[:16]
    profiles: dict[str, AuthorProfile] = {}
    missing = []
    for author in corpus:
        path = cache / f"{author}-{hashes[author][:16]}-{everyone}.json"
        if path.is_file():
            profiles[author] = AuthorProfile.load(path)
        else:
            missing.append((author, path))
    if not missing:
        return profiles
    units = {
        a: [text_units(t, mode) for t in books.values()]
        for a, books in tqdm(corpus.items(), desc="corpus features", disable=not progress)
    }
    for author, path in tqdm(missing, desc="calibrate authors", disable=not progress):
        profile = profile_from_counts(
            author,
            mode,
            [u.hash for u in units[author]],
            hashes[author],
            [u.total for u in units[author]],
        )
        others = [(other, u) for other, us in units.items() if other != author for u in us]
        profiles[author] = calibrate_units(
            profile, units[author], [u for _, u in others], [o for o, _ in others]
        )
        profiles[author].save(path)
    return profiles


def attribute(texts: Sequence[str], profiles: dict[str, AuthorProfile]) -> list[dict]:
    """For each text: the author with the highest calibrated log-odds and every author's
    score (0-100)."""
    modes = {p.mode for p in profiles.values()}
    out = []
    for text in texts:
        check_text(text)
        by_mode = {m: extract(text, m) for m in modes}  # type: ignore[arg-type]
        reports = {a: score_counts(by_mode[p.mode], p) for a, p in profiles.items()}
        best = max(reports, key=lambda a: reports[a].log_odds)  # no ties at 0 or 100
        out.append({"author": best, "scores": {a: r.overall for a, r in reports.items()}})
    return out
