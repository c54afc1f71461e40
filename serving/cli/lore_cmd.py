"""`inkwell lore`: index the story bible, search it, and explain what a request got."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from serving.foundation.errors import InkwellError

app = typer.Typer(no_args_is_help=True)

WorkspaceOption = Annotated[
    Path, typer.Option("--workspace", "-w", help="The book's workspace folder.")
]


def _shorten(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@app.command("index")
def index(
    workspace: WorkspaceOption = Path("."),
    chapters: Annotated[
        bool | None,
        typer.Option(
            "--chapters/--no-chapters",
            help="Also index chapters as story-so-far memory (default: store.index_chapters).",
        ),
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild", help="Build the index from scratch (the way back from a damaged one)."
        ),
    ] = False,
) -> None:
    """Ingest lore/ into the Chroma store (incremental: unchanged entries are not re-embedded).
    Exit code 1 when some file or entry was skipped (each is listed with its path and line)."""
    from rag import ingest, open_store
    from rag.rebuild import index_lock, recover
    from rag.rebuild import rebuild as rebuild_index
    from serving.cli.errors import user_errors
    from serving.foundation.workspace import Workspace

    with user_errors():
        ws = Workspace.load(workspace)
        lore_dir = ws.inside("lore")  # a lore/ symlinked out of the workspace is refused
        with_chapters = ws.config.store.index_chapters if chapters is None else chapters
        chapter_files = ws.chapter_files() if with_chapters else None
        if rebuild:
            report = rebuild_index(lore_dir, ws.chroma_dir, ws.config.store, chapter_files)
            location = str(ws.chroma_dir)
        else:
            with index_lock(ws.chroma_dir):  # a rebuild cannot swap the index out under it
                recover(ws.chroma_dir)
                store = open_store(ws.chroma_dir, ws.config.store)
                report = ingest(lore_dir, store, chapters=chapter_files)
            location = store.location
    for problem in report.errors:
        typer.secho(f"skipped: {problem}", err=True, fg=typer.colors.YELLOW)
    typer.echo(f"lore index at {location}: {report.summary()}")
    if report.errors:
        raise typer.Exit(1)


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    workspace: WorkspaceOption = Path("."),
    limit: Annotated[int, typer.Option(min=1, help="How many entries to show.")] = 5,
    mode: Annotated[
        str, typer.Option(help="hybrid (keywords + vectors), keyword or vector.")
    ] = "hybrid",
    chapter: Annotated[
        int | None,
        typer.Option(min=1, help="Hide entries whose first_chapter is later (spoiler guard)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """Show the entries that match a query, and why each one matched."""
    from rag import Retriever, open_store
    from serving.cli.errors import user_errors
    from serving.foundation.workspace import Workspace

    if mode not in ("hybrid", "keyword", "vector"):
        typer.secho("error: --mode must be hybrid, keyword or vector", err=True, fg="red")
        raise typer.Exit(2)
    chosen: Literal["hybrid", "keyword", "vector"] = mode  # type: ignore[assignment]
    with user_errors():
        ws = Workspace.load(workspace)
        store = open_store(ws.chroma_dir, ws.config.store)
        retriever = Retriever(store, ws.config.retrieval)
        if not retriever.snapshot.entries:
            raise InkwellError(
                f"the lore of {ws.root} is not indexed yet: run `inkwell lore index`"
            )
        hits = retriever.search(query, current_chapter=chapter, limit=limit, mode=chosen)
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in hits], indent=2))
        return
    if not hits:
        typer.echo("no matching lore")
        return
    for rank, hit in enumerate(hits, start=1):
        typer.secho(f"{rank}. {hit.name} [{hit.entry_id}] ({hit.category})", bold=True)
        typer.echo(f"   why: {hit.why}   score {hit.score:.2f}   {hit.source}")
        typer.echo(f"   {_shorten(hit.text)}")


@app.command("why")
def why(
    request_id: Annotated[str, typer.Argument(help="The X-Inkwell-Request-Id of a request.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """What lore the proxy injected for a past request, and why (from the trace log)."""
    from serving.cli.errors import user_errors
    from serving.foundation.workspace import Workspace
    from serving.proxy.trace import find_trace

    with user_errors():
        ws = Workspace.load(workspace)
        trace = find_trace(ws.traces_path, request_id)
        if trace is None:
            raise InkwellError(f"no request {request_id!r} in {ws.traces_path}")
    typer.echo(
        f"request {trace.get('request_id')} at {trace.get('ts')}: {trace.get('route')} "
        f"model {trace.get('model')} -> adapter {trace.get('adapter') or 'base'}, "
        f"status {trace.get('status')}"
    )
    typer.echo(f"retrieval {trace.get('retrieval_ms')} ms, upstream {trace.get('upstream_ms')} ms")
    lore = trace.get("lore") or []
    if trace.get("lore_enabled") is False:
        typer.echo("lore was switched off for this request")
        return
    if not lore:
        typer.echo("no lore was injected")
        return
    for item in lore:
        score = item.get("score")
        shown = f"   score {score:.2f}" if isinstance(score, int | float) else ""
        typer.echo(f"- {item.get('name')} [{item.get('id')}]: {item.get('why')}{shown}")
