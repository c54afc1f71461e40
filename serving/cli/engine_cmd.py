"""`inkwell engine start|stop|status`: the vLLM engine of a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli.errors import user_errors

app = typer.Typer(no_args_is_help=True)

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="The book's workspace.")]


@app.command()
def start(
    workspace: WorkspaceOpt = Path("."),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the engine.")] = 600.0,
    max_model_len: Annotated[
        int | None, typer.Option(help="Context length (default: engine.max_model_len).")
    ] = None,
) -> None:
    """Start vLLM for the workspace's base model (detached), wait until it serves, and load
    the live and candidate adapters again."""
    with user_errors():
        from serving.foundation.workspace import Workspace
        from serving.registry.hotload import start_with_adapters

        ws = Workspace.load(workspace)
        typer.echo(
            f"starting vLLM for {ws.config.engine.base_model} (log: .inkwell/logs/engine.log)"
        )
        state, problems = start_with_adapters(ws, timeout_s=timeout, max_model_len=max_model_len)
    typer.echo(
        f"engine ready at {state.url} on {state.device} in {state.ready_s:.0f} s "
        f"(pid {state.pid}, max LoRA rank {state.max_lora_rank})"
    )
    for problem in problems:
        typer.secho(f"warning: adapter not loaded: {problem}", err=True, fg=typer.colors.YELLOW)


@app.command()
def stop(workspace: WorkspaceOpt = Path(".")) -> None:
    """Stop the engine started for this workspace (SIGTERM, then SIGKILL)."""
    with user_errors():
        from serving.engine import stop_engine
        from serving.foundation.workspace import Workspace

        state = stop_engine(Workspace.load(workspace))
    typer.echo(f"engine stopped (pid {state.pid})" if state else "no engine was running")


@app.command()
def status(
    workspace: WorkspaceOpt = Path("."),
    engine_url: Annotated[str | None, typer.Option(help="Ask this engine instead.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Is the engine up, and which adapters does it serve? Exit code 1 when it is not healthy."""
    with user_errors():
        from serving.engine import engine_status
        from serving.foundation.workspace import Workspace

        result = engine_status(Workspace.load(workspace), engine_url)
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
    else:
        started = (
            f"started by `inkwell engine start`, pid {result.state.pid}"
            if result.state
            else "not started by inkwell"
        )
        typer.echo(f"engine {result.url}: {'healthy' if result.healthy else 'DOWN'} ({started})")
        for name, path in sorted(result.adapters.items()):
            typer.echo(f"  adapter {name}: {path}")
    if not result.healthy:
        raise typer.Exit(1)
