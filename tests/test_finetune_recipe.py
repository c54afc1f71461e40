"""Which recipe a machine trains with, what it costs before it starts, and the QLoRA plan on a
GPU (CUDA mocked as present: this machine has none; the real 4-bit path runs where one is)."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finetune.config import TrainConfigError, load_train_config
from finetune.device import DevicePlan, busy_cores, cpu_threads, physical_cores, plan_device
from finetune.errors import FinetuneError
from finetune.manifest import AdapterManifest
from finetune.prepare import prepare_dataset
from finetune.progress import SpeedLog, estimate

REPO = Path(__file__).resolve().parents[1]
LORA = REPO / "configs" / "lora_style_transfer.yaml"
QLORA = REPO / "configs" / "qlora_style_transfer.yaml"


def test_without_cuda_the_default_is_the_cpu_recipe_and_set_still_wins(tmp_path: Path):
    gpu = load_train_config(None, cuda=True).training
    cpu = load_train_config(None, cuda=False)
    assert gpu.max_length == 2048 and gpu.gradient_checkpointing
    t = cpu.training
    assert t.max_length <= 768 and not t.gradient_checkpointing
    assert t.batch_size * t.gradient_accumulation_steps <= 4
    assert cpu.data.chunk_max_tokens + cpu.data.context_tokens < t.max_length
    # What the recipe does not name comes from the main sections; --set wins over both.
    assert t.learning_rate == gpu.learning_rate
    assert (
        load_train_config(None, ["training.max_length=512"], cuda=False).training.max_length == 512
    )
    off = tmp_path / "off.yaml"
    off.write_text("cpu: null\n", encoding="utf-8")
    assert load_train_config(off, cuda=False).training.max_length == 2048


def test_cpu_threads_are_the_configured_count_or_at_least_one():
    config = load_train_config(None, ["training.threads=3"], cuda=False)
    assert plan_device(config, cuda_available=False).threads == 3
    plan = plan_device(load_train_config(None, cuda=False), cuda_available=False)
    assert 1 <= plan.threads <= physical_cores()


@pytest.mark.skipif(physical_cores() < 2, reason="needs a second core to keep busy")
def test_a_core_kept_busy_by_another_process_gets_no_torch_thread():
    """The thread count follows what is busy now, not the load average of a just-finished
    `inkwell prepare`."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert busy_cores() >= 1
        threads, busy = cpu_threads(None)
        assert busy >= 1 and threads == physical_cores() - busy
    finally:
        spinner.kill()
        spinner.wait()


def test_a_typo_in_the_cpu_block_fails_on_a_gpu_machine_too(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cpu:\n  training:\n    max_lenght: 512\n", encoding="utf-8")
    for cuda in (True, False):
        with pytest.raises(TrainConfigError, match=r"bad\.yaml.*max_lenght"):
            load_train_config(bad, cuda=cuda)


def test_qlora_plan_with_cuda_mocked_as_present(monkeypatch: pytest.MonkeyPatch):
    import torch
    import transformers.utils

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Mocked GPU")
    monkeypatch.setattr(transformers.utils, "is_bitsandbytes_available", lambda: True)
    config = load_train_config(QLORA, cuda=True)
    plan = plan_device(config, cuda_available=True)
    assert (plan.device, plan.method, plan.bf16, plan.optim) == (
        "cuda", "QLoRA", True, "paged_adamw_8bit"
    )  # fmt: skip
    assert plan.threads is None and not plan.notes
    assert config.training.gradient_checkpointing and config.training.max_length == 2048

    monkeypatch.setattr(transformers.utils, "is_bitsandbytes_available", lambda: False)
    with pytest.raises(FinetuneError, match=r"bitsandbytes: pip install 'inkwell\[gpu\]'"):
        plan_device(config, cuda_available=True)


def test_qlora_loads_any_model_in_nf4_with_cuda_mocked(monkeypatch: pytest.MonkeyPatch):
    """Any HF folder or hub id goes to from_pretrained with the 4-bit settings of the config."""
    import transformers

    from finetune.train import load_base

    seen: dict = {}

    class Tokenizer:
        pad_token = None
        eos_token = "</s>"

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: Tokenizer())
    monkeypatch.setattr(
        transformers.AutoModelForCausalLM,
        "from_pretrained",
        lambda name, **kwargs: seen.update(name=name, **kwargs) or "model",
    )
    config = load_train_config(QLORA, ["base_model=org/Any-8B-Instruct"], cuda=True)
    plan = DevicePlan("cuda", "Mocked GPU", quantize_4bit=True, bf16=True, optim="paged_adamw_8bit")
    model, tokenizer = load_base(Path("org/Any-8B-Instruct"), plan, config.quantization)
    assert model == "model"
    q = seen["quantization_config"]
    assert seen["name"] == "org/Any-8B-Instruct" and seen["device_map"] == {"": 0}
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert str(q.bnb_4bit_compute_dtype) == "torch.bfloat16"
    assert tokenizer.pad_token == "</s>"


def test_the_estimate_counts_steps_and_prefers_this_machines_last_run(
    demo_workspace, base_model_path: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("INKWELL_CACHE_DIR", str(tmp_path / "cache"))  # no runs on record
    config = load_train_config(None, cuda=False)
    ws = demo_workspace
    card = prepare_dataset(
        ws.training_chapters(), ws.held_out_chapters(), ws.data_dir, base_model_path,
        params=config.data, author="demo",
    )  # fmt: skip
    t = config.training
    per_step = t.batch_size * t.gradient_accumulation_steps  # sequences an optimizer step sees
    steps = math.ceil(card.train_examples / per_step) * int(t.epochs)
    prior = estimate(config, card, "cpu", 2, base_model_path)
    assert prior.steps == steps and prior.seconds and "prior" in prior.source
    assert f"{steps} steps" in prior.describe()

    # A finished run of another book on this machine sets the speed of the next estimate.
    SpeedLog.load().remember(earlier_run("earlier", base_model_path, 100.0))
    measured = estimate(config, card, "cpu", 2, base_model_path)
    assert measured.tokens_per_s == 100.0 and "earlier" in measured.source
    assert measured.seconds < prior.seconds  # the prior is conservative
    # A run with other thread counts (a busy machine forced one) is scaled, and says so.
    scaled = estimate(config, card, "cpu", 4, base_model_path)
    assert scaled.tokens_per_s == 200.0 and "scaled to 4" in scaled.source
    on_gpu = estimate(config, card, "cuda", None, base_model_path)
    assert on_gpu.seconds is None and "no speed measured" in on_gpu.describe()


def earlier_run(name: str, base: Path, tokens_per_s: float, threads: int = 2) -> AdapterManifest:
    """The manifest of a finished run at the given speed."""
    return AdapterManifest(
        run=name, base_model=str(base), base_model_name="smollm2-135m",
        base_model_hash=None, data_hash="x", data_card={}, system_prompt="", config={},
        method="LoRA", device="cpu", device_name="cpu", device_notes=[], lora_rank=16,
        steps=10, epochs=1.0, best_step=None, best_eval_loss=None, train_loss=[],
        eval_loss=[], wall_time_s=10.0, seconds_per_step=1.0, resumed_from_step=None,
        train_tokens=1000, tokens_per_s=tokens_per_s, threads=threads, versions={},
        created_at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip
