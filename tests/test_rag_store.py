"""The lore store end to end: real Chroma on disk (and a real `chroma run` server), real
all-MiniLM-L6-v2 embeddings, the real ingest and retriever."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.harness.processes import free_port
from rag import RetrievalConfig, Retriever, StoreConfig, ingest, open_store

REPO_ROOT = Path(__file__).resolve().parents[1]

CHARACTERS = """\
---
category: character
---

## Anselm Dray
keys: Dray, the Abbot, Captain Dray
priority: 9

Captain Anselm Dray commands the relay station. He drinks hot water with lemon rind and
keeps the station log in his own hand.

## Benedikta Ossory
keys: Benna, the Chief
priority: 8

Benedikta Ossory is the chief engineer. Her left hand is a prosthetic of pale blue ceramic;
she lost the hand when she reached into the freezing reactor loop.
"""

PLACES = """\
- id: orangery
  name: The Orangery
  keys: [Orangery, hydroponic gallery]
  category: place
  priority: 4
  text: The Orangery grows lemons, beans and dwarf wheat, and houses a beehive.
- id: thumbprint
  name: The Thumbprint
  keys: [Thumbprint]
  secondary_keys: {not: [thumbprint lock]}
  category: place
  text: The Thumbprint is the permanent violet storm on the gas giant's southern face.
- id: premise
  name: The world
  category: world
  constant: true
  priority: 10
  text: Nothing travels faster than light; the year is 2349.
"""

SECRETS = """\
## Lusk's correspondence
keys: Lusk informant, the letters
secondary_keys: Sodality, Lusk
first_chapter: 6
priority: 7

