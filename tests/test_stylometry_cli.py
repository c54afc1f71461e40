"""`inkwell style ...` and `inkwell bench stylometry` on the demo book and real novels.

The reference corpora here are small excerpts of the dev corpus written to a temp folder
(DIR/<author>/*.txt), to keep calibration quick."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serving.cli.app import app
from stylometry import read_text
from stylometry.text import chunk_paragraphs

runner = CliRunner()

BOOKS = {
    "austen": ["pride_and_prejudice.txt", "persuasion.txt"],
    "doyle": ["the_lost_world.txt", "the_hound_of_the_baskervilles.txt"],
    "twain": ["the_adventures_of_tom_sawyer.txt", "adventures_of_huckleberry_finn.txt"],
    "wells": ["the_time_machine.txt", "the_invisible_man.txt"],
}


@pytest.fixture(scope="module")
def small_corpus(corpora_dir: Path, tmp_path_factory) -> Path:
    """Four authors, two 8,000-word excerpts (two books) each."""
    root = tmp_path_factory.mktemp("corpus")
    for author, books in BOOKS.items():
        (root / author).mkdir()
        for book in books:
            text = "\n\n".join(chunk_paragraphs(read_text(corpora_dir / author / book), 1000)[2:10])
            (root / author / book).write_text(text, encoding="utf-8")
    return root


def test_profile_then_score_the_demo_book(demo_workspace, small_corpus, corpora_dir, tmp_path):
    ws = demo_workspace.root
    result = runner.invoke(
        app, ["style", "profile", "-w", str(ws), "--reference", str(small_corpus)]
    )
    assert result.exit_code == 0, result.output
    assert "AUC" in result.output and "held-out 05-lowmarket.md" in result.output
    saved = json.loads((ws / ".inkwell" / "style" / "profile.json").read_text())
    assert saved["calibration"]["levels"] and len(saved["data_hash"]) == 64

    other = tmp_path / "conrad.txt"
    other.write_text(
        chunk_paragraphs(read_text(corpora_dir / "conrad" / "the_rover.txt"), 2000)[3],
        encoding="utf-8",
    )
    held = [ws / "chapters" / "05-lowmarket.md", ws / "chapters" / "10-answer.md"]
    result = runner.invoke(
        app, ["style", "score", *map(str, held), str(other), "-w", str(ws), "--json"]
    )
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)
    assert [r["overall"] >= 75 for r in reports] == [True, True, False]
    assert reports[2]["overall"] < reports[2]["threshold"]
    assert set(reports[0]["parts"]) >= {"vocabulary", "sentence_lengths", "dialogue"}

    table = runner.invoke(app, ["style", "score", str(held[0]), "-w", str(ws)])
    assert table.exit_code == 0 and "05-lowmarket.md" in table.output


def test_score_errors_are_clean(demo_workspace, tmp_path):
    ws = str(demo_workspace.root)
    result = runner.invoke(app, ["style", "score", str(tmp_path / "x.txt"), "-w", ws])
    assert result.exit_code == 2 and "inkwell style profile" in result.output
    config = demo_workspace.root / "inkwell.yaml"  # the demo book finds the dev corpus: unset it
    config.write_text(
        re.sub(r"reference_corpus: .*", "reference_corpus: null", config.read_text()),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["style", "profile", "-w", ws])
    assert result.exit_code == 2 and "style.reference_corpus" in result.output


def test_attribute_caches_corpus_profiles(small_corpus, corpora_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("INKWELL_CACHE_DIR", str(tmp_path / "cache"))
    sample = tmp_path / "unknown.txt"
    sample.write_text(
        chunk_paragraphs(read_text(corpora_dir / "wells" / "the_time_machine.txt"), 3000)[5],
        encoding="utf-8",
    )
    result = runner.invoke(
        app, ["style", "attribute", str(sample), "--corpus", str(small_corpus), "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0]["file"] == str(sample) and rows[0]["author"] == "wells"
    assert set(rows[0]["scores"]) == set(BOOKS)
    cached = sorted((tmp_path / "cache" / "style").glob("*.json"))
    assert len(cached) == len(BOOKS)
    mtimes = [p.stat().st_mtime_ns for p in cached]
    again = runner.invoke(
        app, ["style", "attribute", str(sample), "--corpus", str(small_corpus), "--json"]
    )
    assert json.loads(again.output) == rows
    assert [p.stat().st_mtime_ns for p in cached] == mtimes


def test_bench_stylometry_writes_its_report(small_corpus, tmp_path):
    """Both protocols at two lengths, every method, the score's c@1/Brier/reliability, the
    speed check, and "judge not measured" without an endpoint."""
    out = tmp_path / "bench"
    result = runner.invoke(
        app,
        [
            *("bench", "stylometry", "--corpus", str(small_corpus), "--words", "300,1000"),
            *("--json", "--out", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert set(figures["protocols"]) == {"rotation", "leave_authors_out"}
    for protocol in figures["protocols"].values():
        assert set(protocol["by_words"]) == {"300", "1000"}
        for methods in protocol["by_words"].values():
            assert {"inkwell", "cosine_delta", "char_ngrams", "svm_words_chars"} <= set(methods)
            assert {"faststylometry_burrows_delta"} <= set(methods)
            assert all(0 <= m["top1"] <= 1 and 0 <= m["auc"] <= 1 for m in methods.values())
            score = methods["inkwell"]
            assert 0 <= score["c_at_1"] <= 1 and 0 <= score["brier"] <= 1 and score["reliability"]
    assert figures["scoring_speed"]["texts"] > 0 and figures["scoring_speed"]["cpu_s"] > 0
    assert figures["judge"] == {
        "measured": False,
        "note": "judge not measured: no --judge-url given",
    }
    saved = json.loads((out / "stylometry_attribution.json").read_text())
    assert saved["machine"]["cores"]
    md = (out / "stylometry_attribution.md").read_text()
    assert "| inkwell |" in md and "leave authors out" in md and "judge not measured" in md
    for plot in ("accuracy_by_length", "reliability"):
        assert (out / f"stylometry_attribution_{plot}.png").stat().st_size > 1000


def test_bench_words_must_be_lengths(small_corpus):
    result = runner.invoke(
        app, ["bench", "stylometry", "--corpus", str(small_corpus), "--words", "200,abc"]
    )
    assert result.exit_code != 0 and "--words" in result.output


def test_attribute_federalist_style_short_essays(corpora_dir, tmp_path, monkeypatch):
    """The Federalist setting: a few authors, a handful of short essays each, and disputed
    essays of the same kind. Built from the dev corpus: six 1,500-word essays per author as
    the candidates' corpus, two later essays per author as the disputed ones."""
    monkeypatch.setenv("INKWELL_CACHE_DIR", str(tmp_path / "cache"))
    sources = {
        "austen": "austen/persuasion.txt",
        "doyle": "doyle/the_hound_of_the_baskervilles.txt",
        "wells": "wells/the_invisible_man.txt",
    }
    root, disputed = tmp_path / "papers", []
    for author, rel in sources.items():
        essays = chunk_paragraphs(read_text(corpora_dir / rel), 1500)
        (root / author).mkdir(parents=True)
        for i, essay in enumerate(essays[2:8]):
            (root / author / f"no_{i:02d}.txt").write_text(essay, encoding="utf-8")
        for j, essay in enumerate(essays[15:17]):
            path = tmp_path / f"disputed_{author}_{j}.txt"
            path.write_text(essay, encoding="utf-8")
            disputed.append((author, path))
    result = runner.invoke(
        app,
        ["style", "attribute", *(str(p) for _, p in disputed), "--corpus", str(root), "--json"],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["author"] for r in rows] == [a for a, _ in disputed]
    assert all(0 <= s <= 100 for r in rows for s in r["scores"].values())
