"""Real LoRA training of SmolLM2 on a trimmed demo book, on the CPU: the loss falls, the
adapter reloads with peft and changes what the model writes, merge exports it, a killed run
resumes to the same final step, and a failing run leaves nothing where the registry looks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from finetune.config import load_train_config
from finetune.manifest import AdapterManifest
from finetune.train import BookPaths, TrainError, train
from serving.foundation.workspace import Workspace, init_workspace

pytestmark = pytest.mark.train

REPO = Path(__file__).resolve().parents[1]
LORA = REPO / "configs" / "lora_style_transfer.yaml"
# Small enough for two CPU cores: short passages, short sequences, no gradient checkpointing.
TINY = [
    "data.chunk_min_tokens=24",
    "data.chunk_max_tokens=60",
    "data.context_tokens=16",
    "data.validation_fraction=0.05",
    "training.max_length=320",  # the style system prompt alone is ~170 tokens
    "training.batch_size=2",
    "training.eval_batch_size=8",
    "training.gradient_accumulation_steps=1",
    "training.gradient_checkpointing=false",
    "training.learning_rate=1e-3",
    "training.warmup_ratio=0",
    "training.logging_steps=1",
    "training.early_stopping_patience=null",
]


def small_book(root: Path) -> Workspace:
    """The demo book cut to two training chapters and one held out (few validation rows)."""
    ws = init_workspace(root, demo=True)
    chapters = ws.chapter_files()
    keep = chapters[:2] + chapters[-1:]
    for path in chapters:
        if path not in keep:
            path.unlink()
    (ws.root / "inkwell.yaml").write_text(
        yaml.safe_dump({"book": {"held_out": [keep[-1].name]}}), encoding="utf-8"
    )
    return Workspace.load(ws.root)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Workspace, Path]:
    ws = small_book(tmp_path_factory.mktemp("train") / "book")
    config = load_train_config(
        LORA, [*TINY, "training.eval_steps=3", "training.save_steps=3"], max_steps=6
    )
    run_dir = train(config, BookPaths.of(ws), run_name="voice", progress=False, say=lambda _: None)
    return ws, run_dir


def test_training_writes_a_complete_adapter(trained, base_model_path: Path):
    ws, run_dir = trained
    assert run_dir == ws.adapters_dir / "voice"
    assert not list(ws.adapters_dir.glob(".tmp-*")), "temp folder renamed away"
    assert not (run_dir / "checkpoints").exists()
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json",
                 "tokenizer_config.json", "manifest.json"):  # fmt: skip
        assert (run_dir / name).is_file(), name
    adapter_config = json.loads((run_dir / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(base_model_path)
    assert adapter_config["r"] == 16 and adapter_config["lora_alpha"] == 32
    assert len(adapter_config["target_modules"]) == 7

    manifest = AdapterManifest.load(run_dir)
    card = json.loads((ws.data_dir / "data_card.json").read_text())
    assert manifest.steps == 6 and manifest.device == "cpu" and manifest.method == "LoRA"
    assert manifest.data_hash == card["data_hash"]
    assert manifest.base_model == str(base_model_path) and manifest.base_model_hash
    assert manifest.system_prompt == card["system_prompt"]
    assert manifest.config["training"]["max_steps"] == 6
    assert [p.step for p in manifest.eval_loss] == [0, 3, 6]
    assert manifest.eval_loss[-1].loss < manifest.eval_loss[0].loss  # on fixed validation rows
    assert manifest.wall_time_s > 0 and {"torch", "transformers", "peft", "trl"} <= set(
        manifest.versions
    )
    assert any("fp32" in note for note in manifest.device_notes)

    losses = [p.loss for p in manifest.train_loss]
    assert len(losses) == 6
    assert sum(losses[-3:]) < sum(losses[:3]), losses


def test_adapter_reloads_with_peft_and_changes_generations(trained, base_model_path: Path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, run_dir = trained
    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    manifest = AdapterManifest.load(run_dir)
    messages = [
        {"role": "system", "content": manifest.system_prompt},
        {"role": "user", "content": "Write the opening of the chapter, in about 60 words."},
    ]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )

    def greedy(model) -> str:
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=24, do_sample=False)
        return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :])

    base = AutoModelForCausalLM.from_pretrained(base_model_path)
    base_text = greedy(base)
    tuned = PeftModel.from_pretrained(base, run_dir)
    assert greedy(tuned) != base_text


def test_merge_exports_a_standalone_model(trained, tmp_path: Path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.merge import merge

    _, run_dir = trained
    out = merge(run_dir, tmp_path / "merged")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    manifest = AdapterManifest.load(run_dir)
    ids = torch.tensor([[1, 9690, 198, 504, 3458, 314, 260, 1380]])
    merged = AutoModelForCausalLM.from_pretrained(out)
    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(manifest.base_model), run_dir
    )
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft_model(ids).logits, atol=1e-3)
    with pytest.raises(FileExistsError):
        merge(run_dir, out)


def test_killed_run_resumes_to_the_same_final_step(tmp_path: Path, base_model_path: Path):
    """Killed (SIGKILL) half way through writing checkpoint-4: its weights are on disk, its
    trainer state is not. The resumed run drops that half checkpoint and goes on from 2."""
    ws = small_book(tmp_path / "book")
    sets = [*TINY, "training.batch_size=1", "training.eval_steps=2", "training.save_steps=2"]
    args = ["train", "-w", str(ws.root), "--config", str(LORA), "--run", "r1", "--max-steps", "4"]
    for item in sets:
        args += ["--set", item]
    main = "from serving.cli.app import main; main()"
    kill = f"from tests.fixtures.checkpoint_kill import install; install(4); {main}"
    command = [sys.executable, "-c", main, *args]
    checkpoints = ws.adapters_dir / ".tmp-r1" / "checkpoints"
    first = subprocess.run(
        [sys.executable, "-c", kill, *args], capture_output=True, text=True, timeout=900, cwd=REPO
    )
    assert first.returncode == -signal.SIGKILL, first.stdout[-3000:] + first.stderr[-3000:]
    assert (checkpoints / "checkpoint-2" / "trainer_state.json").is_file()
    half = checkpoints / "checkpoint-4"
    assert any(half.glob("adapter_model*")) and not (half / "trainer_state.json").exists()
    assert not (ws.adapters_dir / "r1").exists(), "a killed run leaves no adapter"

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming from checkpoint-2" in resumed.stdout
    manifest = AdapterManifest.load(ws.adapters_dir / "r1")
    assert manifest.steps == 4
    assert manifest.resumed_from_step == 2

    again = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_failing_run_leaves_no_adapter(tmp_path: Path):
    ws = small_book(tmp_path / "book")
    # The style prompt alone is longer than 100 tokens: no example has an answer token left.
    config = load_train_config(LORA, [*TINY, "training.max_length=100"], max_steps=2)
    with pytest.raises(TrainError, match="max_length"):
        train(config, BookPaths.of(ws), run_name="broken", progress=False, say=lambda _: None)
    assert not (ws.adapters_dir / "broken").exists()
    assert [p.name for p in ws.adapters_dir.iterdir()] == [".tmp-broken"]
    with pytest.raises(TrainError, match="--resume --run broken"):
        train(config, BookPaths.of(ws), run_name="broken", progress=False, say=lambda _: None)
