"""The training configuration: one YAML file (configs/*_style_transfer.yaml) validated by a
schema that rejects unknown keys, so a typo fails loudly instead of training with a default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finetune.errors import FinetuneError


class TrainConfigError(FinetuneError):
    """A training config file or override that does not fit the schema."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """How chapters become examples (`inkwell prepare`)."""

    chunk_min_tokens: int = Field(500, gt=0)
    chunk_max_tokens: int = Field(2000, gt=0)
    # Tokens of the preceding passage quoted in the instruction.
    context_tokens: int = Field(200, gt=0)
    validation_fraction: float = Field(0.1, gt=0, lt=0.5)
    seed: int = 0

    @model_validator(mode="after")
    def _sizes(self) -> DataConfig:
        if self.chunk_max_tokens < 2 * self.chunk_min_tokens:
            raise ValueError(
                f"chunk_max_tokens ({self.chunk_max_tokens}) must be at least twice "
                f"chunk_min_tokens ({self.chunk_min_tokens}) to leave room to cut at paragraphs"
            )
        return self


class QuantizationConfig(_Strict):
    """4-bit loading (QLoRA); used only on CUDA."""

    load_in_4bit: bool = False
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


class LoraConfig(_Strict):
    r: int = Field(16, gt=0)
    alpha: int = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ],
        min_length=1,
    )


class TrainingConfig(_Strict):
    epochs: float = Field(3.0, gt=0)
    # Overrides epochs when set (`--max-steps`).
    max_steps: int | None = Field(None, gt=0)
    learning_rate: float = Field(3e-4, gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    batch_size: int = Field(4, gt=0)
    eval_batch_size: int = Field(4, gt=0)
    gradient_accumulation_steps: int = Field(4, gt=0)
    gradient_checkpointing: bool = True
    optim: Literal[
        "adamw_torch",
        "adamw_torch_fused",
        "paged_adamw_8bit",
        "paged_adamw_32bit",
        "adamw_8bit",
        "adafactor",
        "sgd",
    ] = "adamw_torch"
    # bf16 mixed precision; ignored (fp32) on a CPU.
    bf16: bool = True
    max_length: int = Field(2048, gt=0)
    eval_steps: int = Field(50, gt=0)
    # A multiple of eval_steps: the best checkpoint by eval loss is the one kept at the end.
    save_steps: int = Field(50, gt=0)
    save_total_limit: int = Field(3, gt=0)
    # Checkpoints exist to resume a killed run; a finished adapter drops them unless asked.
    keep_checkpoints: bool = False
    logging_steps: int = Field(10, gt=0)
    # Stop at the first step past this many minutes of training (null: no limit); the best
    # checkpoint so far is the adapter.
    max_minutes: float | None = Field(None, gt=0)
    # Evaluations without improvement before stopping; null never stops early.
    early_stopping_patience: int | None = Field(3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 42
    report_to: list[Literal["wandb", "tensorboard"]] = Field(default_factory=list)
    # CPU threads for torch; null means one per physical core not busy with other work.
    threads: int | None = Field(None, gt=0)
    # Batches of similar-length sequences (less padding when batch_size > 1).
    group_by_length: bool = False

    @model_validator(mode="after")
    def _save_on_eval(self) -> TrainingConfig:
        if self.save_steps % self.eval_steps:
            raise ValueError(
                f"save_steps ({self.save_steps}) must be a multiple of eval_steps "
                f"({self.eval_steps}) so the best checkpoint can be kept"
            )
        return self


# The measured CPU recipe (benchmarks/voice.py): short passages and sequences, no gradient
# checkpointing, two sequences a step one at a time (no padding, half the activations of a
# batch of two), so a 2-core machine trains the demo book in minutes rather than hours.
CPU_RECIPE: dict[str, dict[str, Any]] = {
    "data": {"chunk_min_tokens": 160, "chunk_max_tokens": 400, "context_tokens": 64},
    "training": {
        "epochs": 2,
        "batch_size": 1,
        "eval_batch_size": 2,
        "gradient_accumulation_steps": 2,
        "gradient_checkpointing": False,
        "max_length": 704,
        "eval_steps": 25,
        "save_steps": 25,
        "logging_steps": 5,
    },
}


class CpuRecipe(_Strict):
    """Keys of data/lora/training that replace the ones above when no CUDA GPU is present;
    `--set` overrides still win. `cpu: null` trains on a CPU with the settings above."""

    data: dict[str, Any] = Field(default_factory=dict)
    lora: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(_Strict):
    """Defaults equal configs/lora_style_transfer.yaml (tested), the config used when none
    is given."""

    # "smollm2-135m" (built offline), an HF model folder, or a hub id.
    base_model: str = "smollm2-135m"
    data: DataConfig = Field(default_factory=DataConfig)
    quantization: QuantizationConfig = Field(default_factory=QuantizationConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    cpu: CpuRecipe | None = Field(default_factory=lambda: CpuRecipe.model_validate(CPU_RECIPE))

    @model_validator(mode="after")
    def _cpu_recipe_fits(self) -> TrainConfig:
        """A typo in the cpu block fails on every machine, not only on the CPU one."""
        if self.cpu is not None:
            merged = {**with_cpu_recipe(self.model_dump(mode="json")), "cpu": None}
            try:
                TrainConfig.model_validate(merged)
            except ValidationError as exc:
                raise ValueError(f"with the cpu block: {_describe(exc)}") from None
        return self


def with_cpu_recipe(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw config with its cpu block (the schema's when it has none) laid over its
    sections; the block itself is kept, so the result says which recipe it came from."""
    recipe = raw.get("cpu", CPU_RECIPE)
    if not recipe:
        return raw
    if not isinstance(recipe, dict):
        raise TrainConfigError("'cpu' must be a mapping of data/lora/training keys, or null")
    merged = dict(raw)
    for section, values in recipe.items():
        current = raw.get(section) or {}
        if not isinstance(current, dict) or not isinstance(values, dict):
            raise TrainConfigError(f"'{section}' and 'cpu.{section}' must be mappings")
        merged[section] = {**current, **values}
    return merged


