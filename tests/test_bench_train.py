"""`inkwell bench train` really trains: one LoRA step on SmolLM2 over the demo book, and the
report counts the tokens it trained, times the step and keeps the loss curve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.train_throughput import run

pytestmark = pytest.mark.train

# One step of one 256-token sequence: the smallest run that still measures something.
TINY = [
    "training.batch_size=1",
    "training.eval_batch_size=2",
    "training.gradient_accumulation_steps=1",
    "training.gradient_checkpointing=false",
]


def test_one_real_step_is_measured_and_reported(tmp_path: Path):
    grid = {"r8 len256": ["lora.r=8", "lora.alpha=16", "training.max_length=256"]}
    # One thread: fast on two cores, and never slowed by threads waiting on busy cores.
    out = run(steps=1, grid=grid, sets=TINY, out_dir=tmp_path, progress=False, threads=1)

    data = json.loads((out / "train_throughput.json").read_text())
    (result,) = data["configs"]
    assert result["device"] in {"cpu", "cuda"} and result["lora_r"] == 8
    assert result["torch_threads"] == 1
    # Every demo passage is longer than 256 tokens: the one sequence is cut to exactly that.
    assert result["train_tokens"] == 256
    assert result["steps"] == 1 and result["seconds_per_step"] > 0
    assert result["tokens_per_s"] == pytest.approx(256 / result["seconds_per_step"], rel=0.01)
    assert result["peak_rss_mib"] > 100  # the model itself is ~500 MiB in fp32
    assert [p["step"] for p in result["train_loss"]] == [1]
    assert [p["step"] for p in result["eval_loss"]] == [0, 1]
    assert result["ratios_vs_first"]["seconds_per_step"] == 1.0
    assert set(data["load_avg_1min"]) == {"start", "end"} and data["machine"]["cores"]
    assert sorted(p.name for p in out.glob("*.png")) == [
        "train_throughput_loss_curves.png",
        "train_throughput_seconds_per_step.png",
    ]
    assert "r8 len256" in (out / "train_throughput.md").read_text()


def test_every_configuration_trains_on_the_same_sequences(tmp_path: Path):
    """A ratio of tokens/s and a final eval loss compare only when both configurations saw
    the same data: the one with half the sequences a step takes twice the steps."""
    grid = {
        "two a step": ["training.batch_size=2", "training.max_length=256"],
        "one a step": ["training.batch_size=1", "training.max_length=256"],
    }
    sets = [s for s in TINY if not s.startswith("training.batch_size")]
    out = run(steps=1, grid=grid, sets=sets, out_dir=tmp_path, progress=False, threads=1)

    two, one = json.loads((out / "train_throughput.json").read_text())["configs"]
    assert (two["steps"], one["steps"]) == (1, 2)
    assert two["train_tokens"] == one["train_tokens"] == 512
    assert one["ratios_vs_first"]["tokens_per_s"] == pytest.approx(
        one["tokens_per_s"] / two["tokens_per_s"], rel=0.01
    )
