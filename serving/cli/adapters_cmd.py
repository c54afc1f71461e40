"""`inkwell adapters list|show|load|unload|remove|rollback`: the registry and hot-loading."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from serving.cli.errors import user_errors
from serving.registry import hotload

app = typer.Typer(no_args_is_help=True)
T = TypeVar("T")

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="The book's workspace.")]
EngineUrlOpt = Annotated[
    str | None,
    typer.Option(help="Use this running engine (default: the one `inkwell engine start` runs)."),
]


def _on_engine(
    action: Callable[..., T], workspace: Path, engine_url: str | None, *args: str, required: bool
) -> tuple[T, str]:
    """`action(ws, client, *args)` with user errors as messages, and the engine's URL: the one
    way these commands reach the engine (client None when optional and not running)."""
    from serving.engine import EngineError, engine_client, resolve_engine_url
    from serving.foundation.workspace import Workspace

    with user_errors():
        ws = Workspace.load(workspace)
        url = resolve_engine_url(ws, engine_url)
        with engine_client(ws, url) as client:
            healthy = client.is_healthy()
            if required and not healthy:
                raise EngineError(
                    f"no engine answers at {url}; start one with `inkwell engine start` "
                    "or pass --engine-url"
                )
            return action(ws, client if healthy else None, *args), client.url


@app.command("list")
def list_adapters(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every registered adapter, its state and its latest scores."""
    with user_errors():
        from serving.foundation.workspace import Workspace

        records = hotload.registry_for(Workspace.load(workspace)).adapters()
    if not records:
        typer.echo("no adapters registered (train one, then `inkwell adapters load RUN`)")
    for record in records:
        style = record.scores.get("style")
        nll = record.scores.get("nll")
        figures = "" if style is None else f"  style {style:.1f}  nll {nll:.3f}"
        typer.echo(f"{record.state:9s} {record.name}{figures}")


@app.command()
def show(name: str, workspace: WorkspaceOpt = Path(".")) -> None:
    """One adapter's record and the live history, as JSON."""
    with user_errors():
        from serving.foundation.workspace import Workspace

        registry = hotload.registry_for(Workspace.load(workspace))
        record = registry.get(name)
        history = [e.model_dump() for e in registry.history() if e.name == name]
    typer.echo(json.dumps({**record.model_dump(), "live_history": history}, indent=2))


@app.command()
def load(name: str, workspace: WorkspaceOpt = Path("."), engine_url: EngineUrlOpt = None) -> None:
    """Hot-load a trained run into the engine and register it as a candidate."""
    record, url = _on_engine(hotload.load, workspace, engine_url, name, required=True)
    typer.echo(f"loaded {record.name} ({record.state}) into {url}")


@app.command()
def unload(name: str, workspace: WorkspaceOpt = Path("."), engine_url: EngineUrlOpt = None) -> None:
    """Take an adapter out of the engine (it stays registered)."""
    _on_engine(hotload.unload, workspace, engine_url, name, required=True)
    typer.echo(f"unloaded {name}")


@app.command()
def remove(name: str, workspace: WorkspaceOpt = Path("."), engine_url: EngineUrlOpt = None) -> None:
    """Forget an adapter (unloading it if an engine runs); its files stay on disk."""
    record, _ = _on_engine(hotload.remove, workspace, engine_url, name, required=False)
    typer.echo(f"removed {record.name} from the registry (files kept in {record.path})")


@app.command()
def rollback(workspace: WorkspaceOpt = Path("."), engine_url: EngineUrlOpt = None) -> None:
    """Make the previous live adapter live again (the base model if there was none)."""
    restored, _ = _on_engine(hotload.rollback, workspace, engine_url, required=False)
    typer.echo(f"live is now {restored.name if restored else 'the base model'}")
