"""`inkwell lore index | search | why` as a writer runs them, on a real workspace, store and
trace log (written by the proxy's own trace writer)."""

from __future__ import annotations

from typer.testing import CliRunner

from serving.cli.app import app
from serving.proxy.trace import TraceRecord, TraceWriter

LORE = """\
## Anselm Dray
keys: Dray, the Abbot
priority: 9

Captain Anselm Dray commands the station and drinks hot water with lemon rind.

## The Orangery
keys: Orangery

The Orangery grows lemons and dwarf wheat.
"""


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_index_search_and_bad_files(empty_workspace):
    ws = empty_workspace
    (ws.lore_dir / "people.md").write_text(LORE)
    root = str(ws.root)

    first = invoke("lore", "index", "-w", root)
    assert first.exit_code == 0, first.output
    assert "published generation 1: 2 added" in first.output
    again = invoke("lore", "index", "-w", root)
    assert again.exit_code == 0 and "no change" in again.output and "0 embedded" in again.output

    found = invoke("lore", "search", "the Abbot", "-w", root, "--limit", "1")
    assert found.exit_code == 0, found.output
    assert "Anselm Dray [anselm-dray]" in found.output
    assert "why: key 'the Abbot'" in found.output and "lore/people.md:1" in found.output

    (ws.lore_dir / "broken.yaml").write_text("- name: [oops\n")
    partial = invoke("lore", "index", "-w", root)
    assert partial.exit_code == 1
    assert "skipped: lore/broken.yaml:2: invalid YAML" in partial.output
    assert "no change" in partial.output  # the good entries are still indexed


def test_search_before_indexing_and_outside_a_workspace(empty_workspace, tmp_path):
    missing = invoke("lore", "search", "Dray", "-w", str(empty_workspace.root))
    assert missing.exit_code == 2 and "not indexed yet: run `inkwell lore index`" in missing.output
    nowhere = invoke("lore", "index", "-w", str(tmp_path / "nowhere"))
    assert nowhere.exit_code == 2 and "not an Inkwell workspace" in nowhere.output


def test_why_shows_what_a_request_got(empty_workspace):
    ws = empty_workspace
    writer = TraceWriter(ws.traces_path)
    record = TraceRecord(request_id="req-42", route="/v1/chat/completions", model="inkwell")
    record.lore = [{"id": "anselm-dray", "name": "Anselm Dray", "why": "key 'Dray'", "score": 1.2}]
    record.retrieval_ms, record.upstream_ms, record.status = 4.2, 120.0, 200
    writer.write(record)
    writer.write(TraceRecord(request_id="req-43", route="/v1/completions", lore_enabled=False))
    writer.close()

    shown = invoke("lore", "why", "req-42", "-w", str(ws.root))
    assert shown.exit_code == 0, shown.output
    assert "model inkwell -> adapter base" in shown.output
    assert "- Anselm Dray [anselm-dray]: key 'Dray'   score 1.20" in shown.output
    off = invoke("lore", "why", "req-43", "-w", str(ws.root))
    assert "lore was switched off" in off.output
    unknown = invoke("lore", "why", "nope", "-w", str(ws.root))
    assert unknown.exit_code == 2 and "no request 'nope'" in unknown.output
