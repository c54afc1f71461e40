"""`inkwell init`: create an author workspace."""

from __future__ import annotations

from pathlib import Path

import typer

from serving.cli.errors import user_errors
from serving.workspace import init_workspace


def init(
    path: Path = typer.Argument(..., help="Folder of the new workspace (created if missing)."),
    demo: bool = typer.Option(False, "--demo", help="Fill it with the demo novella and its lore."),
) -> None:
    """Create chapters/, lore/, .inkwell/ and inkwell.yaml."""
    with user_errors():
        ws = init_workspace(path, demo=demo)
    chapters = len(ws.chapter_files())
    typer.echo(f"workspace ready: {ws.root} ({chapters} chapters)")
