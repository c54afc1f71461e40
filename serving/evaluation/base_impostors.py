"""Base-model prose as impostors for the evaluation yardstick.

The gate asks whether an adapter writes more like the author than the base model does. A
yardstick calibrated against other writers alone does not know the base model's prose: on a
three-chapter yardstick SmolLM2's continuations scored 71 of 100 against the author's 100
and another writer's 4. So the base model continues passages of the training chapters
(never the held-out prompts that are scored) and its prose joins the impostors, dealt into
GROUPS texts so that every cross-validation fold trains on some of it. Generations are kept
in the workspace, keyed by base model, prompt, seed and sampling: the next evaluation of the
same book pays nothing."""

from __future__ import annotations

import math

from serving.engine.client import EngineClient
from serving.evaluation.generation import Sampling, generate
from serving.evaluation.generation_cache import GenerationCache, generation_key
from serving.evaluation.prompts import CountTokens, EvaluationInputError, build_prompts
from serving.foundation.workspace import Workspace

GROUPS = 4
MAX_GENERATIONS = 64  # short continuations: fewer words rather than hundreds of requests
WORDS_PER_TOKEN = 0.75  # English prose: how many words a continuation of n tokens holds
SEED_OFFSET = 7919  # its own random numbers, apart from the evaluation's seeds


def base_model_impostors(
    ws: Workspace,
    client: EngineClient,
    system_prompt: str,
    count_tokens: CountTokens,
    sampling: Sampling,
    *,
    context_tokens: int,
    workers: int,
    progress: bool,
) -> list[str]:
    """About gate.base_impostor_words words (at most MAX_GENERATIONS continuations) of the
    base model continuing the training chapters, as GROUPS texts ([] when disabled or the
    chapters give no passage)."""
    import stylometry

    wanted_words = ws.config.gate.base_impostor_words
    if wanted_words == 0:
        return []
    chapters = [(p, stylometry.read_text(p)) for p in ws.training_chapters()]
    if not chapters:
        return []
    wanted = min(
        MAX_GENERATIONS, math.ceil(wanted_words / max(1.0, WORDS_PER_TOKEN * sampling.max_tokens))
    )
    try:
        prompts = build_prompts(
            chapters,
            system_prompt,
            count_tokens,
            count=wanted,
            new_tokens=sampling.max_tokens,
            context_tokens=context_tokens,
        )
    except EvaluationInputError:
        return []
    # round the prompts as often as the words need, a new seed each round
    jobs = [(k % len(prompts), SEED_OFFSET + k // len(prompts)) for k in range(wanted)]
    cache = GenerationCache(ws.state_dir / "style" / "base-impostors")
    model = ws.config.engine.served_name
    identity = f"{ws.config.engine.base_model} as {model}"

    texts = cache.texts_for(
        jobs,
        lambda job: generation_key(identity, prompts[job[0]].messages, job[1], sampling),
        lambda job: generate(client, prompts[job[0]], model, job[1], job[0], sampling),
        workers=workers,
        desc="base-model impostors",
        progress=progress,
    )
    return _grouped(texts)


def _grouped(texts: list[str]) -> list[str]:
    groups = ["\n\n".join(t for t in texts[g::GROUPS] if t.strip()) for g in range(GROUPS)]
    return [g for g in groups if g]
