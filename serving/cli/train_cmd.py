"""`inkwell prepare | train | merge`: chapters → training data → adapter → merged model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serving.cli.errors import user_errors

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="The book's workspace.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Training config, e.g. configs/qlora_style_transfer.yaml (default: the values of "
        "configs/lora_style_transfer.yaml).",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key, e.g. --set training.learning_rate=3e-4."),
]


def prepare(
    workspace: WorkspaceOpt = Path("."),
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Cut the chapters (minus the held-out ones) into chat-format train/validation data
    under .inkwell/data/, with a data card."""
    with user_errors():
        from finetune.base_model import ensure_base_model
        from finetune.config import load_train_config
        from finetune.prepare import prepare_dataset
        from finetune.train import BookPaths
        from finetune.workspace_base import check_training_base
        from serving.foundation.workspace import Workspace

        ws = Workspace.load(workspace)
        cfg = load_train_config(config, set_ or [])
        check_training_base(ws, cfg.base_model)
        book = BookPaths.of(ws)
        card = prepare_dataset(
            book.training_chapters,
            book.held_out_chapters,
            book.data_dir,
            ensure_base_model(cfg.base_model),
            params=cfg.data,
            author=book.author,
            base_model=cfg.base_model,
        )
    for problem in card.skipped:
        typer.secho(f"warning: skipped {problem.path}: {problem.problem}", err=True, fg="yellow")
    tokens = card.assistant_tokens
    typer.echo(
        f"{card.train_examples} training and {card.validation_examples} validation examples "
        f"from {len(card.training_chapters)} chapters ({len(card.held_out_chapters)} held out: "
        f"{', '.join(card.held_out_chapters) or 'none'}); passages of {tokens.min}-{tokens.max} "
        f"tokens (median {tokens.median:.0f}); {card.duplicates_removed} duplicates removed; "
        f"data hash {card.data_hash[:12]} → {ws.data_dir}"
    )


def train(
    workspace: WorkspaceOpt = Path("."),
    config: ConfigOpt = None,
    set_: SetOpt = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after N optimizer steps.")
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Run (adapter) name; default: method + time.")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted run from its last checkpoint."),
    ] = False,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Then evaluate it (`inkwell evaluate`).")
    ] = False,
    gate: Annotated[
        bool, typer.Option("--gate", help="Then gate it (`inkwell gate`); implies --evaluate.")
    ] = False,
    engine_url: Annotated[
        str | None, typer.Option(help="Engine for --evaluate/--gate (default: the started one).")
    ] = None,
) -> None:
    """Train a LoRA adapter (QLoRA on CUDA when the config says so) into
    .inkwell/adapters/<run>/; prepares the data first when it is missing or out of date."""
    with user_errors():
        from finetune.config import load_train_config
        from finetune.train import BookPaths
        from finetune.train import train as train_adapter
        from finetune.workspace_base import check_training_base
        from serving.foundation.names import validate_name
        from serving.foundation.workspace import Workspace

        ws = Workspace.load(workspace)
        if run is not None:
            validate_name(run, "run name")
        cfg = load_train_config(config, set_ or [], max_steps=max_steps)
        check_training_base(ws, cfg.base_model)
        run_dir = train_adapter(cfg, BookPaths.of(ws), run_name=run, resume=resume, say=typer.echo)
    typer.echo(f"adapter ready: {run_dir.name} ({run_dir})")
    if evaluate or gate:
        from serving.cli.evaluate_cmd import run_evaluation, run_gate

        with user_errors():
            run_evaluation(workspace, run_dir.name, engine_url)
            if gate and not run_gate(workspace, run_dir.name, engine_url):
                raise typer.Exit(1)


def merge(
    run: Annotated[str, typer.Argument(help="The adapter run to merge into its base model.")],
    out: Annotated[Path, typer.Option("--out", help="Folder of the merged model (new).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Write the base model with the adapter merged in, as a standalone HF model folder."""
    with user_errors():
        from finetune.merge import merge as merge_adapter
        from serving.foundation.names import validate_name
        from serving.foundation.workspace import Workspace

        ws = Workspace.load(workspace)
        validate_name(run, "run name")
        out_dir = merge_adapter(ws.adapters_dir / run, out)
    typer.echo(f"merged model written to {out_dir}")
