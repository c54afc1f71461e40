"""Chapters as "story so far" memory: each chapter becomes a vector-only entry that is offered
from the next chapter on (first_chapter = its number + 1), never by keyword."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rag.entry import LoreEntry, LoreFileError, slugify
from rag.parse_dir import TextFileError, read_text_file

_TITLE = re.compile(r"^\s*#+\s+(.+?)\s*#*\s*$")


def chapter_entries(chapters: Sequence[Path]) -> tuple[list[LoreEntry], list[LoreFileError]]:
    """Chapters in reading order (chapter n is chapters[n-1], as the workspace orders them)."""
    entries: list[LoreEntry] = []
    errors: list[LoreFileError] = []
    for number, path in enumerate(chapters, start=1):
        source = f"{path.parent.name}/{path.name}"
        try:
            text = read_text_file(path)
        except TextFileError as exc:
            errors.append(LoreFileError(source, exc.line, f"{exc}; chapter not indexed"))
            continue
        except OSError as exc:
            errors.append(LoreFileError(source, None, f"cannot read: {exc.strerror}"))
            continue
        if not text.strip():
            continue
        first_line = text.strip().splitlines()[0]
        title = _TITLE.match(first_line)
        name = f"Chapter {number}: {title.group(1)}" if title else f"Chapter {number}"
        entries.append(
            LoreEntry(
                id=f"chapter:{slugify(path.stem) or number}",
                name=name,
                category="story so far",
                text=text,
                priority=-1,
                first_chapter=number + 1,
                kind="chapter",
                source=source,
                line=1,
            )
        )
    return entries, errors
