"""`inkwell continue`: point Continue.dev (VS Code and the `cn` CLI) at this workspace's proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli.errors import user_errors

app = typer.Typer(no_args_is_help=True)


@app.command("config")
def config(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="The book's workspace.")
    ] = Path("."),
    print_only: Annotated[
        bool, typer.Option("--print", help="Print our config.yaml instead of writing a file.")
    ] = False,
    path: Annotated[
        Path, typer.Option(help="Continue config to create or merge into (backed up first).")
    ] = Path("~/.continue/config.yaml"),
    inline_key: Annotated[
        bool,
        typer.Option(
            "--inline-key",
            help="Write the API key's value itself instead of a ${{ secrets.NAME }} reference.",
        ),
    ] = False,
) -> None:
    """Write Continue's config.yaml: the live and base models, autocomplete, and @lore."""
    from serving.continue_config import KeyChoice, build_continue_config, install_config
    from serving.continue_config.merge import dump
    from serving.foundation.workspace import Workspace

    with user_errors():
        ws = Workspace.load(workspace)
        key = KeyChoice.from_environment(ws.config.server.api_key_env, inline=inline_key)
        ours = build_continue_config(ws, key)
        if print_only:
            typer.echo(dump(ours), nl=False)
            return
        result = install_config(ours, path)
    if not result.changed:
        typer.echo(f"{result.path} is already up to date")
        return
    typer.echo(f"wrote {result.path}")
    if result.backup:
        typer.echo(f"previous version saved as {result.backup}")
    if key.value and not key.inline:
        typer.echo(
            f"the API key is referenced as ${{{{ secrets.{key.env_var} }}}}: VS Code reads it "
            f"from ~/.continue/.env (a line {key.env_var}=...), `cn` from the environment"
        )
