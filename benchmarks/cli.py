"""`inkwell bench`: the benchmarks as a command group (plugged into the CLI through the
`inkwell.commands` entry point in pyproject.toml)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer


def run_benchmark(module: str, **arguments: Any) -> None:
    """`benchmarks.<module>.run(**arguments)` with user errors as messages; print where the
    results went. Imported on use: each benchmark pulls in its own heavy dependencies."""
    from serving.cli.errors import user_errors

    with user_errors():
        path = importlib.import_module(f"benchmarks.{module}").run(**arguments)
    typer.echo(f"results: {path}")


app = typer.Typer(no_args_is_help=True, help="Benchmarks that print and save their figures.")

ResultsOpt = Annotated[
    Path | None, typer.Option(help="Results folder (default: benchmarks/results/...).")
]
StartedEngineOpt = Annotated[
    str | None, typer.Option(help="Use this running engine instead of starting vLLM.")
]


def _at_least(least: float, help: str) -> Any:
    """A number option with a floor: typer rejects smaller values and shows the floor."""
    return typer.Option(min=least, help=help)


def _switch(name: str, help: str) -> Any:
    """An on/off option spelled `--NAME/--no-NAME`."""
    return typer.Option(f"--{name}/--no-{name}", help=help)


@app.command("report")
def report(
    fresh_hours: Annotated[
        float, typer.Option(help="Reuse saved results younger than this many hours.")
    ] = 24.0,
    run: Annotated[bool, _switch("run", "Run benchmarks without a fresh result.")] = True,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", help="Run just this benchmark (repeatable); show the rest as saved."
        ),
    ] = None,
    timeout_min: Annotated[
        float, typer.Option(help="Time limit for each benchmark run, in minutes.")
    ] = 30.0,
    out: Annotated[
        Path | None, typer.Option(help="Reports folder (default: benchmarks/reports).")
    ] = None,
) -> None:
    """Run or reuse every benchmark; write reports/<date>/index.html and README.md."""
    from benchmarks.overview.build import REPORTS_DIR, build_overview
    from serving.cli.errors import user_errors

    with user_errors():
        out_dir = build_overview(
            reports_dir=out or REPORTS_DIR,
            fresh_hours=fresh_hours,
            allow_run=run,
            only=only or (),
            timeout_s=timeout_min * 60,
        )
    typer.echo(f"report: {out_dir / 'index.html'}")
    typer.echo(f"        {out_dir / 'README.md'}")


@app.command("continue-latency")
def continue_latency(
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Workspace (default: a fresh demo book)."),
    ] = None,
    engine_url: StartedEngineOpt = None,
    runs: Annotated[int, _at_least(1, "cn turns per path.")] = 5,
) -> None:
    """Latency of `cn -p` (Continue CLI) through the proxy vs. straight to the engine."""
    run_benchmark("continue_latency", workspace=workspace, engine_url=engine_url, runs=runs)


@app.command("proxy")
def proxy(
    chunks: Annotated[int, _at_least(1, "Lore chunks in the store.")] = 10_000,
    requests: Annotated[
        int, _at_least(20, "Requests per cell at 8 clients (x0.5 at 1, x2 at 64).")
    ] = 200,
    litellm: Annotated[bool, _switch("litellm", "Also measure LiteLLM's proxy.")] = True,
    backend: Annotated[
        list[str] | None,
        typer.Option(
            help="Embedding backend for an extra lore-on row (repeatable).",
            show_default="torch, model2vec",
        ),
    ] = None,
) -> None:
    """Latency the proxy adds over the engine (lore off and on, per embedding backend), side by
    side with LiteLLM."""
    run_benchmark(
        "proxy_overhead", chunks=chunks, requests=requests, with_litellm=litellm, backends=backend
    )


@app.command("load")
def load(
    requests: Annotated[int, _at_least(1, "Concurrent streams per burst.")] = 200,
    cap: Annotated[int, _at_least(1, "server.max_concurrency for the beyond-the-cap burst.")] = 32,
    engine: Annotated[bool, _switch("engine", "Also load the real CPU vLLM engine.")] = False,
    engine_requests: Annotated[
        int, _at_least(1, "Concurrent streams per burst on the real engine.")
    ] = 8,
) -> None:
    """Concurrent streaming chats through the proxy: errors, latency, memory, fds, the 429 cap."""
    run_benchmark(
        "load", requests=requests, cap_over=cap, engine=engine, engine_requests=engine_requests
    )


@app.command("retrieval")
def retrieval(
    latency_chunks: Annotated[
        int, _at_least(0, "Chunks in the store for the latency part (0: skip it).")
    ] = 10_000,
) -> None:
    """Lore retrieval quality (recall@5, MRR: keyword, vector, hybrid) and retrieve() latency."""
    run_benchmark("retrieval_quality", latency_chunks=latency_chunks)


@app.command("stylometry")
def stylometry(
    corpus: Annotated[
        Path, typer.Option(help="Corpus folder laid out as DIR/<author>/*.txt.")
    ] = Path("../shared/corpora/dev"),
    words: Annotated[
        str, typer.Option(help="Sample lengths in words, comma-separated.")
    ] = "200,300,500,1000,2000,5000",
    mode: Annotated[str, typer.Option(help="Feature profile: fast or full.")] = "fast",
    judge_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint whose judge to measure.")
    ] = None,
    judge_model: Annotated[str | None, typer.Option(help="The judge's model name.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON line.")
    ] = False,
    out: ResultsOpt = None,
) -> None:
    """Attribution and verification by length (rotation, leave authors out), speed, judge."""
    import json

    from benchmarks.stylometry_attribution import run
    from serving.cli.errors import user_errors

    with user_errors():
        figures = run(
            corpus,
            words=words,
            mode=mode,
            out_dir=out,
            progress=not as_json,
            judge_url=judge_url,
            judge_model=judge_model,
        )
    if as_json:
        typer.echo(json.dumps(figures, default=str))
        return
    for name, p in figures["protocols"].items():
        for w, methods in p["by_words"].items():
            for m, v in methods.items():
                typer.echo(
                    f"{name:18s} {w:>5} words  {m:30s} top-1 {v['top1']:6.1%}  AUC {v['auc']:.4f}"
                )
    typer.echo(f"scoring: {figures['scoring_speed']}  judge: {figures['judge']}")


@app.command("judge")
def judge(
    judge_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible endpoint to judge with (default: start vLLM)."),
    ] = None,
    judge_model: Annotated[str | None, typer.Option(help="The judge's model name.")] = None,
    pairs: Annotated[int, _at_least(1, "(author passage, generated passage) pairs.")] = 12,
    out: ResultsOpt = None,
) -> None:
    """The LLM judge's order-swap consistency (the project's engine unless --judge-url)."""
    run_benchmark(
        "judge_consistency", out_dir=out, judge_url=judge_url, judge_model=judge_model, pairs=pairs
    )


@app.command("train")
def train(
    steps: Annotated[int, _at_least(1, "Optimizer steps per configuration.")] = 4,
    config: Annotated[
        Path | None, typer.Option(help="Training config (default: lora_style_transfer.yaml).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="key=value override for every configuration (repeatable)."),
    ] = None,
    threads: Annotated[
        int | None,
        _at_least(1, "torch CPU threads (default: one per core; 1 on a busy machine)."),
    ] = None,
    out: ResultsOpt = None,
) -> None:
    """LoRA training speed on SmolLM2: s/step, tokens/s, peak RSS and loss, per configuration."""
    from benchmarks.train_throughput import DEFAULT_CONFIG

    run_benchmark(
        "train_throughput",
        steps=steps,
        config_path=config or DEFAULT_CONFIG,
        sets=set_ or (),
        out_dir=out,
        threads=threads,
    )


@app.command("gate")
def gate(
    steps: Annotated[
        int | None, _at_least(1, "Training steps per adapter (instead of --epochs).")
    ] = None,
    epochs: Annotated[float, _at_least(0.01, "Training epochs per adapter.")] = 2.0,
    chapter_words: Annotated[int, _at_least(200, "Words per chapter cut.")] = 1500,
    train_chapters: Annotated[int, _at_least(1, "Training chapters per author.")] = 6,
    held_out_chapters: Annotated[
        int, _at_least(1, "Held-out chapters per author (the yardstick).")
    ] = 3,
    prompts: Annotated[int, _at_least(1, "Held-out prompts per author.")] = 24,
    new_tokens: Annotated[int, _at_least(8, "Tokens per continuation.")] = 256,
    seed: Annotated[
        list[int] | None,
        typer.Option("--seed", help="Sampling seed (repeatable; default 0 and 1)."),
    ] = None,
    repeats: Annotated[int, _at_least(1, "Gate trials per author.")] = 1,
    workers: Annotated[int, _at_least(1, "Concurrent generation requests.")] = 12,
    engine_url: StartedEngineOpt = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the workspaces here; adapters already trained there are reused."),
    ] = None,
    out: ResultsOpt = None,
) -> None:
    """Does the gate pick the right voice? Two authors, two adapters, each author's yardstick."""
    run_benchmark(
        "gate_benchmark",
        steps=steps,
        epochs=epochs,
        chapter_words=chapter_words,
        train_chapters=train_chapters,
        held_out_chapters=held_out_chapters,
        prompts=prompts,
        new_tokens=new_tokens,
        seeds=tuple(seed or [0, 1]),
        repeats=repeats,
        workers=workers,
        engine_url=engine_url,
        work_dir=work_dir,
        out_dir=out,
    )


