"""Train a LoRA/QLoRA adapter on prepared chapters (`inkwell train`).

A run trains inside `.inkwell/adapters/.tmp-<run>/` and is renamed to `<run>/` only when
it has finished, so the registry never sees half an adapter, and a killed run keeps its
checkpoints for `--resume`.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finetune.base_model import base_model_hash, ensure_base_model
from finetune.config import QuantizationConfig, TrainConfig
from finetune.device import DevicePlan, plan_device
from finetune.errors import FinetuneError
from finetune.manifest import AdapterManifest, LossPoint, package_versions
from finetune.prepare import DataCard, PrepareError, dataset_fingerprint, prepare_dataset
from finetune.progress import SpeedLog, estimate, time_limit, training_progress
from rag.durable import fsync
from serving.foundation.atomic import fsync_tree, write_json_atomic
from serving.foundation.names import validate_name
from serving.foundation.workspace import Workspace

TMP_PREFIX = ".tmp-"
CHECKPOINTS_DIR = "checkpoints"
RUN_STATE_FILE = "run.json"

Say = Callable[[str], None]


class TrainError(FinetuneError):
    """A run that cannot start or continue, with what to do about it."""


@dataclass(frozen=True)
class BookPaths:
    """The parts of a workspace training reads and writes."""

    training_chapters: list[Path]
    held_out_chapters: list[Path]
    data_dir: Path
    adapters_dir: Path
    author: str

    @classmethod
    def of(cls, ws: Workspace, author: str | None = None) -> BookPaths:
        return cls(
            training_chapters=ws.training_chapters(),
            held_out_chapters=ws.held_out_chapters(),
            data_dir=ws.data_dir,
            adapters_dir=ws.adapters_dir,
            author=author or ws.root.name,
        )


@dataclass(frozen=True)
class Run:
    """What one training run needs once it is named, its device planned and its base model
    and data at hand: the steps of `_train_in` read it instead of a dozen parameters."""

    name: str
    config: TrainConfig
    plan: DevicePlan
    base: Path
    card: DataCard
    book: BookPaths
    tmp_dir: Path
    final_dir: Path
    resume: bool
    progress: bool
    say: Say

    @property
    def checkpoints(self) -> Path:
        return self.tmp_dir / CHECKPOINTS_DIR


def ensure_dataset(
    config: TrainConfig, book: BookPaths, tokenizer_path: Path, say: Say
) -> DataCard:
    """The prepared data for this config, preparing it again when chapters or data settings
    changed since it was written."""
    current = dataset_fingerprint(
        book.training_chapters, book.held_out_chapters, config.data, book.author, config.base_model
    )
    try:
        card = DataCard.load(book.data_dir)
        if card.fingerprint == current:
            return card
        say(
            "the chapters or data settings changed since `inkwell prepare`: "
            "preparing the data again"
        )
    except PrepareError:
        say("no prepared training data: preparing it now")
    return prepare_dataset(
        book.training_chapters,
        book.held_out_chapters,
        book.data_dir,
        tokenizer_path,
        params=config.data,
        author=book.author,
        base_model=config.base_model,
    )


def train(
    config: TrainConfig,
    book: BookPaths,
    *,
    run_name: str | None = None,
    resume: bool = False,
    progress: bool = True,
    say: Say = print,
) -> Path:
    """Train one adapter and return its finished folder `<adapters_dir>/<run>/`."""
    run = _start_run(config, book, run_name, resume, progress, say)
    try:
        return _train_in(run)
    except BaseException:
        say(f"training stopped; continue it with `inkwell train --resume --run {run.name}`")
        raise


def _start_run(
    config: TrainConfig,
    book: BookPaths,
    run_name: str | None,
    resume: bool,
    progress: bool,
    say: Say,
) -> Run:
    """Check that the run may start (or continue) before the slow parts, then fetch the base
    model and the data and record what the run was started with."""
    plan = plan_device(config)
    name = validate_name(run_name or _default_run_name(plan, book.adapters_dir, resume), "run name")
    final_dir = book.adapters_dir / name
    tmp_dir = book.adapters_dir / f"{TMP_PREFIX}{name}"
    started = _check_run_folders(final_dir, tmp_dir, config, name, resume)
    say(f"training {plan.method} on {plan.device} ({plan.device_name}), run {name!r}")
    for note in plan.notes:
        say(f"note: {note}")

    base = ensure_base_model(config.base_model)
    card = ensure_dataset(config, book, base, say)
    run = Run(
        name=name,
        config=config,
        plan=plan,
        base=base,
        card=card,
        book=book,
        tmp_dir=tmp_dir,
        final_dir=final_dir,
        resume=resume,
        progress=progress,
        say=say,
    )
    _check_data(run, started)
    expected = estimate(config, card, plan.device, plan.threads, base)
    say(f"estimated: {expected.describe()}")
    if not resume:
        tmp_dir.mkdir(parents=True)
        write_json_atomic(
            tmp_dir / RUN_STATE_FILE,
            {"config": config.model_dump(mode="json"), "data_hash": card.data_hash},
        )
    return run


def _check_run_folders(
    final_dir: Path, tmp_dir: Path, config: TrainConfig, name: str, resume: bool
) -> dict | None:
    """Refuse a name already taken by an adapter or by an interrupted run (unless resuming
    it); a resumed run's recorded start state."""
    if final_dir.exists():
        raise TrainError(
            f"{final_dir}: an adapter named {name!r} already exists; choose another --run"
        )
    if resume:
        return _check_resumable(tmp_dir, config, name)
    if tmp_dir.exists():
        raise TrainError(
            f"{tmp_dir}: an interrupted run named {name!r} exists; continue it with "
            f"`inkwell train --resume --run {name}` or delete that folder"
        )
    return None


