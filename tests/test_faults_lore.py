"""The lore index under real faults: a disk that fills up mid-ingest (a real write failure:
the ingest runs in a child process whose file-size limit, RLIMIT_FSIZE, makes the kernel refuse
writes with EFBIG, as on a full disk), and a Chroma database damaged on disk. Either way the
writer gets a clear message instead of a traceback, nothing of the previous index is lost, the
proxy stays up and says what is wrong, and one command brings the index back.
(Kill -9 mid-ingest is covered in test_rag_store.py.)"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from rag.config import RetrievalConfig
from rag.indexing import ingest
from rag.rebuild import is_complete
from rag.retrieve import Retriever
from rag.store import open_store
from serving.foundation.workspace import Workspace, init_workspace
from tests.fixtures.upstream import running_proxy

INKWELL = str(Path(sys.executable).parent / "inkwell")
LORE = """\
## Captain Dray
keys: Dray, the captain

Anselm Dray commands the Belfry and never speaks of the reactor.

## Benna
keys: Benna

Benna keeps the ledgers of the Belfry and asks too many questions.
"""


def more_lore(count: int) -> str:
    return "".join(
        f"## Harbour {i}\nkeys: harbour{i}\n\n"
        + f"Harbour {i} keeps a lantern, a signal bell and a copper ledger. " * 6
        + "\n\n"
        for i in range(count)
    )


def inkwell(*args: str, fsize_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit_file_size() -> None:  # runs in the child, before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

    return subprocess.run(
        [INKWELL, *args],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit_file_size if fsize_limit is not None else None,
    )


def search_ids(ws: Workspace, query: str) -> list[str]:
    retriever = Retriever(open_store(ws.chroma_dir, ws.config.store), RetrievalConfig())
    return [hit.entry_id for hit in retriever.search(query, limit=3)]


@pytest.fixture
def book(tmp_path: Path) -> Workspace:
    ws = init_workspace(tmp_path / "book")
    (ws.lore_dir / "people.md").write_text(LORE, encoding="utf-8")
    ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store), progress=False)
    return ws


def test_disk_full_during_ingest_keeps_the_previous_index(book):
    database = book.chroma_dir / "chroma.sqlite3"
    before = database.stat().st_size
    (book.lore_dir / "harbours.md").write_text(more_lore(12), encoding="utf-8")

    full = inkwell("lore", "index", "-w", str(book.root), fsize_limit=before)
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert "error: writing the lore index" in full.stderr
    assert "previous index stays in service" in full.stderr

    store = open_store(book.chroma_dir, book.config.store)
    assert store.state().generation == 1  # never published the half-written generation
    assert search_ids(book, "Anselm Dray")[0] == "captain-dray"
    assert "harbour-3" not in search_ids(book, "harbour3")

    # Space again: the next ingest completes and drops the half-written leftovers.
    report = ingest(book.lore_dir, store, progress=False)
    assert report.published and report.generation == 2 and report.added == 12
    assert "harbour-3" in search_ids(book, "harbour3")
    # The pointer, the live generation and the one before it: no half-written leftovers.
    assert len(store.client.list_collections()) == 3


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_index_is_reported_and_rebuilt_with_one_command(
    tmp_path, scripted_upstream, damage
):
    book = init_workspace(tmp_path / "book")
    (book.lore_dir / "people.md").write_text(LORE, encoding="utf-8")
    ingest(book.lore_dir, open_store(book.chroma_dir, book.config.store), progress=False)
    # As if indexed by another process (the CLI): forget Chroma's client cached for the path.
    SharedSystemClient._identifier_to_system.pop(str(book.chroma_dir)).stop()
    database = book.chroma_dir / "chroma.sqlite3"
    if damage == "truncated":
        with database.open("r+b") as handle:
            handle.truncate(4096)
    else:
        database.write_bytes(os.urandom(8192))

    for args in (["lore", "index"], ["lore", "search", "Dray"]):
        result = inkwell(*args, "-w", str(book.root))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert f"the lore index at {book.chroma_dir} is damaged" in result.stderr
        assert "inkwell lore index --rebuild" in result.stderr

    chat = {"model": "base", "messages": [{"role": "user", "content": "Dray speaks."}]}
    with running_proxy(book, engine_url=scripted_upstream.url) as url:
        root = url.removesuffix("/v1")
        health = httpx.get(root + "/health").json()
        assert health["status"] == "degraded" and health["store"]["ok"] is False
        assert "damaged" in health["store"]["error"] and "--rebuild" in health["store"]["error"]
        # Writing goes on without lore rather than failing.
        assert httpx.post(url + "/chat/completions", json=chat).status_code == 200

        rebuilt = inkwell("lore", "index", "--rebuild", "-w", str(book.root))
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "2 added" in rebuilt.stdout

        # The running proxy notices the rebuilt index by itself.
        health = httpx.get(root + "/health").json()
        assert health["store"] == {"ok": True, "entries": 2, "error": None}
        assert httpx.post(url + "/chat/completions", json=chat).status_code == 200
        sent = scripted_upstream.received("/v1/chat/completions")[-1]["body"]
        assert "<inkwell-lore>" in sent["messages"][0]["content"]
    assert search_ids(book, "Anselm Dray")[0] == "captain-dray"
    # `chroma` names the new complete generation; only complete generations are kept.
    assert book.chroma_dir.is_symlink() and is_complete(book.chroma_dir.resolve())
    kept = [p for p in book.state_dir.iterdir() if p.name.startswith(("chroma.", ".chroma"))]
    assert all(p.name == "chroma.lock" or is_complete(p) for p in kept), kept