@app.command("reliability")
def reliability() -> None:
    """The reliability suite's table: faults injected, kill points, fuzz cases, races, and
    data lost / 5xx / unauthenticated engine requests (all must be 0)."""
    run_benchmark("reliability")


BudgetOpt = Annotated[float, _at_least(1, "Training time per author and recipe variant.")]
VariantOpt = Annotated[
    list[str] | None,
    typer.Option(help="Recipe variant to train (repeatable; see benchmarks/voice.py)."),
]


@app.command("voice")
def voice(
    budget_minutes: BudgetOpt = 60.0,
    variant: VariantOpt = None,
    engine: Annotated[bool, _switch("engine", "Generate and gate on the vLLM engine.")] = True,
    engine_url: StartedEngineOpt = None,
    prompts: Annotated[int, _at_least(1, "Held-out prompts scored per author.")] = 24,
    new_tokens: Annotated[int, _at_least(1, "Tokens generated per prompt.")] = 256,
    seeds: Annotated[int, _at_least(1, "Sampling seeds per prompt.")] = 2,
    best_of_prompts: Annotated[int, _at_least(1, "Prompts for the best-of-n measure.")] = 12,
    out: ResultsOpt = None,
) -> None:
    """Do the adapters write in the author's band? Base, matching, other-author and own-text
    style scores per author and recipe, with intervals, NLL, the gate and best-of-n."""
    run_benchmark(
        "voice",
        budget_minutes=budget_minutes,
        variants=tuple(variant or ("default",)),
        engine=engine,
        engine_url=engine_url,
        prompts=prompts,
        new_tokens=new_tokens,
        seeds=tuple(range(seeds)),
        best_of_prompts=best_of_prompts,
        out_dir=out,
    )


