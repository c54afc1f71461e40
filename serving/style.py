"""The author profile of a workspace: built from its training chapters, calibrated against
other writers, and judged (optionally) by an LLM configured in style.judge."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from serving.workspace import Workspace


def profile_path(ws: Workspace) -> Path:
    return ws.state_dir / "style" / "profile.json"


def reference_dir(ws: Workspace, reference: Path | None = None) -> Path:
    """The impostor corpus (DIR/<author>/*.txt): --reference, else style.reference_corpus."""
    if reference is not None:
        return reference
    configured = ws.config.style.reference_corpus
    if not configured:
        raise ValueError(
            "calibration needs other writers' prose: set style.reference_corpus in "
            f"{ws.root / 'inkwell.yaml'} or pass --reference DIR (DIR/<author>/*.txt)"
        )
    path = Path(configured).expanduser()
    return path if path.is_absolute() else ws.root / path


@dataclass(frozen=True)
class BuiltProfile:
    profile: object  # stylometry.AuthorProfile (imported lazily: spaCy is slow to load)
    path: Path
    held_out_scores: list[tuple[str, object]]  # (chapter file name, StyleReport)


def build_workspace_profile(
    ws: Workspace, reference: Path | None = None, mode: str | None = None
) -> BuiltProfile:
    """Profile the training chapters, calibrate on held-out chapters vs impostors, save it."""
    from stylometry import build_profile, calibrate, load_corpus, read_text, score

    training = [read_text(p) for p in ws.training_chapters()]
    held_paths = ws.held_out_chapters()
    held = [read_text(p) for p in held_paths]
    if not training:
        raise ValueError(f"{ws.chapters_dir}: no training chapters to build a profile from")
    impostors = [
        text
        for books in load_corpus(reference_dir(ws, reference)).values()
        for text in books.values()
    ]
    built = build_profile(training, ws.root.name, mode or ws.config.style.profile, progress=True)
    calibrated = calibrate(built, training + held, impostors, progress=True)
    path = calibrated.save(profile_path(ws))
    scores = [(p.name, score(t, calibrated)) for p, t in zip(held_paths, held, strict=True)]
    return BuiltProfile(profile=calibrated, path=path, held_out_scores=scores)


def workspace_judge(
    ws: Workspace,
    url: str | None = None,
    model: str | None = None,
    key_env: str | None = None,
):
    """The LLM judge from arguments or style.judge, or None when none is configured. Reference
    excerpts come from the author's chapters, so the judge compares against the real voice."""
    configured = ws.config.style.judge
    url = url or configured.base_url
    if not url:
        return None
    model = model or configured.model
    if not model:
        raise ValueError("an LLM judge needs a model name (style.judge.model or --judge-model)")
    from stylometry import read_text
    from stylometry.judge import Judge

    chapters = ws.training_chapters()[:3] + ws.held_out_chapters()[:1]
    if len(chapters) < 2:
        raise ValueError("the judge needs at least two chapters for reference excerpts")
    refs = [read_text(p)[:2500] for p in chapters]
    return Judge(url, model, refs, api_key=os.environ.get(key_env or configured.api_key_env))
