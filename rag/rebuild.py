"""Rebuild the embedded lore index from scratch: the way back from a damaged Chroma folder.

`chroma` is a symlink to one complete generation, `chroma.gen-<n>/`. A rebuild builds the next
generation beside it, marks it complete (a file written last, fsynced), and swaps the link with
one atomic rename, all under the index lock (`chroma.lock`, beside it) that `inkwell lore index`
holds too, so no ingest is swapped out under its feet. A kill at any point leaves `chroma`
naming a complete index. The one exception is the first rebuild of an index made before
generations (a real folder): it is moved to a generation first, and `recover` (run by every
opener before the store) puts the link back if a kill fell between the two renames. A proxy that
holds the old generation open notices the new link within store.refresh_s."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

from rag.config import StoreConfig
from rag.durable import fsync
from rag.indexing import IngestReport, ingest
from rag.store import StoreError, open_store

COMPLETE = "inkwell-complete"  # written last into a generation
LOCK_WAIT_S = 600.0


def generation_dir(chroma_dir: Path, number: int) -> Path:
    return chroma_dir.with_name(f"{chroma_dir.name}.gen-{number}")


def generations(chroma_dir: Path) -> dict[int, Path]:
    """Every generation folder beside chroma_dir, complete or not, by number."""
    found = {}
    for path in chroma_dir.parent.glob(f"{chroma_dir.name}.gen-*"):
        number = path.name.rsplit("-", 1)[1]
        if number.isdigit() and path.is_dir() and not path.is_symlink():
            found[int(number)] = path
    return found


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


@contextlib.contextmanager
def index_lock(chroma_dir: Path, *, blocking: bool = True) -> Iterator[None]:
    """The workspace's one lock on its index: ingest and rebuild both hold it. With
    blocking=False one attempt is made, and filelock.Timeout raised if someone holds it."""
    lock_path = Path(chroma_dir).with_name(Path(chroma_dir).name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=LOCK_WAIT_S, is_singleton=True)
    with lock.acquire(blocking=blocking):
        yield


def recover(chroma_dir: Path) -> None:
    """If a kill left no `chroma` (between the two renames of a first rebuild), point it at the
    newest complete generation again; call before opening the store."""
    chroma_dir = Path(chroma_dir)
    if chroma_dir.exists():  # a folder, or a link to one
        return
    complete = [n for n, path in generations(chroma_dir).items() if is_complete(path)]
    if complete:
        _point(chroma_dir, generation_dir(chroma_dir, max(complete)))


def rebuild(
    lore_dir: Path,
    chroma_dir: Path,
    config: StoreConfig,
    chapters: list[Path] | None = None,
    progress: bool = True,
) -> IngestReport:
    """Index lore_dir (and chapters) into a new generation, then make `chroma` name it."""
    if config.backend != "embedded":
        raise StoreError(
            "--rebuild rebuilds the embedded store only; for a Chroma server, delete the "
            f"collection {config.collection!r} there and index again"
        )
    chroma_dir = Path(chroma_dir)
    with index_lock(chroma_dir):
        recover(chroma_dir)
        serving = chroma_dir.resolve() if chroma_dir.is_symlink() else None
        for path in generations(chroma_dir).values():  # left by an interrupted rebuild
            if not is_complete(path) and path != serving:
                shutil.rmtree(path, ignore_errors=True)
        fresh = generation_dir(chroma_dir, max(generations(chroma_dir), default=0) + 1)
        shutil.rmtree(fresh, ignore_errors=True)
        report = ingest(lore_dir, open_store(fresh, config), chapters=chapters, progress=progress)
        _mark_complete(fresh)
        if chroma_dir.is_dir() and not chroma_dir.is_symlink():  # made before generations
            serving = generation_dir(chroma_dir, 0)
            _mark_complete(chroma_dir)
            os.replace(chroma_dir, serving)
        _point(chroma_dir, fresh)
        _drop_old(chroma_dir, keep={fresh, serving})
    return report


def _mark_complete(folder: Path) -> None:
    path = folder / COMPLETE
    with path.open("w") as handle:
        handle.flush()
        os.fsync(handle.fileno())
    fsync(folder)


def _point(chroma_dir: Path, target: Path) -> None:
    """Make chroma_dir a symlink to target with one atomic rename."""
    link = chroma_dir.with_name(f".{chroma_dir.name}.link")
    link.unlink(missing_ok=True)
    os.symlink(target.name, link)
    os.replace(link, chroma_dir)
    fsync(chroma_dir.parent)


def _drop_old(chroma_dir: Path, keep: set[Path | None]) -> None:
    """Generations before the one just replaced: no reader can still hold them open."""
    for path in generations(chroma_dir).values():
        if path not in keep:
            shutil.rmtree(path, ignore_errors=True)
