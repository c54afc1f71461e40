"""`inkwell evaluate` and `inkwell gate` end to end on the real engine: the report a writer
reads, and a gate that refuses a candidate that writes exactly like what is live."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from serving.engine import EngineClient
from serving.evaluation import EvalSettings, evaluate_run, gate_run
from serving.foundation.workspace import Workspace, init_workspace
from serving.registry import hotload
from tests.fixtures.engine import build_lora_adapter

pytestmark = pytest.mark.engine


def first_words(path: Path, start: int, count: int) -> str:
    """`count` words of a novel from word `start`, cut at paragraph ends."""
    paragraphs = path.read_text(encoding="utf-8").split("\n\n")
    out, seen = [], 0
    for paragraph in paragraphs:
        words = len(paragraph.split())
        if seen >= start:
            out.append(paragraph)
        seen += words
        if seen >= start + count:
            break
    return "\n\n".join(out)


@pytest.fixture(scope="module")
def book(tmp_path_factory, corpora_dir: Path, base_model_path: Path) -> Workspace:
    root = tmp_path_factory.mktemp("evaluate")
    ws = init_workspace(root / "book")
    novel = corpora_dir / "austen" / "persuasion.txt"
    for i in range(4):
        (ws.chapters_dir / f"{i + 1:02d}.txt").write_text(
            first_words(novel, i * 1800, 1800), encoding="utf-8"
        )
    reference = root / "others"
    for author, book_file in (("twain", "the_adventures_of_tom_sawyer.txt"),
                              ("dickens", "hard_times.txt")):  # fmt: skip
        (reference / author).mkdir(parents=True)
        (reference / author / book_file).write_text(
            first_words(corpora_dir / author / book_file, 0, 5000), encoding="utf-8"
        )
    (ws.root / "inkwell.yaml").write_text(
        yaml.safe_dump(
            {"book": {"held_out": ["03.txt", "04.txt"]},
             "style": {"reference_corpus": str(reference)},
             "gate": {"base_impostor_words": 600}}
        ),
        encoding="utf-8",
    )  # fmt: skip
    build_lora_adapter(base_model_path, ws.adapters_dir / "voice", seed=3)
    # The same weights under another name: a candidate that cannot write any better.
    shutil.copytree(ws.adapters_dir / "voice", ws.adapters_dir / "voice-again")
    return Workspace.load(ws.root)


def test_gate_refuses_a_candidate_that_scores_no_better(
    book: Workspace, vllm_engine: str, vllm_engine_key: str
) -> None:
    settings = EvalSettings.from_gate(
        book.config.gate,
        prompts=2,
        new_tokens=40,
        seeds=[0],
        bootstrap_samples=500,
        # One request at a time: a batch's make-up changes vLLM's numerics, and with them
        # seeded samples; alone, the same weights and seed write the same text.
        workers=1,
    )
    with EngineClient(vllm_engine, api_key=vllm_engine_key) as client:
        hotload.load(book, client, "voice")
        hotload.promote(book, client, "voice")
        result = evaluate_run(book, "voice-again", client, settings, progress=False)

        folder = book.adapters_dir / "voice-again" / "evaluation"
        for name in ("evaluation.json", "evaluation.md", "evaluation.png"):
            assert (folder / name).stat().st_size > 0
        assert set(result.models) == {"base", "live", "candidate"}
        for model in result.models.values():
            assert 0 <= model.style.low <= model.style.mean <= model.style.high <= 100
            assert math.isfinite(model.nll) and model.nll > 0
            assert len(model.per_prompt_style) == len(result.prompt_ids) == 2
        # The yardstick knows the base model's prose, written from the training chapters.
        assert result.profile["base_model_impostor_words"] > 300
        generated = book.state_dir / "style" / "base-impostors" / "generations.jsonl"
        assert len(generated.read_text(encoding="utf-8").splitlines()) == 20
        # Same weights as live: same likelihood of the author's text, no style gain.
        assert result.models["candidate"].nll == pytest.approx(result.models["live"].nll, rel=1e-3)
        assert "`voice-again`" in (folder / "evaluation.md").read_text(encoding="utf-8")
        registry = hotload.registry_for(book)
        assert registry.get("voice-again").scores["style"] == round(
            result.models["candidate"].style.mean, 2
        )

        decision = gate_run(book, "voice-again", client)
    assert not decision.promote
    assert result.comparisons["live"].style.mean == pytest.approx(0.0, abs=1e-6)
    assert any(c.name.startswith("style beats live") and not c.passed for c in decision.checks)
    assert registry.live().name == "voice"
    saved = json.loads((folder / "gate.json").read_text(encoding="utf-8"))
    assert saved["promote"] is False
