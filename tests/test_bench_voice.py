"""The voice benchmark's saved figures: per author the keys the issue names, read from the gate
trial (no training or engine here: the trial and training dicts are in their real shape)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from benchmarks.best_of import last_voice_work_dir
from benchmarks.voice import author_workspace
from benchmarks.voice_page import markdown, plots, summarise
from serving.cli.app import app as cli

TRAINING = {
    "steps": 40, "seconds": 600.0, "best_eval_loss": 3.1, "tokens_per_s": 90.0,
    "train_loss": [{"step": 5, "loss": 3.4}], "eval_loss": [{"step": 0, "loss": 3.6}],
}  # fmt: skip
SCORING = {"scoring_4x300": {"p50_ms": 21.0}}
GAIN = {"mean": 6.0, "low": 2.5, "high": 9.0}


def trial(author: str, other: str, matching: float, low: float) -> dict:
    return {
        "yardstick": author,
        "style": {"base": 30.0, author: matching, other: 40.0},
        "style_interval": {"base": [25, 35], author: [low, matching + 5], other: [35, 45]},
        "nll": {"base": 3.5, author: 3.0, other: 3.4},
        "reference_style": 95.0,
        "gate_promoted_matching": True,
    }


def test_each_author_gets_the_five_style_figures_and_the_targets_are_checked():
    result = {
        "overrides": [],
        "training": {"austen": TRAINING, "twain": TRAINING},
        "scoring": {"austen": SCORING, "twain": SCORING},
        "trials": [trial("austen", "twain", 80.0, 70.0), trial("twain", "austen", 74.0, 60.0)],
        "best_of": {"austen": {"gain": GAIN}, "twain": {"gain": GAIN}},
    }
    params = {
        "authors": ("austen", "twain"), "chapter_words": 1500, "held_out_chapters": 3,
        "budget_minutes": 60, "prompts": 24, "seeds": (0, 1), "new_tokens": 256,
        "best_of": 4, "best_of_prompts": 12, "engine_url": None,
    }  # fmt: skip
    figures = summarise({"default": result}, params)
    austen = figures["authors"]["austen"]
    assert (austen["base_style"], austen["matching_style"], austen["matching_style_lower"]) == (
        30.0, 80.0, 70.0,
    )  # fmt: skip
    assert (austen["other_style"], austen["own_text_style"]) == (40.0, 95.0)
    assert austen["meets_targets"] and not figures["authors"]["twain"]["meets_targets"]
    page = markdown(figures, title="The voice")
    assert "80.0 [70.0, 85.0]" in page and "| 40 in 10.0 min |" in page


def test_variants_without_best_of_are_compared_side_by_side():
    def result(matching: float) -> dict:
        return {
            "overrides": [],
            "training": {"austen": TRAINING, "twain": TRAINING},
            "scoring": {"austen": SCORING, "twain": SCORING},
            "trials": [
                trial("austen", "twain", matching, matching - 10),
                trial("twain", "austen", matching, matching - 10),
            ],
            "best_of": {},
        }

    params = {
        "authors": ("austen", "twain"), "chapter_words": 1500, "held_out_chapters": 3,
        "budget_minutes": 10, "prompts": 12, "seeds": (0,), "new_tokens": 256,
        "best_of": 0, "best_of_prompts": 12,
    }  # fmt: skip
    figures = summarise({"default": result(70.0), "lr 1e-3": result(60.0)}, params)
    page = markdown(figures, title="Recipe variants")
    assert "best-of-n not measured" in page
    rows = [line for line in page.splitlines() if line.startswith("| default") or
            line.startswith("| lr 1e-3")]  # fmt: skip
    assert len(rows) == 4 and all("not measured" in row for row in rows)
    assert "70.0 [60.0, 75.0]" in page and "60.0 [50.0, 65.0]" in page
    assert set(plots(figures)) == {"training curves", "style by variant"}


def test_without_an_engine_only_training_and_scoring_are_reported():
    result = {
        "overrides": ["lora.r=64"],
        "training": {"austen": TRAINING, "twain": TRAINING},
        "scoring": {"austen": SCORING, "twain": SCORING},
    }
    params = {
        "authors": ("austen", "twain"), "chapter_words": 1500, "held_out_chapters": 3,
        "budget_minutes": 1, "prompts": 3, "seeds": (0,), "new_tokens": 48, "best_of": 4,
        "best_of_prompts": 2,
    }  # fmt: skip
    figures = summarise({"r64 a128": result}, params)
    assert "matching_style" not in figures["authors"]["austen"]
    page = markdown(figures, title="The voice")
    assert "(no engine)" in page and "lora.r=64" in page
    assert set(plots(figures)) == {"training curves"}


def test_best_of_alone_measures_the_last_voice_run_or_says_how_to_make_one(tmp_path):
    with pytest.raises(ValueError, match="run `inkwell bench voice` first"):
        last_voice_work_dir(tmp_path)
    (tmp_path / "voice").mkdir()
    kept = str(tmp_path / "inkwell-voice-bench-x")
    (tmp_path / "voice" / "voice.json").write_text(json.dumps({"params": {"work_dir": kept}}))
    assert last_voice_work_dir(tmp_path) == kept


def test_a_corpus_without_the_authors_books_is_named(tmp_path):
    (tmp_path / "austen").mkdir()
    params = {"held_out_chapters": 3, "train_chapters": None, "chapter_words": 1500}
    with pytest.raises(ValueError, match=r"no books \(\*\.txt\) for 'austen' in .*DIR/<author>"):
        author_workspace(tmp_path / "ws", tmp_path, "austen", params)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["best-of", "--work-dir", "{tmp}"], "holds no trained austen-lora adapter"),
        (["voice", "--variant", "r9000", "--no-engine"], "unknown variants ['r9000']"),
    ],
)
def test_bad_benchmark_input_is_a_message_not_a_traceback(tmp_path, command, expected):
    args = ["bench", *(a.replace("{tmp}", str(tmp_path)) for a in command)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "error: " in result.output and expected in result.output
    assert "Traceback" not in result.output
