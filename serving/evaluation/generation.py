"""What evaluation asks the engine: continuations with fixed sampling and seeds, and the
log-likelihood of the author's real continuation (vLLM prompt logprobs), for any served model
(base or adapter) — several requests in flight so vLLM can batch them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential
from tqdm.auto import tqdm

from serving.engine.client import EngineClient, EngineError, TransientEngineError
from serving.evaluation.prompts import EvalPrompt

T = TypeVar("T")
# A long gate run must not die of one engine hiccup: transient failures (unreachable, 429, 5xx)
# are retried with exponential backoff, about a minute in all; any other error stops at once.
engine_retry = retry(
    retry=retry_if_exception_type(TransientEngineError),
    stop=stop_after_attempt(6),
    wait=wait_exponential(multiplier=0.5, max=20),
    reraise=True,
)
Job = tuple[str, int, int]  # model, prompt index, seed


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float


def request_seed(seed: int, prompt_index: int) -> int:
    """One seed per (run seed, prompt), the same for every model: paired comparisons then
    share their random numbers."""
    return seed * 100_003 + prompt_index


@engine_retry
def generate(
    client: EngineClient, prompt: EvalPrompt, model: str, seed: int, index: int, sampling: Sampling
) -> str:
    response = client.chat(
        {
            "model": model,
            "messages": prompt.messages,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": request_seed(seed, index),
        }
    )
    return response["choices"][0]["message"]["content"] or ""


@dataclass(frozen=True)
class Likelihood:
    nll: float  # summed negative log-likelihood of the reference tokens
    tokens: int

    @property
    def per_token(self) -> float:
        return self.nll / self.tokens


@engine_retry
def reference_likelihood(
    client: EngineClient, model: str, prompt_ids: list[int], reference_ids: list[int]
) -> Likelihood:
    """NLL of the author's continuation after the chat prompt, from vLLM's prompt logprobs."""
    ids = prompt_ids + reference_ids
    response = client.completion(
        {"model": model, "prompt": ids, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0}
    )
    logprobs = response["choices"][0].get("prompt_logprobs")
    if not logprobs or len(logprobs) != len(ids):
        raise EngineError(f"the engine returned no prompt logprobs for model {model!r}")
    total = 0.0
    for position in range(len(prompt_ids), len(ids)):
        entry = logprobs[position]
        total -= float(entry[str(ids[position])]["logprob"])
    return Likelihood(nll=total, tokens=len(reference_ids))


def run_parallel(
    jobs: list[T], work: Callable[[T], Any], *, workers: int, desc: str, progress: bool
) -> list[Any]:
    """Results in job order; a progress bar counts finished jobs."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results: Iterable[Any] = pool.map(work, jobs)
        return list(tqdm(results, total=len(jobs), desc=desc, unit="req", disable=not progress))
