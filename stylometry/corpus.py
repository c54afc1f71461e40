"""Reading a reference corpus laid out as DIR/<author>/*.txt (impostors, attribution)."""

from __future__ import annotations

from pathlib import Path

from stylometry.text import StyleInputError, read_text


def load_corpus(root: Path | str) -> dict[str, dict[str, str]]:
    """{author: {book file name: text}} for every DIR/<author>/*.txt; unreadable files are
    reported by path (StyleInputError), never skipped silently."""
    root = Path(root)
    if not root.is_dir():
        raise StyleInputError(f"{root}: corpus folder not found (expected DIR/<author>/*.txt)")
    corpus: dict[str, dict[str, str]] = {}
    for author_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        books = {f.name: read_text(f) for f in sorted(author_dir.glob("*.txt")) if f.is_file()}
        if books:
            corpus[author_dir.name] = books
    if not corpus:
        raise StyleInputError(f"{root}: no DIR/<author>/*.txt files found")
    return corpus
