"""The LLM judge, measured: how often it names the same passage when the two are swapped.

The judge is the project's own engine (vLLM started on a demo workspace with its base model,
as `inkwell engine start` does) unless `judge_url` names any OpenAI-compatible endpoint. For
each pair, the endpoint continues a passage of a corpus author's, and the judge is asked, in
both orders, which of the real next passage and its own continuation is closer to the author
(reference excerpts from the same book). The style score blends the judge only for verdicts
that survive the swap (stylometry/score.py); this says how often that is."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from serving.foundation.workspace import DEV_REFERENCE_CORPUS
from stylometry.corpus import load_corpus
from stylometry.text import chunk_paragraphs

NAME = "judge_consistency"
PASSAGE_WORDS = 300
CONTINUATION_TOKENS = 400


def judge_consistency(
    books: dict[str, dict[str, str]],
    url: str | None,
    model: str | None,
    pairs: int = 12,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Order-swap consistency on (author passage, generated passage) pairs, one book after
    another. Without an endpoint: not measured."""
    if not url:
        return {"measured": False, "note": "judge not measured: no --judge-url given"}
    import openai

    from stylometry.judge import Judge, order_swap_consistency

    key = api_key or "not-needed"
    client = openai.OpenAI(base_url=url, api_key=key, timeout=300, max_retries=0)
    started = time.perf_counter()
    try:
        name = model or client.models.list().data[0].id
        pieces = [chunk_paragraphs(t, PASSAGE_WORDS) for bs in books.values() for t in bs.values()]
        made = []
        for i in range(pairs):
            p = pieces[i % len(pieces)]
            prompt, real = p[10 + i], p[11 + i]
            reply = client.chat.completions.create(
                model=name,
                max_tokens=CONTINUATION_TOKENS,
                messages=[{"role": "user", "content": f"Continue this passage:\n\n{prompt}"}],
            )
            made.append((real, reply.choices[0].message.content or "", p[20:22]))
    except openai.OpenAIError as exc:
        return {"measured": False, "note": f"judge not measured: {type(exc).__name__}: {exc}"}
    judge = Judge(url, name, api_key=key, timeout_s=300)
    rows = [order_swap_consistency(judge, [(real, gen)], refs) for real, gen, refs in made]
    answered = sum(r["both_orders_answered"] for r in rows)
    consistent = sum(r["consistent"] for r in rows)
    preferred = sum(r["consistent"] * (r["author_preferred_when_consistent"] or 0.0) for r in rows)
    return {
        "measured": True,
        "model": name,
        "pairs": len(rows),
        "both_orders_answered": answered,
        "consistent": consistent,
        "consistency": consistent / answered if answered else None,
        "author_preferred_when_consistent": preferred / consistent if consistent else None,
        "errors": sorted({e for r in rows for e in r["errors"]}),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def run(
    out_dir: Path | None = None,
    corpus: Path | str = DEV_REFERENCE_CORPUS,
    judge_url: str | None = None,
    judge_model: str | None = None,
    pairs: int = 12,
) -> Path:
    """Measure and write the result; returns its folder."""
    from benchmarks.harness.results import write_results

    books = load_corpus(corpus)
    if judge_url:
        figures = judge_consistency(books, judge_url, judge_model, pairs)
        figures["endpoint"] = "given"
    else:
        figures = _with_own_engine(books, judge_model, pairs)
    return write_results(out_dir, NAME, figures, _markdown(figures), _plots(figures))


def _with_own_engine(
    books: dict[str, dict[str, str]], model: str | None, pairs: int
) -> dict[str, Any]:
    """The judge on the project's engine: vLLM for a fresh demo workspace, stopped after."""
    from benchmarks.harness.engines import engine_for
    from serving.engine.key import ensure_engine_key
    from serving.foundation.workspace import init_workspace

    with tempfile.TemporaryDirectory(prefix="inkwell-judge-") as tmp:
        ws = init_workspace(Path(tmp) / "book", demo=True)
        with engine_for(ws) as url:
            figures = judge_consistency(books, url, model, pairs, ensure_engine_key(ws))
    figures["endpoint"] = f"the project's engine (vLLM, base model {ws.config.engine.base_model})"
    return figures


def _markdown(figures: dict[str, Any]) -> str:
    lines = ["# The LLM judge: order-swap consistency", ""]
    if not figures.get("measured"):
        return "\n".join([*lines, figures.get("note", "not measured")])

    def share(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    lines += [
        f"Judge: `{figures['model']}` on {figures['endpoint']}. {figures['pairs']} pairs of (a "
        "corpus author's real next passage, the endpoint's own continuation of the passage "
        "before it), each judged in both orders against two excerpts of the same book.",
        "",
        "| pairs | both orders answered | consistent | consistency | author's passage chosen "
        "(consistent verdicts) | wall s |",
        "|---|---|---|---|---|---|",
        f"| {figures['pairs']} | {figures['both_orders_answered']} | {figures['consistent']} | "
        f"{share(figures['consistency'])} | "
        f"{share(figures['author_preferred_when_consistent'])} | {figures['wall_s']} |",
        "",
        "Only verdicts that survive the swap are blended into the style score; a judge that "
        "flips with the order adds nothing to it.",
    ]
    if figures["errors"]:
        lines += ["", "Unusable answers: " + "; ".join(figures["errors"][:5])]
    return "\n".join(lines)


def _plots(figures: dict[str, Any]) -> dict[str, Any]:
    if not figures.get("measured"):
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    answered, consistent = figures["both_orders_answered"], figures["consistent"]
    counts = {
        "consistent": consistent,
        "flipped with the order": answered - consistent,
        "unanswered": figures["pairs"] - answered,
    }
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(list(counts), list(counts.values()), color=["#2a7", "#d84", "#999"])
    ax.set_xlabel("pairs")
    ax.set_title(f"Judge {figures['model']}: verdicts under order swap")
    ax.invert_yaxis()
    return {"verdicts under order swap": fig}