def _check_data(run: Run, started: dict | None) -> None:
    """A resumed run must see the data it started on; examples longer than max_length are
    worth a note, since their ends are cut."""
    if started is not None and started["data_hash"] != run.card.data_hash:
        raise TrainError(
            f"the training data changed since run {run.name!r} started; it cannot be resumed "
            f"(delete {run.tmp_dir} and train a new run)"
        )
    longest, max_length = run.card.example_tokens.max, run.config.training.max_length
    if longest > max_length:
        run.say(
            f"note: the longest examples ({longest} tokens) exceed "
            f"training.max_length ({max_length}); their ends are cut"
        )


def _train_in(run: Run) -> Path:
    """Train in the run's temporary folder, save the adapter and its manifest there, then
    give it its final name."""
    if run.plan.threads is not None:
        import torch

        torch.set_num_threads(run.plan.threads)
    trainer, tokenizer = _trainer_for(run)
    checkpoint = _resume_point(run)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    wall = time.monotonic() - started

    _save_adapter(run, trainer.model, tokenizer)
    manifest = _manifest(run, trainer.state, wall, checkpoint)
    manifest.save(run.tmp_dir)
    _complete(run)
    SpeedLog.load().remember(manifest)
    state = trainer.state
    best = "n/a" if state.best_metric is None else f"{state.best_metric:.4f}"
    run.say(
        f"adapter {run.name!r}: {state.global_step} steps in {wall:.0f} s, best eval loss {best}"
    )
    return run.final_dir


def _trainer_for(run: Run):
    """The base model, its tokenizer and a trainer on the prepared data, refusing data of
    which max_length leaves nothing to learn from."""
    model, tokenizer = load_base(run.base, run.plan, run.config.quantization)
    train_rows = read_jsonl(run.book.data_dir / run.card.train_file)
    eval_rows = read_jsonl(run.book.data_dir / run.card.validation_file)
    trainer = make_trainer(
        model,
        tokenizer,
        train_rows,
        eval_rows,
        run.config,
        run.plan,
        run.checkpoints,
        run.progress,
    )
    kept = len(trainer.train_dataset)
    if kept == 0 or len(trainer.eval_dataset) == 0:
        split = "training" if kept == 0 else "validation"
        raise TrainError(
            f"training.max_length ({run.config.training.max_length}) leaves no room for an "
            f"answer token after the prompt in any {split} example; raise it or lower "
            "data.context_tokens"
        )
    if kept < len(train_rows):
        run.say(
            f"note: {len(train_rows) - kept} examples had no answer token within "
            "max_length: dropped"
        )
    return trainer, tokenizer


