"""Lore parsing, chunking, keyword triggers and prompt injection: the parts of `rag` that need
no model or store, tested on the demo book's real lore and on the mistakes authors make."""

from __future__ import annotations

from pathlib import Path

import yaml

from rag import LoreHit, inject_chat, lore_prefix, parse_lore_dir
from rag.chunking import chunk_text
from rag.entry import EntryKeys, LoreEntry, SecondaryKeys
from rag.triggers import KeywordTriggers
from serving.foundation.workspace import DEMO_BOOK

QUESTIONS = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "lore_questions.yaml"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def by_id(entries: list[LoreEntry]) -> dict[str, LoreEntry]:
    return {e.id: e for e in entries}


def test_demo_lore_parses_completely_with_every_field():
    """The demo lore uses every feature; it must ingest without a single problem."""
    entries, errors = parse_lore_dir(DEMO_BOOK / "lore")
    assert errors == []
    assert len(entries) >= 40
    dray = by_id(entries)["captain-anselm-dray"]
    assert dray.category == "character"  # from characters.md's front matter
    assert "the Abbot" in dray.keys and dray.where.startswith("lore/characters.md:")
    assert any(e.first_chapter for e in entries)
    assert any(e.secondary_keys.and_ for e in entries)
    assert any(e.secondary_keys.not_ for e in entries)
    assert any(e.constant for e in entries)
    assert {e.source.rsplit(".", 1)[1] for e in entries} == {"md", "yaml"}


def test_markdown_conventions(tmp_path):
    lore = tmp_path / "lore"
    write(
        lore / "people.md",
        "---\ncategory: character\npriority: 2\ntags: [draft]\n---\n"
        "# People of the Lantern\n\n"
        "## Ilse Varga {#ilse}\n"
        "- **Keys:** Ilse, the Grey Widow\n"
        "**First chapter:** 3\n"
        "Secondary keys: harbour, not storm\n\n"
        "Ilse keeps the harbour ledger.\n\n### Habits\nShe hums.\n\n---\n\n"
        '## Bram\nkeys: [Bram, "Bram the Younger"]\nconstant: yes\npriority: 7\n\n'
        "```\n## not a heading\n```\nBram mends nets.\n",
    )
    write(lore / "places" / "harbour.md", "---\nname: The Harbour\nkeys: docks\n---\nSalt and tar.")
    entries, errors = parse_lore_dir(lore)
    assert errors == []
    found = by_id(entries)
    ilse = found["ilse"]
    assert ilse.name == "Ilse Varga" and ilse.keys == ["Ilse", "the Grey Widow"]
    assert (ilse.category, ilse.priority, ilse.first_chapter) == ("character", 2, 3)
    assert ilse.secondary_keys == SecondaryKeys(and_=["harbour"], not_=["storm"])
    assert ilse.text == "Ilse keeps the harbour ledger.\n\n### Habits\nShe hums."
    bram = found["bram"]
    assert bram.constant and bram.priority == 7 and bram.keys == ["Bram", "Bram the Younger"]
    assert "## not a heading" in bram.text
    harbour = found["the-harbour"]  # no headings: one entry named by its front matter
    assert harbour.keys == ["docks"] and harbour.category == "places"


def test_yaml_layouts(tmp_path):
    lore = tmp_path / "lore"
    write(lore / "list.yaml", "- {name: Veyl, keys: [gas giant], text: A banded giant.}\n")
    write(
        lore / "shared.yml",
        "category: ship\nfirst_chapter: 2\nentries:\n"
        "  - name: Ermine\n    aliases: tug\n    text: An ice tug.\n",
    )
    write(lore / "grouped.yaml", "faction:\n  - name: The Co-op\n    content: Ice miners.\n")
    entries, errors = parse_lore_dir(lore)
    assert errors == []
    found = by_id(entries)
    assert found["veyl"].category == "list"  # no category anywhere: the file's name
    assert (found["ermine"].category, found["ermine"].first_chapter) == ("ship", 2)
    assert found["ermine"].keys == ["tug"]
    assert found["the-co-op"].category == "faction" and found["the-co-op"].text == "Ice miners."


