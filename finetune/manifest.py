"""manifest.json: everything needed to know what an adapter is and to reproduce it."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from finetune.errors import FinetuneError
from serving.foundation.records import JsonRecord

MANIFEST_FILE = "manifest.json"
_PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes")


class LossPoint(BaseModel):
    step: int
    loss: float


class AdapterManifest(JsonRecord):
    FILE: ClassVar[str] = MANIFEST_FILE

    run: str
    # The base model as vLLM serves it (a folder path or hub id); adapter_config.json says the same.
    base_model: str
    # The configured name it came from, e.g. "smollm2-135m".
    base_model_name: str
    base_model_hash: str | None
    data_hash: str
    data_card: dict[str, Any]
    # The system prompt of the training data: evaluation prompts must use the same one.
    system_prompt: str
    config: dict[str, Any]
    method: str  # "LoRA" or "QLoRA"
    device: str
    device_name: str
    device_notes: list[str]
    lora_rank: int
    steps: int
    epochs: float
    best_step: int | None
    best_eval_loss: float | None
    train_loss: list[LossPoint]
    eval_loss: list[LossPoint]
    wall_time_s: float
    seconds_per_step: float
    # Training tokens (padding excluded) per second of training: what `inkwell train`
    # estimates the next run's duration from.
    train_tokens: int | None = None
    tokens_per_s: float | None = None
    threads: int | None = None  # torch CPU threads it trained with (None on CUDA)
    resumed_from_step: int | None
    versions: dict[str, str]
    created_at: str

    @classmethod
    def load(cls, run_dir: Path) -> AdapterManifest:
        return cls.read(
            run_dir, FinetuneError, f"not an adapter run (no {MANIFEST_FILE})", "train it again"
        )


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
