"""`inkwell lore index --rebuild` killed (SIGKILL) at each point of its swap: whatever the point,
`chroma` names a complete index afterwards (once `recover`, which every opener runs, has looked),
the next rebuild completes, and a running proxy moves to a rebuilt index within store.refresh_s
without a restart; the proxy's own background re-index (an index made by another embedding model)
waits for the index lock another process holds, serving the old index meanwhile. The engine
behind the proxy is the STAND-IN (benchmarks/harness)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

import rag
import rag.rebuild
from rag.backends import fingerprint
from rag.config import RetrievalConfig
from rag.rebuild import generations, is_complete, rebuild, recover
from rag.retrieve import Retriever
from rag.store import open_store
from serving.foundation.workspace import Workspace, init_workspace
from tests.fixtures.upstream import running_proxy
from tests.reliability_counts import record
from tests.test_faults_lore import LORE

# Each kill point patches one step of rag.rebuild to SIGKILL the process there.
KILLER = """
import os, signal, sys
from pathlib import Path
import rag.rebuild as rb
from serving.foundation.workspace import Workspace
point, root = sys.argv[1], sys.argv[2]
die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
real_replace, real_symlink = os.replace, os.symlink
def replace_then_die(src, dst):
    real_replace(src, dst)
    if Path(src).name == "chroma":
        die()
def symlink_then_die(src, dst):
    real_symlink(src, dst)
    die()
if point == "index-built-not-marked":
    rb._mark_complete = die
elif point == "marked-not-swapped":
    rb._point = die
elif point == "between-first-renames":
    os.replace = replace_then_die
elif point == "link-made-not-renamed":
    os.symlink = symlink_then_die
ws = Workspace.load(root)
rb.rebuild(ws.lore_dir, ws.chroma_dir, ws.config.store, progress=False)
"""
# (kill point, whether the index had been rebuilt before: a link already, or a plain folder)
KILL_POINTS = [
    ("index-built-not-marked", True),
    ("marked-not-swapped", True),
    ("link-made-not-renamed", True),
    ("between-first-renames", False),
    ("marked-not-swapped", False),
]


def entries(ws: Workspace) -> int:
    recover(ws.chroma_dir)  # what every opener does first
    store = open_store(ws.chroma_dir.resolve(), ws.config.store)
    return len(Retriever(store, RetrievalConfig()).snapshot.entries)


def book_with_index(root: Path, rebuilt_before: bool) -> Workspace:
    ws = init_workspace(root)
    (ws.lore_dir / "people.md").write_text(LORE, encoding="utf-8")
    if rebuilt_before:
        rebuild(ws.lore_dir, ws.chroma_dir, ws.config.store, progress=False)
    else:
        from rag.indexing import ingest

        ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store), progress=False)
    return ws


@pytest.mark.parametrize(("point", "rebuilt_before"), KILL_POINTS)
def test_killed_rebuild_leaves_a_complete_index(tmp_path: Path, point: str, rebuilt_before: bool):
    ws = book_with_index(tmp_path / "book", rebuilt_before)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, point, str(ws.root)], capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert entries(ws) == 2  # a complete index, the old or the new one
    rebuild(ws.lore_dir, ws.chroma_dir, ws.config.store, progress=False)
    assert entries(ws) == 2
    assert all(is_complete(p) for p in generations(ws.chroma_dir).values())
    record("kill_points", f"rebuild: {point}", 1, data_lost=0)


def test_running_proxy_moves_to_a_rebuilt_index(tmp_path: Path, scripted_upstream) -> None:
    ws = book_with_index(tmp_path / "book", rebuilt_before=True)
    with running_proxy(ws, engine_url=scripted_upstream.url) as url:
        health = url.removesuffix("/v1") + "/health"
        assert httpx.get(health).json()["store"]["entries"] == 2
        with (ws.lore_dir / "people.md").open("a", encoding="utf-8") as lore:
            lore.write("\n## Ossory\nkeys: Ossory\n\nOssory is the drowned quarter.\n")
        rebuild(ws.lore_dir, ws.chroma_dir, ws.config.store, progress=False)
        deadline = time.monotonic() + ws.config.store.refresh_s + 10
        while httpx.get(health).json()["store"]["entries"] != 3:
            assert time.monotonic() < deadline, "the proxy kept serving the old index"
            time.sleep(0.2)


# Holds the workspace's index lock, as a running `inkwell lore index` does, until told to stop.
LOCK_HOLDER = """
import sys
from pathlib import Path
from rag.rebuild import index_lock
with index_lock(Path(sys.argv[1])):
    print("HELD", flush=True)
    sys.stdin.readline()
"""


def test_proxy_reindex_waits_for_the_lock_another_process_holds(
    tmp_path: Path, scripted_upstream, monkeypatch
) -> None:
    ws = init_workspace(tmp_path / "book")
    (ws.lore_dir / "people.md").write_text(LORE, encoding="utf-8")
    made_by = ws.config.store.model_copy(update={"embedding": "torch"})
    rebuild(ws.lore_dir, ws.chroma_dir, made_by, progress=False)  # configured: onnx-int8
    fast = ws.config.store.model_copy(update={"refresh_s": 0.2})
    ws = replace(ws, config=ws.config.model_copy(update={"store": fast}))
    attempts, ingests = [], []
    real_lock, real_ingest = rag.rebuild.index_lock, rag.ingest
    monkeypatch.setattr(
        rag.rebuild, "index_lock", lambda *a, **k: attempts.append(k) or real_lock(*a, **k)
    )
    monkeypatch.setattr(rag, "ingest", lambda *a, **k: ingests.append(1) or real_ingest(*a, **k))

    def index_model() -> str:
        return open_store(ws.chroma_dir.resolve(), ws.config.store).state().model

    def ask_lore(url: str) -> str:
        reply = httpx.post(
            url.removesuffix("/v1") + "/context/lore",
            json={"query": "Dray", "fullInput": "Who commands the Belfry?"},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        return " ".join(item["content"] for item in reply.json())

    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(ws.chroma_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "HELD"
        with running_proxy(ws, engine_url=scripted_upstream.url) as url:
            assert "Anselm Dray commands the Belfry" in ask_lore(url)  # the old index serves
            deadline = time.monotonic() + 30
            while len(attempts) < 3:  # tried again and again, never waiting on the lock
                assert time.monotonic() < deadline, "the re-index never tried the lock"
                time.sleep(0.1)
            assert all(kwargs == {"blocking": False} for kwargs in attempts)
            assert ingests == [] and index_model() == fingerprint("torch")
            assert "Anselm Dray commands the Belfry" in ask_lore(url)

            holder.communicate("release\n", timeout=60)  # the other process lets go
            deadline = time.monotonic() + 120
            while index_model() != fingerprint("onnx-int8"):
                assert time.monotonic() < deadline, "the re-index did not run after the release"
                time.sleep(0.2)
            assert ingests == [1]
            assert "Anselm Dray commands the Belfry" in ask_lore(url)
    finally:
        holder.kill()
        holder.wait(timeout=30)
