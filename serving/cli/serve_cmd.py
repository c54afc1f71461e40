"""`inkwell serve`: the RAG proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli.errors import user_errors


def serve(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="The book's workspace.")
    ] = Path("."),
    engine_url: Annotated[
        str | None,
        typer.Option(
            help="The engine's OpenAI base URL (default: server.engine_url, "
            "http://127.0.0.1:8000/v1)."
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: server.port, 8001).")] = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default: server.host, 127.0.0.1).")
    ] = None,
) -> None:
    """Serve the OpenAI-compatible proxy that injects the book's lore into every request."""
    with user_errors():
        from serving.foundation.workspace import Workspace
        from serving.proxy.app import run

        ws = Workspace.load(workspace)
        overrides = {"engine_url": engine_url, "port": port, "host": host}
        settings = ws.config.server.model_copy(
            update={k: v for k, v in overrides.items() if v is not None}
        )
        typer.echo(
            f"inkwell proxy for {ws.root} on http://{settings.host}:{settings.port}/v1 "
            f"-> engine {settings.engine_url}"
        )
        run(ws, settings)
