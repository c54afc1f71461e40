"""The style yardsticks of a workspace: the author profile built from its training chapters
(`inkwell style profile`), the held-out yardstick evaluation scores against, both calibrated
against other writers, and the optional LLM judge configured in style.judge."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from serving.foundation.errors import InkwellError
from serving.foundation.workspace import Workspace

# Enough of each impostor text to calibrate on, little enough to keep it quick.
IMPOSTOR_WORDS = 12_000


class StyleSetupError(InkwellError):
    """A workspace that cannot build a style yardstick (no chapters, no reference corpus)."""


def reference_dir(ws: Workspace, reference: Path | None = None) -> Path:
    """The impostor corpus (DIR/<author>/*.txt): --reference, else style.reference_corpus."""
    if reference is not None:
        return reference
    configured = ws.config.style.reference_corpus
    if not configured:
        raise StyleSetupError(
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
        raise StyleSetupError(f"{ws.chapters_dir}: no training chapters to build a profile from")
    impostors = [
        text
        for books in load_corpus(reference_dir(ws, reference)).values()
        for text in books.values()
    ]
    built = build_profile(training, ws.root.name, mode or ws.config.style.profile, progress=True)
    calibrated = calibrate(built, training + held, impostors, progress=True)
    path = calibrated.save(ws.style_profile_path)
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
        raise StyleSetupError(
            "an LLM judge needs a model name (style.judge.model or --judge-model)"
        )
    from stylometry import read_text
    from stylometry.judge import Judge

    chapters = ws.training_chapters()[:3] + ws.held_out_chapters()[:1]
    if len(chapters) < 2:
        raise StyleSetupError("the judge needs at least two chapters for reference excerpts")
    refs = [read_text(p)[:2500] for p in chapters]
    return Judge(url, model, refs, api_key=os.environ.get(key_env or configured.api_key_env))


def yardstick_profile(
    ws: Workspace, texts: list[str], base_texts: Sequence[str] = (), progress: bool = True
):
    """The author profile scores are measured against: the held-out chapters, calibrated
    against other writers (style.reference_corpus) and, when given, the base model's prose
    (base_impostors.py). Cached under .inkwell/style/ by the hash of everything it is built
    from, since calibration takes a while."""
    import hashlib

    import stylometry

    impostors = reference_impostors(ws)
    impostors += [(f"base model {i + 1}", text) for i, text in enumerate(base_texts)]
    version = stylometry.AuthorProfile.model_fields["format_version"].default  # new format: new key
    digest = hashlib.sha256(f"{ws.config.style.profile}:{version}".encode())
    for text in [*texts, "\0impostors\0", *(f"{w}\0{t}" for w, t in impostors)]:
        digest.update(hashlib.sha256(text.encode()).digest())
    cache = ws.state_dir / "style" / f"yardstick-{digest.hexdigest()[:16]}.json"
    if cache.is_file():
        return stylometry.AuthorProfile.load(cache)
    profile = stylometry.build_profile(
        texts, name=f"{ws.root.name} (held out)", mode=ws.config.style.profile
    )
    profile = stylometry.calibrate(
        profile,
        texts,
        [text for _, text in impostors],
        progress=progress,
        impostor_groups=[writer for writer, _ in impostors],
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    profile.save(cache)
    return profile


def reference_impostors(ws: Workspace) -> list[tuple[str, str]]:
    """(writer, book) of the workspace's reference corpus (style.reference_corpus,
    DIR/<author>/*.txt), each book cut to its first IMPOSTOR_WORDS words."""
    import stylometry

    corpus = stylometry.load_corpus(reference_dir(ws))
    return [
        (writer, " ".join(text.split(" ")[:IMPOSTOR_WORDS]))
        for writer, books in corpus.items()
        for text in books.values()
    ]


@dataclass(frozen=True)
class Score:
    overall: float
    parts: dict[str, float]


def score_text(text: str, prompt: str, profile, judge) -> Score:
    """The style score of what a model wrote after `prompt`: sentences it copied from the
    prompt do not count (stylometry.copying), and one that writes nothing measurable (empty,
    no words, only copies) scores 0 instead of stopping the evaluation."""
    import stylometry

    try:
        report = stylometry.score(stylometry.without_copied(text, prompt), profile, judge=judge)
    except stylometry.StyleInputError:
        return Score(overall=0.0, parts={})
    return Score(overall=report.overall, parts=report.parts)
