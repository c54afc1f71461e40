"""`inkwell init` and the demo book: what a new user gets before anything else runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rag import parse_lore_dir
from serving.foundation.config import ConfigError, load_config
from serving.foundation.errors import WorkspaceError
from serving.foundation.workspace import Workspace, init_workspace

INKWELL = [sys.executable, "-c", "from serving.cli.app import main; main()"]


def test_init_demo_from_the_cli_gives_a_rich_book(tmp_path):
    done = subprocess.run(
        [*INKWELL, "init", "--demo", str(tmp_path / "book")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    ws = Workspace.load(tmp_path / "book")
    chapters = ws.chapter_files()
    words = sum(len(p.read_text(encoding="utf-8").split()) for p in chapters)
    assert len(chapters) >= 8 and words >= 15_000
    entries, errors = parse_lore_dir(ws.lore_dir)
    assert errors == [] and len(entries) >= 30
    assert {p.suffix for p in ws.lore_dir.iterdir()} >= {".md", ".yaml"}
    # Held-out chapters (the style yardstick) are named by the demo and never trained on.
    held = ws.held_out_chapters()
    assert held and not set(held) & set(ws.training_chapters())


def test_init_never_overwrites_a_workspace(tmp_path):
    init_workspace(tmp_path / "book")
    (tmp_path / "book" / "inkwell.yaml").write_text("book: {current_chapter: 3}\n")
    done = subprocess.run(
        [*INKWELL, "init", str(tmp_path / "book")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "already an Inkwell workspace" in done.stderr
    assert Workspace.load(tmp_path / "book").config.book.current_chapter == 3


def test_default_held_out_is_the_last_tenth_at_least_one(empty_workspace):
    for n in range(1, 13):
        (empty_workspace.chapters_dir / f"{n:02d}.md").write_text(f"Chapter {n} text.\n")
    held = Workspace.load(empty_workspace.root).held_out_chapters()
    assert [p.name for p in held] == ["11.md", "12.md"]


def test_config_errors_name_the_file_and_the_key(tmp_path):
    path = tmp_path / "inkwell.yaml"
    path.write_text("server:\n  port: eighty\nretrieval:\n  top_kk: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message and "server.port" in message and "retrieval.top_kk" in message


def test_held_out_names_that_do_not_exist_are_an_error(empty_workspace):
    (empty_workspace.root / "inkwell.yaml").write_text("book: {held_out: [99-missing.md]}\n")
    with pytest.raises(WorkspaceError, match=r"99-missing\.md"):
        Workspace.load(empty_workspace.root).held_out_chapters()


def test_training_on_another_base_than_the_served_one_is_refused_before_it_starts(tmp_path):
    """An adapter trained on one base cannot load on another: `inkwell train` says so up front
    instead of after an hour of training, and writes nothing."""
    ws = init_workspace(tmp_path / "book", demo=True)
    done = subprocess.run(
        [*INKWELL, "train", "-w", str(ws.root), "--set", "base_model=Qwen/Qwen2.5-0.5B-Instruct"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "Qwen/Qwen2.5-0.5B-Instruct" in done.stderr and "smollm2-135m" in done.stderr
    assert "engine.base_model" in done.stderr
    assert not ws.data_dir.exists() and not any(ws.adapters_dir.glob("*"))


def test_the_documented_defaults_are_the_schemas_own() -> None:
    """configs/inkwell.yaml is what a writer reads to learn the settings: it must say exactly
    what the schema does (regenerate it with `inkwell config defaults --write`)."""
    import yaml

    from serving.foundation.config import InkwellConfig
    from serving.foundation.config_defaults import DEFAULTS_FILE, render_defaults

    assert DEFAULTS_FILE.read_text(encoding="utf-8") == render_defaults()
    documented = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    assert InkwellConfig.model_validate(documented) == InkwellConfig()


@pytest.mark.parametrize("damage", ["missing", "torn", "wrong shape"])
def test_a_missing_or_damaged_record_is_an_error_naming_its_file(tmp_path, damage):
    """An adapter's manifest, a data card or an evaluation cut short by a crash (or edited by
    hand) must say which file and what to run, not raise a pydantic traceback."""
    from finetune.errors import FinetuneError
    from finetune.manifest import AdapterManifest
    from finetune.prepare import DataCard, PrepareError
    from serving.evaluation.prompts import EvaluationInputError
    from serving.evaluation.results import EvaluationResult

    for record, error, fix in (
        (AdapterManifest, FinetuneError, "train it again"),
        (DataCard, PrepareError, "inkwell prepare"),
        (EvaluationResult, EvaluationInputError, "inkwell evaluate"),
    ):
        folder = tmp_path / record.__name__
        path = folder / record.FILE
        if damage != "missing":
            path.parent.mkdir(parents=True)
            path.write_text('{"run": "r1", "base_mo' if damage == "torn" else '{"run": 3}')
        with pytest.raises(error) as caught:
            record.load(folder)
        message = str(caught.value)
        assert str(path) in message and (damage == "missing" or fix in message)
