"""`inkwell config`: the defaults every workspace starts from, written from the schema."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("defaults")
def defaults(
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite configs/inkwell.yaml from the schema.")
    ] = False,
) -> None:
    """Print the defaults (values and descriptions) as YAML, or write configs/inkwell.yaml."""
    from serving.foundation.config_defaults import render_defaults, write_defaults

    if write:
        typer.echo(f"wrote {write_defaults()}")
    else:
        typer.echo(render_defaults(), nl=False)
