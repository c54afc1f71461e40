"""`inkwell up`: lore, engine and proxy together (what serve_rag_proxy.sh runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli.errors import user_errors


def up(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="The book's workspace.")
    ] = Path("."),
    engine_url: Annotated[
        str | None, typer.Option(help="Use this running vLLM instead of starting one.")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Proxy port (default: server.port).")] = None,
    host: Annotated[str | None, typer.Option(help="Proxy interface (default: 127.0.0.1).")] = None,
) -> None:
    """Index the lore, start the engine (unless --engine-url), serve the proxy until Ctrl-C."""
    with user_errors():
        from serving.foundation.workspace import Workspace
        from serving.stack import StackOptions, run_stack

        run_stack(
            Workspace.load(workspace),
            StackOptions(engine_url=engine_url, host=host, port=port),
            echo=typer.echo,
        )