@app.command("voice-variants")
def voice_variants(
    budget_minutes: BudgetOpt = 10.0,
    variant: VariantOpt = None,
    prompts: Annotated[int, _at_least(1, "Held-out prompts scored per author.")] = 12,
    seeds: Annotated[int, _at_least(1, "Sampling seeds per prompt.")] = 1,
    engine_url: StartedEngineOpt = None,
    out: ResultsOpt = None,
) -> None:
    """Which recipe writes closest to the author in the same training time? The voice
    benchmark per recipe variant (default: every one) at one shorter budget, side by side
    (no best-of-n)."""
    run_benchmark(
        "voice_variants",
        budget_minutes=budget_minutes,
        variants=tuple(variant) if variant else None,
        prompts=prompts,
        seeds=tuple(range(seeds)),
        engine_url=engine_url,
        out_dir=out,
    )


@app.command("best-of")
def best_of(
    work_dir: Annotated[
        Path | None,
        typer.Option(
            help="The folder a `bench voice` run kept (it prints 'workspaces and adapters "
            "kept in ...'); default: the last saved voice run's.",
        ),
    ] = None,
    variant: Annotated[str, typer.Option(help="The recipe variant's folder in it.")] = "default",
    n: Annotated[int, _at_least(2, "Candidates per request.")] = 4,
    prompts: Annotated[int, _at_least(1, "Held-out prompts per author.")] = 12,
    new_tokens: Annotated[int, _at_least(1, "Tokens generated per candidate.")] = 256,
    engine_url: StartedEngineOpt = None,
    out: ResultsOpt = None,
) -> None:
    """Best-of-n alone on adapters the voice benchmark trained: its gain in style score and
    what it adds to latency, plain and best-of requests through the proxy."""
    run_benchmark(
        "best_of",
        work_dir=work_dir,
        variant=variant,
        best_of=n,
        best_of_prompts=prompts,
        new_tokens=new_tokens,
        engine_url=engine_url,
        out_dir=out,
    )
