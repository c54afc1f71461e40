"""Malformed files a writer can produce by hand: the book's inkwell.yaml and its chapters. Each
is reported with its path (and line, where the problem has one), never a traceback, and the good
files around it still count. (Malformed lore files: test_rag_parse.py and test_rag_cli.py; a
malformed training config: test_finetune.py.)"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rag.chapters import chapter_entries
from serving.cli.app import app as cli


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("server:\n  port: 8001\n  host: [127.0.0.1\n", "inkwell.yaml: invalid YAML at line 4"),
        ("server:\n  port: eighty\n", "inkwell.yaml: server.port: Input should be a valid integer"),
        ("server:\n  prot: 8001\n", "inkwell.yaml: server.prot: Extra inputs are not permitted"),
        ("- just\n- a list\n", "inkwell.yaml: expected a mapping at the top level"),
        (b"book:\n  title: \xff\xfe\n", "inkwell.yaml: not UTF-8 text"),
    ],
)
def test_a_broken_workspace_config_is_reported_by_path_and_key(
    empty_workspace, yaml_text, expected
):
    config = empty_workspace.root / "inkwell.yaml"
    config.write_bytes(yaml_text if isinstance(yaml_text, bytes) else yaml_text.encode())
    for command in (["lore", "search", "x"], ["serve"], ["lore", "index"]):
        result = CliRunner().invoke(cli, [*command, "-w", str(empty_workspace.root)])
        assert result.exit_code == 2, (command, result.output)
        assert expected in result.output, (command, result.output)
        assert str(config) in result.output
        assert "Traceback" not in result.output


def test_bad_chapters_are_named_with_their_line_and_the_rest_still_count(empty_workspace):
    chapters = empty_workspace.chapters_dir
    (chapters / "01.txt").write_text("The first chapter.\n\nIt is fine.\n", encoding="utf-8")
    (chapters / "02.txt").write_bytes(b"Line one.\nLine two.\nCaf\xe9 in latin-1.\n")
    (chapters / "03.txt").write_bytes(b"Text\n\x00\x01binary\n")
    (chapters / "04.txt").write_text("", encoding="utf-8")
    entries, errors = chapter_entries(empty_workspace.chapter_files())
    messages = [str(e) for e in errors]
    assert any(m.startswith("chapters/02.txt:3: not UTF-8 text") for m in messages), messages
    assert any(m.startswith("chapters/03.txt:2: binary file") for m in messages), messages
    assert entries and all(e.source.startswith("chapters/01.txt") for e in entries)