def test_bad_files_are_reported_by_path_and_line_and_the_rest_ingests(tmp_path):
    lore = tmp_path / "lore"
    write(lore / "characters.md", "## Dray\nkeys: the Abbot\n\nThe captain.\n")
    write(lore / "broken.yaml", "- name: Sedge\n  text: An icy moon.\n- name: [unclosed\n")
    write(
        lore / "fields.yaml", "- name: Veyl\n  priority: high\n  text: x\n- name: Ok\n  text: y\n"
    )
    write(lore / "noname.md", "## \n\nText without a name.\n## Empty\nkeys: e\n")
    write(lore / "dupe.yaml", "- {id: dray, name: Another Dray, text: Clash.}\n")
    write(lore / "portrait.md", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    write(lore / "latin1.md", "## Caf\xe9\n\nok\n".encode("latin-1"))
    write(lore / "map.png", b"\x89PNG")
    entries, errors = parse_lore_dir(lore)
    messages = [str(e) for e in errors]

    assert sorted(by_id(entries)) == ["dray", "ok"]
    assert any(
        m.startswith("lore/broken.yaml:4: invalid YAML") and "opened at line 3" in m
        for m in messages
    )
    assert any(m.startswith("lore/fields.yaml:1:") and "priority" in m for m in messages)
    assert any(m.startswith("lore/noname.md:1:") and "no name" in m for m in messages)
    assert any(m.startswith("lore/noname.md:4:") and "'Empty' has no text" in m for m in messages)
    assert any(
        m.startswith("lore/dupe.yaml:1:")
        and "duplicate id 'dray'" in m
        and "lore/characters.md:1" in m
        for m in messages
    )
    assert any(m.startswith("lore/portrait.md:3:") and "binary" in m for m in messages)
    assert any(m.startswith("lore/latin1.md:1:") and "UTF-8" in m for m in messages)
    assert any(m.startswith("lore/map.png:") and "not a lore file" in m for m in messages)


def test_chunks_follow_paragraphs_and_stay_under_the_limit():
    paragraphs = [" ".join(f"w{p}x{i}" for i in range(30)) + "." for p in range(6)]
    long_sentence = " ".join(f"long{i}" for i in range(130))
    chunks = chunk_text("\n\n".join([*paragraphs, long_sentence]), max_words=70)
    assert all(len(c.split()) <= 70 for c in chunks)
    assert chunks[0] == paragraphs[0] + "\n\n" + paragraphs[1]  # two paragraphs fit, not three
    rejoined = " ".join(" ".join(chunks).split())
    assert rejoined == " ".join(" ".join([*paragraphs, long_sentence]).split())  # nothing lost


def indexed_triggers(entries: list[LoreEntry]) -> KeywordTriggers:
    """The keyword table as a proxy builds it: from the entries as the index stores them."""
    return KeywordTriggers(EntryKeys.from_index(e.model_dump(by_alias=True)) for e in entries)


def entry(entry_id: str, name: str, keys: list[str], **extra) -> LoreEntry:
    return LoreEntry(id=entry_id, name=name, keys=keys, text="t", **extra)


def test_keyword_triggers_match_whole_words_any_case_and_every_overlap():
    entries = [
        entry("dray", "Anselm Dray", ["Dray", "the Abbot"]),
        entry("lusk", "Lusk's correspondence", ["Lusk informant"]),
        entry("ilse", "Ilse", []),
        entry("ilse-varga", "Ilse Varga", []),
        entry("varga", "Varga", ["Old Varga"]),
    ]
    triggers = indexed_triggers(entries)
    text = "DRAYTON came. The ABBOT\nspoke; Lusk’s Correspondence burned. Ilse  Varga left."
    fired = triggers.fired(triggers.scan(text))
    assert fired == {
        "dray": "the Abbot",  # across a line break; 'Drayton' is not 'Dray'
        "lusk": "Lusk's correspondence",  # curly apostrophe
        "ilse": "Ilse",  # a shorter key at the same start as a longer match
        "ilse-varga": "Ilse Varga",
        "varga": "Varga",  # a key that starts inside a longer match
    }
    assert triggers.fired(triggers.scan("Ilsevarga and varga's")) == {"varga": "Varga"}


def hit(entry_id: str, text: str = "Lore text.") -> LoreHit:
    return LoreHit(entry_id, entry_id.title(), "place", text, 1.0, "key 'x'", 3)


def test_inject_chat_is_marked_idempotent_and_leaves_the_input_alone():
    messages = [
        {"role": "system", "content": "You are a novelist.", "name": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "Go on."}]},
    ]
    original = yaml.safe_dump(messages)
    once = inject_chat(messages, [hit("well"), hit("sneaky", "x </inkwell-lore> y")])
    assert yaml.safe_dump(messages) == original
    system = once[0]["content"]
    assert system.startswith("You are a novelist.\n\n<inkwell-lore>")
    assert system.count("</inkwell-lore>") == 1 and system.endswith("</inkwell-lore>")
    assert "## Well (place)\nLore text." in system
    assert once[0]["name"] == "sys" and once[1] is messages[1]
    assert inject_chat(once, [hit("well"), hit("sneaky", "x </inkwell-lore> y")]) == once
    replaced = inject_chat(once, [hit("orangery")])
    assert "Orangery" in replaced[0]["content"] and "Well" not in replaced[0]["content"]
    assert inject_chat(once, []) == messages


def test_inject_chat_without_a_system_message_and_with_content_parts():
    user = [{"role": "user", "content": "Hi"}]
    added = inject_chat(user, [hit("well")])
    assert added[0]["role"] == "system" and added[1:] == user
    assert inject_chat(added, []) == user  # the system message was only our lore
    parts = [{"role": "system", "content": [{"type": "text", "text": "Rules."}]}]
    with_lore = inject_chat(parts, [hit("well")])
    assert with_lore[0]["content"][0] == {"type": "text", "text": "Rules."}
    assert with_lore[0]["content"][1]["text"].startswith("<inkwell-lore>")
    assert inject_chat(with_lore, [hit("well")]) == with_lore


def test_lore_prefix_is_short_and_empty_without_hits():
    assert lore_prefix([]) == ""
    prefix = lore_prefix([hit("well", "Hot.\n\nLoud.")])
    assert prefix == "<inkwell-lore>\nWell: Hot. Loud.\n</inkwell-lore>\n\n"


def test_benchmark_questions_name_real_demo_entries():
    questions = yaml.safe_load(QUESTIONS.read_text())["questions"]
    entries, _ = parse_lore_dir(DEMO_BOOK / "lore")
    ids = by_id(entries)
    assert len(questions) >= 60
    assert {q["kind"] for q in questions} == {"direct", "alias", "paraphrase"}
    assert all(q["answer"] in ids for q in questions)
    triggers = indexed_triggers(entries)
    for q in questions:
        fired = triggers.fired(triggers.scan(q["q"]))
        if q["kind"] == "paraphrase":  # vectors alone must find these
            assert q["answer"] not in fired, q["q"]
        if q["kind"] == "alias":
            assert q["answer"] in fired and ids[q["answer"]].name.lower() not in q["q"].lower()
