"""`inkwell init`: create an author workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli.errors import user_errors
from serving.foundation.workspace import init_workspace


def init(
    path: Annotated[Path, typer.Argument(help="Folder of the new workspace (created if missing).")],
    demo: Annotated[
        bool, typer.Option("--demo", help="Fill it with the demo novella and its lore.")
    ] = False,
) -> None:
    """Create chapters/, lore/, .inkwell/ and inkwell.yaml."""
    with user_errors():
        ws = init_workspace(path, demo=demo)
    typer.echo(f"workspace ready: {ws.root} ({len(ws.chapter_files())} chapters)")
