"""Rebuild the embedded lore index from scratch: the way back from a damaged Chroma folder.

The new index is built in a sibling folder and swapped in only once complete, so a rebuild
that is interrupted leaves the old folder (damaged or not) where it was, and running it again
starts over. A process that still holds the old index open keeps reading it until restarted."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rag.config import StoreConfig
from rag.indexing import IngestReport, ingest
from rag.store import StoreError, open_store


def rebuild(
    lore_dir: Path,
    chroma_dir: Path,
    config: StoreConfig,
    chapters: list[Path] | None = None,
    progress: bool = True,
) -> IngestReport:
    """Index lore_dir (and chapters) into a fresh folder, then put it in chroma_dir's place."""
    if config.backend != "embedded":
        raise StoreError(
            "--rebuild rebuilds the embedded store only; for a Chroma server, delete the "
            f"collection {config.collection!r} there and index again"
        )
    chroma_dir = Path(chroma_dir)
    fresh = chroma_dir.with_name(chroma_dir.name + ".rebuilding")
    old = chroma_dir.with_name(chroma_dir.name + ".replaced")
    shutil.rmtree(fresh, ignore_errors=True)  # left by an interrupted rebuild
    report = ingest(lore_dir, open_store(fresh, config), chapters=chapters, progress=progress)
    shutil.rmtree(old, ignore_errors=True)
    if chroma_dir.exists():
        os.replace(chroma_dir, old)
    os.replace(fresh, chroma_dir)
    shutil.rmtree(old, ignore_errors=True)
    return report
