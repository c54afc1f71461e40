"""`inkwell evaluate RUN` and `inkwell gate RUN`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli.errors import user_errors

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="The book's workspace.")]
EngineUrlOpt = Annotated[
    str | None,
    typer.Option(help="Use this running engine (default: the one `inkwell engine start` runs)."),
]


def evaluate(
    run: Annotated[str, typer.Argument(help="The training run (folder under .inkwell/adapters).")],
    workspace: WorkspaceOpt = Path("."),
    engine_url: EngineUrlOpt = None,
    prompts: Annotated[int | None, typer.Option(help="Held-out prompts (gate.prompts).")] = None,
    new_tokens: Annotated[int | None, typer.Option(help="Tokens per continuation.")] = None,
    seeds: Annotated[
        list[int] | None, typer.Option("--seed", help="Sampling seed; repeat for several.")
    ] = None,
) -> None:
    """Hot-load RUN as a candidate and score it against base and the live adapter on the
    held-out chapters; the report lands in the run folder."""
    with user_errors():
        run_evaluation(workspace, run, engine_url, prompts=prompts, new_tokens=new_tokens,
                       seeds=seeds)  # fmt: skip


def gate(
    run: Annotated[str, typer.Argument(help="An evaluated run.")],
    workspace: WorkspaceOpt = Path("."),
    engine_url: EngineUrlOpt = None,
) -> None:
    """Promote RUN to live if its evaluation beats live and base by gate.margin; exit code 1
    when it is not promoted."""
    with user_errors():
        promoted = run_gate(workspace, run, engine_url)
    if not promoted:
        raise typer.Exit(1)


def run_evaluation(workspace: Path, run: str, engine_url: str | None, **overrides) -> None:
    """Shared by `inkwell evaluate` and `inkwell train --evaluate`."""
    from serving.engine import EngineError, engine_client, resolve_engine_url
    from serving.evaluation import EvalSettings, evaluate_run
    from serving.evaluation.results import EVALUATION_DIR
    from serving.evaluation.yardstick import workspace_judge
    from serving.foundation.workspace import Workspace

    ws = Workspace.load(workspace)
    settings = EvalSettings.from_gate(ws.config.gate, **overrides)
    url = resolve_engine_url(ws, engine_url)
    with engine_client(ws, url) as client:
        if not client.is_healthy():
            raise EngineError(f"no engine answers at {url}; run `inkwell engine start` first")
        result = evaluate_run(ws, run, client, settings, judge=workspace_judge(ws), say=typer.echo)
    for model in result.models.values():
        typer.echo(
            f"{model.role:9s} {model.name:24s} style {model.style.mean:5.1f} "
            f"[{model.style.low:.1f}, {model.style.high:.1f}]  NLL {model.nll:.3f}"
        )
    typer.echo(f"author's own text        style {result.reference_style:5.1f}")
    typer.echo(f"report: {ws.adapters_dir / run / EVALUATION_DIR / 'evaluation.md'}")


def run_gate(workspace: Path, run: str, engine_url: str | None) -> bool:
    """Shared by `inkwell gate` and `inkwell train --gate`; True when promoted."""
    from serving.engine import engine_client
    from serving.evaluation import gate_run
    from serving.foundation.workspace import Workspace

    ws = Workspace.load(workspace)
    with engine_client(ws, engine_url) as client:
        decision = gate_run(ws, run, client if client.is_healthy() else None)
    typer.echo(decision.summary())
    return decision.promote
