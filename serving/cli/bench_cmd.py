"""`inkwell bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("report")
def report(
    fresh_hours: Annotated[
        float, typer.Option(help="Reuse saved results younger than this many hours.")
    ] = 24.0,
    run: Annotated[
        bool, typer.Option("--run/--no-run", help="Run benchmarks without a fresh result.")
    ] = True,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Just this benchmark (repeatable).")
    ] = None,
    timeout_min: Annotated[
        float, typer.Option(help="Time limit for each benchmark run, in minutes.")
    ] = 30.0,
    out: Annotated[
        Path | None, typer.Option(help="Reports folder (default: benchmarks/reports).")
    ] = None,
) -> None:
    """Run or reuse every benchmark; write reports/<date>/index.html and README.md."""
    from benchmarks.report import REPORTS_DIR, build_report
    from serving.cli.errors import user_errors

    with user_errors():
        out_dir = build_report(
            reports_dir=out or REPORTS_DIR,
            fresh_hours=fresh_hours,
            allow_run=run,
            only=only or (),
            timeout_s=timeout_min * 60,
        )
    typer.echo(f"report: {out_dir / 'index.html'}")
    typer.echo(f"        {out_dir / 'README.md'}")
