"""`inkwell style`: build and calibrate the author profile, score texts, attribute authors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True)

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="The book's workspace (default: here).")
]


@app.command("profile")
def profile(
    workspace: WorkspaceOpt = Path("."),
    reference: Annotated[
        Path | None,
        typer.Option(help="Impostor corpus DIR/<author>/*.txt (default: style.reference_corpus)."),
    ] = None,
    mode: Annotated[str | None, typer.Option(help="fast or full (default: style.profile).")] = None,
) -> None:
    """Build the author profile from the training chapters, calibrate it (held-out chapters
    vs other writers) and save it to .inkwell/style/profile.json."""
    from serving.cli.errors import user_errors
    from serving.evaluation.yardstick import build_workspace_profile
    from serving.foundation.workspace import Workspace

    with user_errors():
        built = build_workspace_profile(Workspace.load(workspace), reference, mode)
    calibrated, path, held_scores = built.profile, built.path, built.held_out_scores
    cal = calibrated.calibration
    typer.echo(
        f"profile: {path} ({calibrated.n_words:,} words, {calibrated.n_texts} chapters, "
        f"data {calibrated.data_hash[:12]})"
    )
    typer.echo("calibration (author chunks vs impostor chunks):")
    for lv in cal.levels:
        typer.echo(
            f"  ~{lv.words:>5} words: AUC {lv.auc:.3f}  threshold {lv.threshold:5.1f}  "
            f"author median {lv.author_median:5.1f}  impostor median "
            f"{lv.impostor_median:5.1f}  ({lv.evaluated_on})"
        )
    for name, report in held_scores:
        typer.echo(f"held-out {name}: {report.overall:.1f} — {report.explanation}")


@app.command("score")
def score_cmd(
    files: Annotated[list[Path], typer.Argument(help="Text files to score.")],
    workspace: WorkspaceOpt = Path("."),
    profile_file: Annotated[
        Path | None, typer.Option("--profile", help="Profile JSON (default: the workspace's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    judge_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible base URL of an LLM judge (optional).")
    ] = None,
    judge_model: Annotated[str | None, typer.Option(help="The judge's model name.")] = None,
    judge_key_env: Annotated[
        str | None,
        typer.Option(help="Environment variable holding the judge's API key (style.judge)."),
    ] = None,
) -> None:
    """Score texts 0-100 against the author profile, with the per-part breakdown."""
    from serving.cli.errors import user_errors
    from serving.evaluation.yardstick import workspace_judge
    from serving.foundation.workspace import Workspace
    from stylometry import AuthorProfile, read_text, score

    with user_errors():
        ws = Workspace.load(workspace) if profile_file is None or judge_url else None
        prof = AuthorProfile.load(profile_file or ws.style_profile_path)
        judge = workspace_judge(ws, judge_url, judge_model, judge_key_env) if ws else None
        reports = [(f, score(read_text(f), prof, judge=judge)) for f in files]
    if as_json:
        typer.echo(json.dumps([{"file": str(f), **r.to_dict()} for f, r in reports], indent=2))
        return
    parts = list(reports[0][1].parts)
    typer.echo(f"{'file':30s} {'score':>6s}  " + "  ".join(f"{p[:10]:>10s}" for p in parts))
    for f, r in reports:
        typer.echo(
            f"{str(f)[-30:]:30s} {r.overall:6.1f}  "
            + "  ".join(f"{r.parts.get(p, float('nan')):10.1f}" for p in parts)
        )
    for f, r in reports:
        typer.echo(f"{f}: {r.explanation}")
        for w in r.warnings:
            typer.echo(f"  warning: {w}")


@app.command("attribute")
def attribute_cmd(
    files: Annotated[list[Path], typer.Argument(help="Text files to attribute.")],
    corpus: Annotated[Path, typer.Option(help="Candidate authors: DIR/<author>/*.txt.")],
    mode: Annotated[str, typer.Option(help="fast or full.")] = "fast",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which author of the corpus wrote each file (profiles cached by content hash)."""
    from serving.cli.errors import user_errors
    from stylometry import read_text
    from stylometry.attribution import attribute, corpus_profiles

    with user_errors():
        texts = [read_text(f) for f in files]
        profiles = corpus_profiles(corpus, mode, progress=not as_json)  # type: ignore[arg-type]
        results = attribute(texts, profiles)
    rows = [{"file": str(f), **r} for f, r in zip(files, results, strict=True)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        top = sorted(row["scores"].items(), key=lambda kv: -kv[1])[:3]
        typer.echo(
            f"{row['file']}: {row['author']}  (" + ", ".join(f"{a} {s:.1f}" for a, s in top) + ")"
        )