def cuda_present() -> bool:
    import torch

    return torch.cuda.is_available()


def load_train_config(
    path: Path | str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    max_steps: int | None = None,
    cuda: bool | None = None,
) -> TrainConfig:
    """The config in `path` (schema defaults when None), its cpu block when there is no CUDA
    (`cuda` None: ask torch), then `--set key=value` overrides (dotted keys, values parsed as
    YAML and typed by the schema), then `--max-steps`."""
    source = str(path) if path is not None else "defaults"
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise TrainConfigError(f"{path}: training config not found")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise TrainConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise TrainConfigError(f"{path}: expected a mapping of settings at the top level")
        raw = loaded or {}
    if not (cuda_present() if cuda is None else cuda):
        raw = with_cpu_recipe(raw)
    for item in overrides:
        _apply_override(raw, item)
    if max_steps is not None:
        raw.setdefault("training", {})
        if not isinstance(raw["training"], dict):
            raise TrainConfigError(f"{source}: 'training' must be a mapping")
        raw["training"]["max_steps"] = max_steps
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        where = f"{source} with --set" if overrides else source
        raise TrainConfigError(f"{where}: {_describe(exc)}") from None


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise TrainConfigError(
            f"--set {item!r}: expected key=value, e.g. training.learning_rate=3e-4"
        )
    parts = key.split(".")
    _check_known(parts, item)
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise TrainConfigError(f"--set {item!r}: {part!r} is not a section")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise TrainConfigError(f"--set {item!r}: value is not valid YAML: {exc}") from None


def _check_known(parts: list[str], item: str) -> None:
    """Name the bad part of a dotted key and the keys that would be accepted there."""
    model: type[BaseModel] | None = TrainConfig
    for depth, part in enumerate(parts):
        if model is None:
            raise TrainConfigError(f"--set {item!r}: {'.'.join(parts[:depth])} has no sub-keys")
        fields = model.model_fields
        if part not in fields:
            known = ", ".join(sorted(fields))
            where = ".".join(parts[: depth + 1])
            raise TrainConfigError(f"--set {item!r}: unknown key {where!r} (known here: {known})")
        annotation = fields[part].annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation if is_section else None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown key {key!r}")
        elif error["type"] == "value_error":
            lines.append(f"{key}: {error['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"{key}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(lines)
