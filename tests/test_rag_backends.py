"""Embedding backends: an index remembers the model that made it, a changed backend re-indexes
by itself (beside the old index, which serves until then and survives a killed re-index),
repeated queries are not embedded twice, and a model build that fails leaves nothing used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rag.indexing
from rag import RetrievalConfig, Retriever, StoreConfig, ingest, model_build, open_store
from rag.backends import fingerprint
from rag.embeddings import embed_query, query_cache
from tests.test_rag_store import REPO_ROOT, write_lore


def ids(hits) -> list[str]:
    return [h.entry_id for h in hits]


def test_a_changed_backend_reindexes_by_itself_with_progress(tmp_path, monkeypatch, capsys):
    lore = write_lore(tmp_path)
    chroma = tmp_path / "chroma"
    ingest(lore, open_store(chroma, StoreConfig(embedding="torch")), progress=False)
    store = open_store(chroma, StoreConfig(embedding="onnx-int8", refresh_s=0))
    assert store.state().model == fingerprint("torch")
    # Until the re-index, queries are embedded by the model that made the index.
    retriever = Retriever(store, RetrievalConfig())
    assert retriever.snapshot.backend == "torch"
    assert ids(retriever.search("prosthetic ceramic hand", limit=1)) == ["benedikta-ossory"]

    monkeypatch.setattr(rag.indexing, "PROGRESS_MIN_CHUNKS", 1)
    report = ingest(lore, store, progress=True)
    assert report.published and report.reindexed_from == fingerprint("torch")
    assert report.embedded == report.chunks and report.reused == 0
    assert "re-indexing lore for onnx-int8" in capsys.readouterr().err
    assert store.state().model == fingerprint("onnx-int8")
    assert retriever.snapshot.backend == "onnx-int8"  # the running retriever followed
    assert ids(retriever.search("prosthetic ceramic hand", limit=1)) == ["benedikta-ossory"]
    assert not ingest(lore, store, progress=False).published  # done once, not every time


KILLED_REINDEX = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import rag.indexing
    from rag import StoreConfig, ingest, open_store
    from rag.store import LoreStore

    rag.indexing.WRITE_BATCH = 1
    original = LoreStore.add_chunks
    def add_then_hang(self, *args, **kwargs):
        original(self, *args, **kwargs)
        print("WROTE", flush=True)
        time.sleep(600)
    LoreStore.add_chunks = add_then_hang
    ingest(Path(sys.argv[2]), open_store(Path(sys.argv[1]), StoreConfig(embedding="onnx-int8")))
    """
)


def test_a_killed_reindex_leaves_the_old_index_serving(tmp_path):
    lore = write_lore(tmp_path)
    chroma = tmp_path / "chroma"
    ingest(lore, open_store(chroma, StoreConfig(embedding="torch")), progress=False)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_REINDEX, str(chroma), str(lore)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "WROTE", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    store = open_store(chroma, StoreConfig(embedding="onnx-int8"))
    assert store.state().model == fingerprint("torch") and store.state().generation == 1
    retriever = Retriever(store, RetrievalConfig())
    assert ids(retriever.search("prosthetic ceramic hand", limit=1)) == ["benedikta-ossory"]


def test_a_repeated_query_is_served_from_the_cache(monkeypatch):
    from rag import backends

    calls = []
    model = backends.encoder("onnx-int8", "query")
    original = model.encode
    monkeypatch.setattr(
        model, "encode", lambda texts, **how: calls.append(texts) or original(texts, **how)
    )
    query_cache.clear()
    first = embed_query("Where does Benna keep the brass key?", "onnx-int8")
    again = embed_query("Where does Benna keep the brass key?", "onnx-int8")
    assert len(calls) == 1 and again is first
    assert np.allclose(first, original(["Where does Benna keep the brass key?"])[0], atol=1e-6)
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared between requests: read-only
    other = embed_query("Where does Benna keep the brass key?", "torch")
    assert other is not first  # the cache is per model


def test_a_failed_model_build_leaves_nothing_that_is_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("INKWELL_MODEL_CACHE", str(tmp_path))

    def dies_midway(out):
        (out / "model.onnx").write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setitem(model_build.BUILDERS, "onnx", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        model_build.built("onnx")
    final = tmp_path / model_build.build_name("onnx")
    assert not final.exists()

    monkeypatch.setitem(
        model_build.BUILDERS, "onnx", lambda out: (out / "model.onnx").write_text("ok")
    )
    assert model_build.built("onnx") == final
    assert (final / "model.onnx").read_text() == "ok"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # debris cleared
