"""Best-of-n alone (`inkwell bench best-of`): what choosing among n candidates by the style
score adds to the score of served text and to latency, on the adapters a voice benchmark run
already trained (its kept work dir), without training again or repeating the gate trials.
The measure is the voice benchmark's own (benchmarks/voice_best_of.py), so the figures are
comparable with its best-of columns."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmarks import gate_benchmark as gate
from benchmarks import voice, voice_best_of
from benchmarks.harness.errors import BenchmarkInputError
from benchmarks.harness.results import RESULTS_DIR

NAME = "best_of"


def run(
    work_dir: str | Path | None = None,
    authors: tuple[str, ...] = ("austen", "twain"),
    variant: str = "default",
    best_of: int = 4,
    best_of_prompts: int = 12,
    new_tokens: int = 256,
    engine_url: str | None = None,
    out_dir: str | Path | None = None,
) -> Path:
    """Measure best-of-n per author and write best_of.{json,md} + a plot; return the folder.
    `work_dir` None: the folder of the last saved voice benchmark run."""
    params = {k: v for k, v in locals().items() if k != "out_dir"}  # the arguments only
    from serving.engine import engine_client

    work_dir = work_dir or last_voice_work_dir()
    params.update(work_dir=str(work_dir), prompts=best_of_prompts, seeds=(0,), workers=1)
    root = Path(work_dir) / voice.slug(variant)
    workspaces = {author: _trained_workspace(root, author) for author in authors}
    started = time.monotonic()
    results = {}
    with (
        voice.voice_engine(workspaces, engine_url) as (first, url),
        engine_client(first, url) as client,
    ):
        for author, ws in workspaces.items():
            gate.serve_only(client, ws, f"{author}-lora")
            settings = voice.eval_settings(ws, params)
            results[author] = voice_best_of.best_of_for(ws, author, first, url, settings, params)
    figures = {"params": params, "authors": results}
    return gate.save_and_print(NAME, figures, started, out_dir, markdown, plots)


def last_voice_work_dir(results_dir: Path = RESULTS_DIR) -> str:
    """Where the last saved `inkwell bench voice` run kept its workspaces and adapters."""
    saved = results_dir / voice.NAME / f"{voice.NAME}.json"
    try:
        return json.loads(saved.read_text(encoding="utf-8"))["params"]["work_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BenchmarkInputError(
            f"no voice benchmark run to measure ({saved} is missing or names no work dir); "
            "run `inkwell bench voice` first, or give --work-dir"
        ) from None


def _trained_workspace(root: Path, author: str) -> Any:
    from serving.foundation.errors import WorkspaceError
    from serving.foundation.workspace import Workspace

    try:
        ws = Workspace.load(root / author)
    except WorkspaceError:
        ws = None
    if ws is None or not (ws.adapters_dir / f"{author}-lora").is_dir():
        raise BenchmarkInputError(
            f"{root / author} holds no trained {author}-lora adapter; give --work-dir the "
            "folder a voice benchmark run kept (it prints 'workspaces and adapters kept in ...')"
        )
    return ws


def markdown(figures: dict) -> str:
    p = figures["params"]
    lines = [
        f"# Best-of-{p['best_of']}: style score and latency of served text",
        "",
        f"Adapters from the voice benchmark run in `{p['work_dir']}` ({p['variant']}); "
        f"{p['best_of_prompts']} held-out prompts per author, each served plainly and as "
        f"best-of-{p['best_of']} (same seed, {p['new_tokens']} new tokens) through the proxy, "
        "the returned text scored on the author's held-out yardstick. *Added* is, per "
        "request, what the client waited beyond the engine's time for that request (p50); "
        f"the budget is {voice_best_of.SCORING_BUDGET_MS:.0f} ms.",
        "",
        "| author | plain [95%] | best-of [95%] | gain (lower) | batched generation p50 ms "
        "| scoring p50 ms | added p50 ms | plain request's added p50 ms | within budget |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for author, r in figures["authors"].items():
        plain, best, gain = r["style"]["plain"], r["style"]["best_of"], r["gain"]
        lines.append(
            f"| {author} | {plain['mean']:.1f} [{plain['low']:.1f}, {plain['high']:.1f}] "
            f"| {best['mean']:.1f} [{best['low']:.1f}, {best['high']:.1f}] "
            f"| {gain['mean']:+.1f} ({gain['low']:+.1f}) | {r['batched_generation_p50_ms']} "
            f"| {r['scoring_p50_ms']} | {r['added_beyond_generation_p50_ms']} "
            f"| {r['plain_added_beyond_generation_p50_ms']} "
            f"| {'yes' if r['within_budget'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def plots(figures: dict) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    authors = list(figures["authors"])
    fig, (score_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for k, mode in enumerate(("plain", "best_of")):
        style = [figures["authors"][a]["style"][mode] for a in authors]
        means = [s["mean"] for s in style]
        errors = [[s["mean"] - s["low"] for s in style], [s["high"] - s["mean"] for s in style]]
        xs = [i + 0.2 * (2 * k - 1) for i in range(len(authors))]
        score_ax.bar(xs, means, 0.4, yerr=errors, capsize=4, label=mode.replace("_", "-"))
    score_ax.set_xticks(range(len(authors)), authors)
    score_ax.set_ylabel("style score on the author's yardstick")
    score_ax.set_title("Served text: plain vs best-of")
    score_ax.legend()
    for k, (key, label) in enumerate(
        (
            ("plain_added_beyond_generation_p50_ms", "added, plain request"),
            ("scoring_p50_ms", "scoring the candidates"),
            ("added_beyond_generation_p50_ms", "added, best-of request"),
        )
    ):
        xs = [i + 0.25 * (k - 1) for i in range(len(authors))]
        values = [figures["authors"][a][key] for a in authors]
        time_ax.bar(xs, values, 0.25, label=label)
    time_ax.set_xticks(range(len(authors)), authors)
    time_ax.axhline(voice_best_of.SCORING_BUDGET_MS, color="red", ls="--", label="budget")
    time_ax.set_ylabel("ms beyond the engine's time (p50)")
    time_ax.set_title("What best-of adds to latency")
    time_ax.legend(fontsize=8)
    for ax in (score_ax, time_ax):
        ax.grid(alpha=0.3)
    return {"best-of": fig}
