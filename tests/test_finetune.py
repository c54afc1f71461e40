"""Fine-tuning without training: the base model build, data preparation on the demo book,
config validation and the loss mask. (Real training runs are in test_finetune_train.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finetune.base_model import MARKER_FILE, base_model_hash, ensure_base_model
from finetune.chunking import split_chapter
from finetune.config import TrainConfigError, load_train_config
from finetune.device import plan_device
from finetune.prepare import DataCard, PrepareError, prepare_dataset
from serving.cli.app import app
from serving.foundation.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
QLORA = REPO / "configs" / "qlora_style_transfer.yaml"
LORA = REPO / "configs" / "lora_style_transfer.yaml"
SMALL_DATA = {"chunk_min_tokens": 60, "chunk_max_tokens": 150, "context_tokens": 30}


def words_of(text: str) -> str:
    return " ".join(text.split())


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_default_base_model_is_a_chatml_hf_folder(base_model_path: Path):
    from transformers import AutoTokenizer, GenerationConfig

    assert base_model_path == ensure_base_model()  # built once, then found
    assert (base_model_path / MARKER_FILE).is_file()
    assert (base_model_path / "model.safetensors").is_file()
    tokenizer = AutoTokenizer.from_pretrained(base_model_path)
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    generation = GenerationConfig.from_pretrained(base_model_path)
    assert generation.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert base_model_hash(base_model_path) and len(base_model_hash(base_model_path)) == 64


def test_other_base_models_pass_through(tmp_path: Path):
    assert str(ensure_base_model("Qwen/Qwen2.5-0.5B-Instruct")) == "Qwen/Qwen2.5-0.5B-Instruct"
    assert ensure_base_model(str(tmp_path)) == tmp_path.resolve()


def test_chunks_respect_bounds_and_scene_breaks():
    paragraphs = [f"Sentence {i} of the story goes on a little. It ends here." for i in range(40)]
    text = (
        "# The Mill\n\n"
        + "\n\n".join(paragraphs[:20])
        + "\n\n* * *\n\n"
        + "\n\n".join(paragraphs[20:])
    )

    def count(pieces: list[str]) -> list[int]:
        return [len(p.split()) for p in pieces]

    chapter = split_chapter(text, count, 40, 100)
    assert chapter.title == "The Mill"
    assert all(40 <= p.tokens <= 100 for p in chapter.passages)
    # The scene break is a cut: no passage holds paragraphs from both scenes.
    assert not any("Sentence 19 " in p.text and "Sentence 20 " in p.text for p in chapter.passages)
    assert [p.new_scene for p in chapter.passages].count(True) == 1
    assert words_of("\n\n".join(p.text for p in chapter.passages)) == words_of(
        "\n\n".join(paragraphs)
    )


def test_prepare_demo_book_keeps_held_out_chapters_out(
    demo_workspace: Workspace, base_model_path: Path
):
    import stylometry

    ws = demo_workspace
    held_out = ws.held_out_chapters()
    assert held_out, "the demo book holds chapters out"
    out = ws.data_dir
    card = prepare_dataset(
        ws.chapter_files(),  # all chapters: prepare itself must drop the held-out ones
        held_out,
        out,
        base_model_path,
        params=load_train_config(LORA).data,
        author="demo",
    )
    train_rows = read_rows(out / "train.jsonl")
    val_rows = read_rows(out / "validation.jsonl")
    assert card.train_examples == len(train_rows) > card.validation_examples == len(val_rows) >= 1
    assert card.data_hash == DataCard.load(out).data_hash
    assert sorted(card.held_out_chapters) == sorted(p.name for p in held_out)
    assert not set(card.training_chapters) & set(card.held_out_chapters)
    params = load_train_config(LORA).data
    assert params.chunk_min_tokens <= card.assistant_tokens.median <= params.chunk_max_tokens

    everything = words_of(" ".join(m["content"] for r in train_rows + val_rows
                                   for m in r["messages"]))  # fmt: skip
    training_text = words_of(" ".join(p.read_text(encoding="utf-8")
                                      for p in ws.training_chapters()))  # fmt: skip
    for path in held_out:
        paragraphs = [words_of(p) for p in path.read_text(encoding="utf-8").split("\n\n")]
        # Paragraphs only the held-out chapter has (the book repeats a few refrains).
        own = [p for p in paragraphs if len(p.split()) >= 12 and p[:80] not in training_text]
        assert len(own) > 10
        assert not any(p[:80] in everything for p in own), path.name

    training_texts = [stylometry.read_text(p) for p in ws.training_chapters()]
    expected_system = stylometry.describe_style(stylometry.build_profile(training_texts, "demo"))
    by_source = {p.name: words_of(stylometry.read_text(p)) for p in ws.training_chapters()}
    for row in train_rows + val_rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert row["messages"][0]["content"] == expected_system
        # The answer is the author's own text, verbatim but for whitespace.
        assert words_of(row["messages"][2]["content"]) in by_source[row["source"]]
        user = row["messages"][1]["content"]
        assert ("Continue the scene" in user) or ("next scene" in user) or ("opening" in user)

    again = prepare_dataset(
        ws.training_chapters(), held_out, ws.root / "again", base_model_path,
        params=load_train_config(LORA).data, author="demo",
    )  # fmt: skip
    assert again.data_hash == card.data_hash  # deterministic split


def test_prepare_reports_bad_chapters_by_path(tmp_path: Path, base_model_path: Path):
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    good = chapters / "01.txt"
    good.write_text(
        "\n\n".join(f"Paragraph {i}: the rain kept on, and so did we." for i in range(60)),
        encoding="utf-8",
    )
    empty = chapters / "02.txt"
    empty.write_text("  \n", encoding="utf-8")
    binary = chapters / "03.txt"
    binary.write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    latin1 = chapters / "04.txt"
    latin1.write_bytes("Caf\xe9 au lait, na\xefve. ".encode("latin-1") * 20)
    params = load_train_config(None, [f"data.{k}={v}" for k, v in SMALL_DATA.items()]).data
    with pytest.raises(PrepareError) as err:
        prepare_dataset([good, empty, binary, latin1], [], tmp_path / "data", base_model_path,
                        params=params)  # fmt: skip
    message = str(err.value)
    for bad in (empty, binary, latin1):
        assert str(bad) in message
    assert str(good) not in message
    assert not (tmp_path / "data" / "train.jsonl").exists()

    short = chapters / "05.txt"
    short.write_text("Only a line or two.\n\nThat is all.", encoding="utf-8")
    card = prepare_dataset([good, short], [], tmp_path / "data", base_model_path, params=params)
    assert [p.path for p in card.skipped] == [str(short)]
    assert "shorter than one passage" in card.skipped[0].problem
    with pytest.raises(PrepareError, match="no chapter is long enough"):
        prepare_dataset([short], [], tmp_path / "data2", base_model_path, params=params)
    with pytest.raises(PrepareError, match="every chapter is held out"):
        prepare_dataset([good], [good], tmp_path / "data3", base_model_path, params=params)


def test_shipped_configs_are_the_documented_ones():
    qlora = load_train_config(QLORA, cuda=True)
    assert qlora.quantization.load_in_4bit and qlora.quantization.quant_type == "nf4"
    assert qlora.quantization.double_quant and qlora.quantization.compute_dtype == "bfloat16"
    assert (qlora.lora.r, qlora.lora.alpha, qlora.lora.dropout) == (64, 128, 0.05)
    assert set(qlora.lora.target_modules) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    }  # fmt: skip
    t = qlora.training
    assert (t.optim, t.learning_rate, t.lr_scheduler, t.epochs) == ("paged_adamw_8bit", 2e-4,
                                                                    "cosine", 3)  # fmt: skip
    assert t.gradient_checkpointing and t.gradient_accumulation_steps > 1 and t.warmup_ratio > 0
    lora = load_train_config(LORA, cuda=True)
    assert (lora.lora.r, lora.lora.alpha, lora.quantization.load_in_4bit) == (16, 32, False)
    for cuda in (True, False):  # no --config means the LoRA config, on either device
        assert load_train_config(None, cuda=cuda) == load_train_config(LORA, cuda=cuda)

    cpu = plan_device(load_train_config(QLORA, cuda=False), cuda_available=False)
    assert (cpu.device, cpu.method, cpu.bf16, cpu.optim) == ("cpu", "LoRA", False, "adamw_torch")
    assert any("4-bit" in note for note in cpu.notes)


def test_bad_configs_name_the_key_and_the_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  lerning_rate: 0.1\n", encoding="utf-8")
    with pytest.raises(TrainConfigError, match=r"bad\.yaml.*unknown key 'training\.lerning_rate'"):
        load_train_config(bad)
    bad.write_text("lora:\n  r: sixteen\n", encoding="utf-8")
    with pytest.raises(TrainConfigError, match=r"bad\.yaml.*lora\.r"):
        load_train_config(bad)
    with pytest.raises(TrainConfigError, match=r"unknown key 'lora\.rank'"):
        load_train_config(LORA, ["lora.rank=8"])
    with pytest.raises(TrainConfigError, match="save_steps"):
        load_train_config(LORA, ["training.save_steps=7"])
    overridden = load_train_config(LORA, ["training.learning_rate=5e-4", "lora.r=8"], max_steps=3)
    assert (overridden.training.learning_rate, overridden.lora.r) == (5e-4, 8)
    assert overridden.training.max_steps == 3

    result = CliRunner().invoke(app, ["train", "-w", str(tmp_path), "--config", str(bad)])
    assert result.exit_code == 2 and "error:" in result.output


def test_loss_counts_only_the_authors_text(base_model_path: Path, tmp_path: Path):
    from finetune.train import load_base, make_trainer

    config = load_train_config(LORA, ["training.gradient_checkpointing=false"])
    plan = plan_device(config, cuda_available=False)
    model, tokenizer = load_base(base_model_path, plan, config.quantization)
    answer = "The lamps went out one by one, and the harbour held its breath."
    row = {
        "messages": [
            {"role": "system", "content": "Write in a spare, salt-worn voice."},
            {"role": "user", "content": "Here is the passage so far:\n\nNight fell.\n\nContinue."},
            {"role": "assistant", "content": answer},
        ]
    }
    trainer = make_trainer(model, tokenizer, [row], [row], config, plan, tmp_path, progress=False)
    example = trainer.train_dataset[0]
    trained = [t for t, label in zip(example["input_ids"], example["labels"], strict=True)
               if label != -100]  # fmt: skip
    masked = [t for t, label in zip(example["input_ids"], example["labels"], strict=True)
              if label == -100]  # fmt: skip
    assert tokenizer.decode(trained).strip() == answer + "<|im_end|>"
    masked_text = tokenizer.decode(masked)
    assert "spare, salt-worn voice" in masked_text and "Night fell." in masked_text
    assert answer not in masked_text