Doctor Lusk secretly sends recordings of the signal to the Sodality.
"""


def write_lore(root: Path) -> Path:
    lore = root / "lore"
    lore.mkdir(parents=True, exist_ok=True)
    (lore / "characters.md").write_text(CHARACTERS)
    (lore / "places.yaml").write_text(PLACES)
    (lore / "secrets.md").write_text(SECRETS)
    return lore


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """One lore folder indexed once into an embedded store (module-wide: embedding is slow)."""
    root = tmp_path_factory.mktemp("lore-store")
    lore = write_lore(root)
    store = open_store(root / "chroma", StoreConfig())
    first = ingest(lore, store, progress=False)
    return lore, store, first


@pytest.fixture(scope="module")
def retriever(indexed):
    _, store, _ = indexed
    return Retriever(store, RetrievalConfig())


def ids(hits) -> list[str]:
    return [h.entry_id for h in hits]


def chat(*texts: str) -> list[dict]:
    return [{"role": "system", "content": "You write fiction."}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)
    ]


def test_first_ingest_indexes_everything(indexed):
    _, store, first = indexed
    assert (first.added, first.updated, first.removed, first.unchanged) == (6, 0, 0, 0)
    assert first.published and first.embedded == first.chunks == store.count(store.state().active)
    assert first.errors == []


def test_reingest_of_unchanged_lore_embeds_nothing(indexed):
    lore, store, first = indexed
    again = ingest(lore, store, progress=False)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 6)
    assert again.embedded == 0 and not again.published
    assert store.state().generation == first.generation


def test_keyword_vector_and_constant_hits_say_why(retriever):
    hits = retriever.retrieve(chat("The Abbot set down his cup in the Orangery."))
    assert ids(hits)[0] == "premise" and hits[0].why.startswith("constant")
    found = {h.entry_id: h for h in hits}
    assert found["anselm-dray"].why.startswith("key 'the Abbot'")
    assert found["orangery"].why.startswith("key 'The Orangery'")
    # keyword hits come before vector-only ones, by priority: Dray (9) before Orangery (4)
    assert ids(hits).index("anselm-dray") < ids(hits).index("orangery")
    assert len(ids(hits)) == len(set(ids(hits)))  # one hit per entry

    paraphrase = retriever.search("Which crew member has a prosthetic ceramic hand?", limit=3)
    assert paraphrase[0].entry_id == "benedikta-ossory"
    assert paraphrase[0].why.startswith("vector 0.")


def test_only_the_last_messages_are_scanned_and_parts_are_read(retriever):
    config = retriever.config
    old = ["Dray spoke."] + ["Nothing."] * config.scan_messages
    assert "anselm-dray" not in ids(retriever.retrieve(chat(*old)))
    parts = [{"role": "user", "content": [{"type": "text", "text": "Benna swore."}]}]
    assert "benedikta-ossory" in ids(retriever.retrieve(parts))


def test_secondary_keys_and_spoiler_guard(retriever):
    # AND: 'the letters' alone does not fire the secret by keyword; with 'Sodality' it does
    alone = retriever.retrieve(chat("She burned the letters."))
    assert not [h for h in alone if h.entry_id == "lusks-correspondence" and "key" in h.why]
    both = chat("She burned the letters for the Sodality.")
    assert "lusks-correspondence" in ids(retriever.retrieve(both, current_chapter=6))
    # first_chapter: not injected while chapter 5 is being written
    assert "lusks-correspondence" not in ids(retriever.retrieve(both, current_chapter=5))
    # NOT: a 'thumbprint lock' is not the storm
    assert "thumbprint" in ids(retriever.retrieve(chat("The Thumbprint flared.")))
    assert "thumbprint" not in ids(retriever.retrieve(chat("The Thumbprint lock clicked.")))


def test_token_budget_keeps_the_best_and_cuts_the_rest(retriever):
    messages = chat("Dray and Benna argued in the Orangery.")
    everything = retriever.retrieve(messages, budget_tokens=10_000)
    tight = retriever.retrieve(messages, budget_tokens=everything[0].tokens + everything[1].tokens)
    assert ids(tight) == ids(everything)[:2]
    assert retriever.retrieve(messages, budget_tokens=0) == []


def test_edit_and_delete_are_incremental_and_a_running_retriever_follows(tmp_path):
    lore = write_lore(tmp_path)
    store = open_store(tmp_path / "chroma", StoreConfig(refresh_s=0))
    ingest(lore, store, progress=False)
    retriever = Retriever(store, RetrievalConfig())
    assert "orangery" in ids(retriever.search("Orangery"))

    (lore / "characters.md").write_text(CHARACTERS.replace("lemon rind", "a slice of ginger"))
    (lore / "places.yaml").unlink()
    report = ingest(lore, store, progress=False)
    assert (report.updated, report.removed, report.unchanged) == (1, 3, 2)
    assert report.embedded == 1  # only Dray's one chunk; Ossory's and the secret's are reused
    assert report.published and report.generation == 2

    assert "orangery" not in ids(retriever.search("Orangery"))
    dray = retriever.search("Dray", limit=1)[0]
    assert "ginger" in dray.text and "lemon" not in dray.text
    # the generation before is kept for readers still on it; older ones are dropped
    names = {c.name for c in store.client.list_collections()}
    assert {store.state().active, store.state().previous} <= names


KILLED_INGEST = textwrap.dedent(
    """
    import os, sys, time
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
    store = open_store(Path(sys.argv[1]), StoreConfig())
    ingest(Path(sys.argv[2]), store, progress=False)
    """
)


def test_ingest_killed_midway_leaves_the_previous_index_usable(tmp_path):
    lore = write_lore(tmp_path)
    chroma = tmp_path / "chroma"
    ingest(lore, open_store(chroma, StoreConfig()), progress=False)
    (lore / "more.md").write_text("## Veyl\nkeys: the gas giant\n\nA banded giant planet.\n")

    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST, str(chroma), str(lore)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # blocks until one batch of the new generation is written
        assert line.strip() == "WROTE", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)

    store = open_store(chroma, StoreConfig())
    state = store.state()
    assert state.generation == 1
    leftovers = {c.name for c in store.client.list_collections()} - {state.active, "lore"}
    assert len(leftovers) == 1  # the half-written generation, never published
    retriever = Retriever(store, RetrievalConfig())
    assert ids(retriever.search("the Abbot", limit=1)) == ["anselm-dray"]
    assert "veyl" not in ids(retriever.search("banded giant planet"))

    report = ingest(lore, store, progress=False)
    assert report.published and report.added == 1 and report.embedded == 1
    names = {c.name for c in store.client.list_collections()}
    assert not leftovers & names
    assert "veyl" in ids(Retriever(store, RetrievalConfig()).search("the gas giant"))


def test_chapters_are_story_so_far_memory(tmp_path):
    lore = write_lore(tmp_path)
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    (chapters / "01-arrival.md").write_text(
        "# Arrival\n\nThe cutter docked at the hub and the auditor stepped aboard in white "
        "gloves, asking about the signal before she had taken off her coat."
    )
    store = open_store(tmp_path / "chroma", StoreConfig())
    report = ingest(lore, store, chapters=sorted(chapters.iterdir()), progress=False)
    assert report.added == 7
    retriever = Retriever(store, RetrievalConfig())
    query = "the auditor in white gloves stepped aboard from the cutter"
    hits = retriever.search(query, current_chapter=2)
    memory = next(h for h in hits if h.entry_id == "chapter:01-arrival")
    assert memory.name == "Chapter 1: Arrival" and memory.why.startswith("vector")
    assert "chapter:01-arrival" not in ids(retriever.search(query, current_chapter=1))
    # indexing without chapters removes them again
    assert ingest(lore, store, progress=False).removed == 1


@pytest.fixture
def chroma_server(tmp_path):
    """A real `chroma run` server on a free loopback port, stopped after the test."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma CLI comes with chromadb"
    port = free_port()
    log = (tmp_path / "chroma-server.log").open("w")
    server = subprocess.Popen(
        [
            chroma,
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert server.poll() is None, (tmp_path / "chroma-server.log").read_text()
                assert time.monotonic() < deadline, "chroma server did not start"
                time.sleep(0.3)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_http_backend_against_a_real_chroma_server(tmp_path, chroma_server):
    config = StoreConfig(backend="http", port=chroma_server, refresh_s=0)
    lore = write_lore(tmp_path)
    store = open_store(tmp_path / "unused", config)
    assert store.location == f"http://127.0.0.1:{chroma_server}"
    first = ingest(lore, store, progress=False)
    assert first.published and first.added == 6
    assert ingest(lore, store, progress=False).embedded == 0

    # a second client (another writer on the team) sees the same index
    other = Retriever(open_store(tmp_path / "elsewhere", config), RetrievalConfig())
    hits = other.retrieve(chat("The Abbot drank his hot water."))
    assert "anselm-dray" in ids(hits)
    assert not (tmp_path / "unused").exists()


def test_http_backend_without_a_server_says_how_to_start_one(tmp_path):
    port = free_port()
    with pytest.raises(ValueError, match=rf"no Chroma server answers at .*:{port}.*chroma run"):
        open_store(tmp_path / "chroma", StoreConfig(backend="http", port=port))


def test_a_proxy_opens_the_index_from_its_tables_and_survives_damaged_ones(tmp_path):
    """Ingest writes the generation's serving tables; a retriever opened from them serves
    what one reading Chroma serves, and damaged tables are ignored (and written again)."""
    from rag.tables import TABLES_DIR, tables_dir

    chroma = tmp_path / "chroma"
    ingest(write_lore(tmp_path), open_store(chroma, StoreConfig()), progress=False)
    store = open_store(chroma, StoreConfig())
    active = store.state().active
    assert (tables_dir(chroma, active) / "vectors.npy").is_file()
    question = chat("Tell me about the Belfry and Captain Dray.")
    from_tables = Retriever(store, RetrievalConfig()).retrieve(question)

    (tables_dir(chroma, active) / "chunks.json").write_text("{ not json", encoding="utf-8")
    from_chroma = Retriever(store, RetrievalConfig()).retrieve(question)
    assert from_tables and [h.to_dict() for h in from_tables] == [h.to_dict() for h in from_chroma]
    assert (tables_dir(chroma, active) / "chunks.json").read_text().startswith('{"format"')
    shutil.rmtree(chroma / TABLES_DIR)
    Retriever(store, RetrievalConfig())  # a generation without tables gets them on first open
    assert (tables_dir(chroma, active) / "vectors.npy").is_file()