def _resume_point(run: Run) -> Path | None:
    """The checkpoint a resumed run continues from; None starts from step 0."""
    checkpoint = _last_complete_checkpoint(run.checkpoints) if run.resume else None
    if checkpoint is not None:
        run.say(f"resuming from {checkpoint.name}")
    elif run.resume:
        run.say("no complete checkpoint yet: starting this run from step 0")
    return checkpoint


def _save_adapter(run: Run, peft_model, tokenizer) -> None:
    """The adapter weights and tokenizer, pointing at the local base model."""
    peft_model.peft_config["default"].base_model_name_or_path = str(run.base)
    peft_model.save_pretrained(str(run.tmp_dir))
    tokenizer.save_pretrained(str(run.tmp_dir))


def _manifest(run: Run, state, wall: float, checkpoint: Path | None) -> AdapterManifest:
    """What the adapter was trained on and how; speed counts only this session's steps and
    tokens when the run resumed."""
    config, plan, card = run.config, run.plan, run.card
    resumed_from = _step_of(checkpoint) if checkpoint is not None else None
    tokens = state.num_input_tokens_seen - _tokens_at(checkpoint)
    trained_steps = state.global_step - (resumed_from or 0)
    return AdapterManifest(
        run=run.name,
        base_model=str(run.base),
        base_model_name=config.base_model,
        base_model_hash=base_model_hash(run.base),
        data_hash=card.data_hash,
        data_card=card.model_dump(mode="json", exclude={"system_prompt"}),
        system_prompt=card.system_prompt,
        config=config.model_dump(mode="json"),
        method=plan.method,
        device=plan.device,
        device_name=plan.device_name,
        device_notes=plan.notes,
        lora_rank=config.lora.r,
        steps=state.global_step,
        epochs=round(state.epoch or 0.0, 4),
        best_step=getattr(state, "best_global_step", None),
        best_eval_loss=state.best_metric,
        train_loss=_curve(state.log_history, "loss"),
        eval_loss=_curve(state.log_history, "eval_loss"),
        wall_time_s=round(wall, 2),
        seconds_per_step=round(wall / trained_steps, 3) if trained_steps else 0.0,
        train_tokens=tokens,
        tokens_per_s=round(tokens / wall, 2) if wall > 0 and tokens else None,
        threads=plan.threads,
        resumed_from_step=resumed_from,
        versions=package_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _complete(run: Run) -> None:
    """Drop what only an interrupted run needs, then rename the folder: the final name
    appears only over weights already on disk."""
    if not run.config.training.keep_checkpoints:
        shutil.rmtree(run.checkpoints, ignore_errors=True)
    (run.tmp_dir / RUN_STATE_FILE).unlink(missing_ok=True)
    fsync_tree(run.tmp_dir)
    run.tmp_dir.replace(run.final_dir)
    fsync(run.final_dir.parent)


def load_base(base: Path, plan: DevicePlan, quantization: QuantizationConfig):
    """The base model and tokenizer, 4-bit on CUDA when the plan says QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if plan.bf16 else torch.float32}
    if plan.quantize_4bit:
        from transformers import BitsAndBytesConfig

        q = quantization
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=q.quant_type,
            bnb_4bit_use_double_quant=q.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, q.compute_dtype),
        )
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(str(base), **kwargs)
    return model, tokenizer


def make_trainer(
    model,
    tokenizer,
    train_rows,
    eval_rows,
    config: TrainConfig,
    plan: DevicePlan,
    output_dir: Path,
    progress: bool = True,
):
    """An SFTTrainer on prompt/completion pairs: the loss counts only the author's text
    (the assistant turn), never the style prompt or the quoted context."""
    from trl import SFTTrainer

    trainer = SFTTrainer(
        model=model,
        args=_sft_args(config, plan, output_dir, progress),
        train_dataset=prompt_completion_dataset(train_rows),
        eval_dataset=prompt_completion_dataset(eval_rows),
        processing_class=tokenizer,
        peft_config=_lora_config(config),
        callbacks=_stop_callbacks(config),
    )
    if progress:  # one bar with tokens/s and the loss instead of transformers' own
        from transformers.trainer_callback import ProgressCallback

        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(training_progress())
    return trainer


def _sft_args(config: TrainConfig, plan: DevicePlan, output_dir: Path, progress: bool):
    """The trainer's settings from the config's training section and the device plan."""
    from trl import SFTConfig

    t = config.training
    return SFTConfig(
        output_dir=str(output_dir),
        max_length=t.max_length,
        completion_only_loss=True,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        gradient_checkpointing=t.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        optim=plan.optim,
        bf16=plan.bf16,
        eval_strategy="steps",
        eval_steps=t.eval_steps,
        eval_on_start=True,  # the manifest's loss curve starts from the untrained base
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        report_to=list(t.report_to) or "none",
        dataloader_pin_memory=plan.device == "cuda",
        disable_tqdm=not progress,
        # Tokens the loss saw, for the progress bar's tokens/s and the manifest.
        include_num_input_tokens_seen="non_padding",
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
    )


def _lora_config(config: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=list(config.lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def _stop_callbacks(config: TrainConfig) -> list:
    """Early stopping and the time budget, where the config asks for them."""
    from transformers import EarlyStoppingCallback

    t = config.training
    callbacks = []
    if t.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=t.early_stopping_patience))
    if t.max_minutes:
        callbacks.append(time_limit(t.max_minutes))
    return callbacks


def prompt_completion_dataset(rows: list[dict]):
    """Chat records → TRL's conversational prompt/completion form (system+user | assistant)."""
    from datasets import Dataset

    return Dataset.from_list(
        [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
    )


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TrainError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    return rows


def _curve(log_history: list[dict], key: str) -> list[LossPoint]:
    return [LossPoint(step=e["step"], loss=round(e[key], 5)) for e in log_history if key in e]


def _default_run_name(plan: DevicePlan, adapters_dir: Path, resume: bool) -> str:
    if not resume:
        return f"{plan.method.lower()}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    interrupted = sorted(
        (p for p in adapters_dir.glob(f"{TMP_PREFIX}*") if (p / RUN_STATE_FILE).is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    if not interrupted:
        raise TrainError(f"nothing to resume: no interrupted run in {adapters_dir}")
    return interrupted[-1].name.removeprefix(TMP_PREFIX)


def _check_resumable(tmp_dir: Path, config: TrainConfig, name: str) -> dict:
    state_file = tmp_dir / RUN_STATE_FILE
    if not state_file.is_file():
        raise TrainError(f"nothing to resume: no interrupted run named {name!r} ({tmp_dir})")
    started = json.loads(state_file.read_text(encoding="utf-8"))
    changed = _differences(started["config"], config.model_dump(mode="json"))
    if changed:
        raise TrainError(
            f"run {name!r} was started with a different config ({', '.join(changed)}); "
            "resume it with the same config and overrides"
        )
    return started


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    out = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} → {b!r}")
    return out


def _tokens_at(checkpoint: Path | None) -> int:
    """Training tokens already counted when the run resumed from this checkpoint."""
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("num_input_tokens_seen", 0))


def _last_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint that was written to the end; a half-written one (killed while
    saving) is removed so the trainer neither loads nor rotates it."""
    found = sorted(
        (p for p in checkpoints.glob("checkpoint-*") if p.name.rsplit("-", 1)[1].isdigit()),
        key=_step_of,
    )
    while found and not (found[-1] / "trainer_state.json").is_file():
        shutil.rmtree(found.pop())
    return found[-1] if found else None


def _step_of(checkpoint: Path) -> int:
    """The optimizer step a `checkpoint-<step>` folder was saved at."""
    return int(checkpoint.name.rsplit("-", 1)[1])
