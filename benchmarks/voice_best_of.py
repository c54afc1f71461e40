"""Best-of-n, measured (part of `inkwell bench voice`): what choosing among n candidates by the
style score adds to the score of served text and to latency, through the real proxy and the
openai SDK; and what scoring n candidates alone costs (the proxy's own scorer, off the engine).
"""

from __future__ import annotations

import shutil
import statistics
import time
from typing import Any

from benchmarks.gate_benchmark import cut_chapters
from benchmarks.harness.errors import BenchmarkInputError
from benchmarks.harness.proxies import proxy_in_thread

SCORING_WORDS = 300
SCORING_REPEATS = 21
# The bound: best-of adds no more than the batched generation plus this, at p50.
SCORING_BUDGET_MS = 50.0


def passages(texts: list[str], words: int = SCORING_WORDS) -> list[str]:
    """The held-out chapters cut into passages of about `words` words (between paragraphs)."""
    out = [piece for text in texts for piece in cut_chapters(text, words)]
    if not out:
        raise BenchmarkInputError(f"the held-out chapters hold no passage of {words} words")
    return out


def scoring_overhead(ws: Any, texts: list[str], n: int = 4) -> dict[str, Any]:
    """p50/p90 ms to score n passages of ~300 words with the proxy's scorer (profile already
    loaded, as in a running proxy), each checked for copying against a ~900-word prompt."""
    from serving.proxy.best_of import StyleScorer

    scorer = StyleScorer(ws.style_profile_path, ws.root)
    scorer.profile()
    pool = passages(texts)
    times = []
    for i in range(SCORING_REPEATS):
        batch = [pool[(i * n + k) % len(pool)] for k in range(n)]
        prompt = "\n\n".join(pool[(i * n + n + k) % len(pool)] for k in range(3))
        started = time.perf_counter()
        scorer.scores(batch, prompt)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "candidates": n,
        "words_each": SCORING_WORDS,
        "repeats": SCORING_REPEATS,
        "p50_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2),
    }


def share_engine_key(engine_ws: Any, ws: Any) -> None:
    """A proxy for another workspace talks to the engine started for `engine_ws`."""
    from serving.engine.key import engine_key_path

    if engine_ws.root != ws.root:
        shutil.copy2(engine_key_path(engine_ws), engine_key_path(ws))


def measure_best_of(
    ws: Any, engine_url: str, model: str, prompts: list, settings: Any, n: int, yardstick: Any
) -> dict[str, Any]:
    """Each prompt asked plainly and as best-of-n (same seed) of `model` through the proxy;
    the returned texts scored on the yardstick; latencies and the trace's split."""
    import openai

    from serving.evaluation.generation import request_seed

    rows: dict[str, list[dict]] = {"plain": [], "best_of": []}
    with proxy_in_thread(ws, engine_url=engine_url) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=900)
        for index, prompt in enumerate(prompts):
            for mode in rows:
                options = {"lore": False, **({"best_of": n} if mode == "best_of" else {})}
                started = time.perf_counter()
                raw = client.chat.completions.with_raw_response.create(
                    model=model,
                    messages=prompt.messages,
                    max_tokens=settings.new_tokens,
                    temperature=settings.temperature,
                    top_p=settings.top_p,
                    seed=request_seed(settings.seeds[0], index),
                    extra_body={"inkwell": options},
                )
                latency = (time.perf_counter() - started) * 1000
                text = raw.parse().choices[0].message.content or ""
                request_id = raw.headers["x-inkwell-request-id"]
                rows[mode].append(
                    {"latency_ms": latency, "text": text, "prompt": prompt.text, "id": request_id}
                )
    return summarise_best_of(ws, rows, yardstick, settings, n)


def summarise_best_of(ws: Any, rows: dict, yardstick: Any, settings: Any, n: int) -> dict:
    from serving.evaluation.stats import bootstrap_mean, paired_bootstrap
    from serving.evaluation.yardstick import score_text
    from serving.proxy.trace import find_trace

    scores = {
        m: [score_text(r["text"], r["prompt"], yardstick, None).overall for r in rs]
        for m, rs in rows.items()
    }
    traces = {m: [find_trace(ws.traces_path, r["id"]) or {} for r in rs] for m, rs in rows.items()}
    upstream = [t["upstream_ms"] for t in traces["best_of"] if t.get("upstream_ms") is not None]
    scoring = [t["best_of"]["scoring_ms"] for t in traces["best_of"] if t.get("best_of")]
    p50 = {m: statistics.median(r["latency_ms"] for r in rs) for m, rs in rows.items()}
    knobs = {"samples": settings.bootstrap_samples, "confidence": settings.confidence}
    # Per request: what the client waited beyond the engine's own time for that request.
    beyond = {
        m: [r["latency_ms"] - t["upstream_ms"] for r, t in zip(rs, traces[m], strict=True)
            if t.get("upstream_ms") is not None]
        for m, rs in rows.items()
    }  # fmt: skip
    added = statistics.median(beyond["best_of"]) if beyond["best_of"] else None
    return {
        "n": n,
        "prompts": len(rows["plain"]),
        "style": {m: bootstrap_mean(s, **knobs).model_dump() for m, s in scores.items()},
        "gain": paired_bootstrap(scores["best_of"], scores["plain"], **knobs).model_dump(),
        "latency_p50_ms": {m: round(v, 1) for m, v in p50.items()},
        "batched_generation_p50_ms": round(statistics.median(upstream), 1) if upstream else None,
        "scoring_p50_ms": round(statistics.median(scoring), 2) if scoring else None,
        "added_beyond_generation_p50_ms": round(added, 1) if added is not None else None,
        "plain_added_beyond_generation_p50_ms": (
            round(statistics.median(beyond["plain"]), 1) if beyond["plain"] else None
        ),
        "within_budget": added is not None and added <= SCORING_BUDGET_MS,
    }


def best_of_for(ws: Any, author: str, engine_ws: Any, url: str, settings: Any, params: dict):
    """Best-of-n of the author's matching adapter on its held-out prompts and yardstick."""
    from serving.evaluation.yardstick import yardstick_profile
    from stylometry import read_text

    share_engine_key(engine_ws, ws)
    held = [read_text(p) for p in ws.held_out_chapters()]
    return measure_best_of(
        ws, url, f"{author}-lora", held_out_prompts(ws, f"{author}-lora", params), settings,
        params["best_of"], yardstick_profile(ws, held, progress=False),
    )  # fmt: skip


def held_out_prompts(ws: Any, run: str, params: dict) -> list:
    """Prompts as evaluation builds them (held-out passages, the adapter's system prompt)."""
    from transformers import AutoTokenizer

    import stylometry
    from finetune.base_model import ensure_base_model
    from finetune.manifest import AdapterManifest
    from serving.evaluation.prompts import build_prompts

    manifest = AdapterManifest.load(ws.adapters_dir / run)
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_base_model(ws.config.engine.base_model)))

    def count_tokens(pieces: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(pieces, add_special_tokens=False)["input_ids"]]

    texts = [(path, stylometry.read_text(path)) for path in ws.held_out_chapters()]
    return build_prompts(
        texts, manifest.system_prompt, count_tokens, count=params["best_of_prompts"],
        new_tokens=params["new_tokens"],
        context_tokens=manifest.data_card["params"]["context_tokens"],
    )  # fmt: skip
