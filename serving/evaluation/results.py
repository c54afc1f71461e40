"""What an evaluation produces (saved as evaluation.json in the run folder) and its knobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from serving.evaluation.generation import Sampling
from serving.evaluation.prompts import EvaluationInputError
from serving.evaluation.stats import Interval
from serving.foundation.config import GateConfig
from serving.foundation.records import JsonRecord

EVALUATION_DIR = "evaluation"
RESULT_FILE = "evaluation.json"


class EvalSettings(BaseModel):
    """The knobs of one evaluation (defaults from the workspace's gate section)."""

    prompts: int
    new_tokens: int
    seeds: list[int]
    temperature: float
    top_p: float
    bootstrap_samples: int
    confidence: float
    workers: int = 4

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.new_tokens, self.temperature, self.top_p)

    @classmethod
    def from_gate(cls, gate: GateConfig, **overrides: Any) -> EvalSettings:
        values = gate.model_dump(
            include={
                "prompts",
                "new_tokens",
                "seeds",
                "temperature",
                "top_p",
                "bootstrap_samples",
                "confidence",
            }
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)


class ModelResult(BaseModel):
    role: str
    name: str  # the served model name: "base" or an adapter
    style: Interval  # mean 0-100 score over prompts, with its bootstrap interval
    parts: dict[str, float]  # mean per-feature scores
    nll: float  # mean NLL per token of the author's real continuations
    per_prompt_style: list[float]  # seeds averaged, in prompt order (for paired tests)
    per_prompt_nll: list[float]


class Comparison(BaseModel):
    """Candidate minus another model, paired over prompts."""

    against: str
    style: Interval  # low = one-sided lower bound at the configured confidence
    nll: Interval  # candidate NLL minus the other's (negative is better)


class Example(BaseModel):
    prompt_id: str
    instruction: str
    reference: str
    outputs: dict[str, str]


class EvaluationResult(JsonRecord):
    FILE: ClassVar[str] = f"{EVALUATION_DIR}/{RESULT_FILE}"

    run: str
    created_at: str
    settings: EvalSettings
    profile: dict[str, Any]
    prompt_ids: list[str]
    models: dict[str, ModelResult]  # by role
    reference_style: float  # the author's own continuations, scored the same way
    comparisons: dict[str, Comparison] = Field(default_factory=dict)  # by role
    examples: list[Example] = Field(default_factory=list)
    wall_time_s: float = 0.0

    @classmethod
    def load(cls, run_dir: Path) -> EvaluationResult:
        fix = f"run `inkwell evaluate {Path(run_dir).name}`"
        return cls.read(
            run_dir, EvaluationInputError, f"no evaluation for this run; {fix} first", fix
        )
