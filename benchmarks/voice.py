"""The voice (`inkwell bench voice`): does the default recipe write in the author's own band?

For each author (Austen and Twain by default, one book each from ../shared/corpora/dev, cut
into chapters, its last chapters held out), an adapter is trained with the shipped config for
this device (`configs/lora_style_transfer.yaml`, its cpu block without CUDA) within a time
budget; then, on one engine, each author's held-out yardstick scores generations of base, the
matching adapter and the other author's adapter next to the author's own held-out text, with
bootstrap intervals and held-out NLL, the gate decides (the other voice live), and best-of-n
is measured through the proxy. Every variant tried (`--set` overrides on the recipe) is a row,
so the choice of default is visible. `engine=False` runs the training and scoring parts only
(on a machine where vLLM cannot start). Training speed against the old default is
`inkwell bench train` (benchmarks/train_throughput.py).
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks import gate_benchmark as gate
from benchmarks import voice_best_of
from benchmarks.harness.errors import BenchmarkInputError
from benchmarks.voice_page import markdown, plots, summarise

NAME = "voice"
TITLE = "The voice: adapters on each author's held-out yardstick"
TRAIN_CONFIG = gate.REPO / "configs" / "lora_style_transfer.yaml"
# label -> `--set` overrides on the recipe; "default" is the shipped recipe itself.
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "r64 a128": ["lora.r=64", "lora.alpha=128"],
    "lr 1e-3": ["training.learning_rate=1e-3"],
    "len 512": ["training.max_length=512", "data.chunk_max_tokens=320"],
}


def run(
    corpus: str | Path = gate.DEFAULT_CORPUS,
    authors: tuple[str, str] = ("austen", "twain"),
    budget_minutes: float = 60.0,
    variants: Sequence[str] = ("default",),
    chapter_words: int = 1500,
    train_chapters: int | None = None,
    held_out_chapters: int = 3,
    impostor_authors: int = 3,
    prompts: int = 24,
    new_tokens: int = 256,
    seeds: tuple[int, ...] = (0, 1),
    best_of: int = 4,
    best_of_prompts: int = 12,
    workers: int = 4,
    engine: bool = True,
    engine_url: str | None = None,
    work_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    name: str = NAME,
    title: str = TITLE,
) -> Path:
    """Run the benchmark and write <name>.{json,md} + plots; return the folder.
    `train_chapters` None means every chapter of the book that is not held out; `best_of` 0
    skips best-of-n (benchmarks/voice_variants.py compares recipes without it)."""
    params = {
        k: v for k, v in locals().items() if k not in ("out_dir", "progress", "name", "title")
    }
    params["corpus"] = str(corpus)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise BenchmarkInputError(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    work = Path(work_dir or tempfile.mkdtemp(prefix="inkwell-voice-bench-"))
    params["work_dir"] = str(work)  # where the adapters are kept (`inkwell bench best-of`)
    started = time.monotonic()
    results = {
        label: run_variant(work / slug(label), Path(corpus), VARIANTS[label], params, progress)
        for label in variants
    }
    figures = summarise(results, params)
    page = functools.partial(markdown, title=title)
    out = gate.save_and_print(name, figures, started, out_dir, page, plots)
    print(f"workspaces and adapters kept in {work}")
    return out


def run_variant(
    work: Path, corpus: Path, overrides: list[str], params: dict, progress: bool
) -> dict[str, Any]:
    """Both authors' workspaces and adapters for one recipe variant, then the measurements."""
    authors = params["authors"]
    workspaces = {author: author_workspace(work, corpus, author, params) for author in authors}
    training = {
        author: train_voice(ws, author, overrides, params["budget_minutes"], progress)
        for author, ws in workspaces.items()
    }
    gate.share_adapters(workspaces)
    scoring = {author: profile_and_score(ws) for author, ws in workspaces.items()}
    result: dict[str, Any] = {"overrides": overrides, "training": training, "scoring": scoring}
    if params["engine"]:
        result.update(engine_phase(workspaces, params, progress))
    return result


def author_workspace(work: Path, corpus: Path, author: str, params: dict):
    """The author's first book as chapters of `chapter_words`, the last ones held out."""
    held = params["held_out_chapters"]
    n_train = params["train_chapters"]
    if n_train is None:  # every whole chapter the book holds (cut as the workspace cuts it)
        book = gate.first_book(corpus, author)
        whole = gate.cut_chapters(book.read_text(encoding="utf-8"), params["chapter_words"])
        n_train = max(1, len(whole) - held)
    return gate.make_workspace(
        work, corpus, author, params["authors"], params["chapter_words"], n_train, held,
        params["impostor_authors"],
    )  # fmt: skip


def train_voice(
    ws, author: str, overrides: list[str], budget_minutes: float, progress: bool
) -> dict[str, Any]:
    """The adapter `<author>-lora` from the shipped config within the budget: as many steps as
    this machine's speed fits in it (so the schedule ends), cut at the budget regardless."""
    from finetune.base_model import ensure_base_model
    from finetune.config import load_train_config
    from finetune.device import plan_device
    from finetune.manifest import AdapterManifest
    from finetune.progress import estimate
    from finetune.train import BookPaths, ensure_dataset, train

    run_dir = ws.adapters_dir / f"{author}-lora"
    reused = (run_dir / "manifest.json").is_file()  # kept from an earlier run in this work dir
    if not reused:
        unbounded = load_train_config(TRAIN_CONFIG, overrides)
        book = BookPaths.of(ws, author)
        base = ensure_base_model(unbounded.base_model)
        card = ensure_dataset(unbounded, book, base, print)
        plan = plan_device(unbounded)
        expected = estimate(unbounded, card, plan.device, plan.threads, base)
        steps = None
        if expected.seconds and expected.seconds > budget_minutes * 60:
            steps = max(1, int(expected.steps * budget_minutes * 60 / expected.seconds))
        sets = [*overrides, f"training.max_minutes={budget_minutes}"]
        config = load_train_config(TRAIN_CONFIG, sets, max_steps=steps)
        train(config, book, run_name=run_dir.name, progress=progress, say=print)
    manifest = AdapterManifest.load(run_dir)
    return {
        **gate.training_summary(manifest, reused=reused),
        "tokens_per_s": manifest.tokens_per_s,
        "train_examples": manifest.data_card.get("train_examples"),
        "train_loss": [p.model_dump() for p in manifest.train_loss],
        "eval_loss": [p.model_dump() for p in manifest.eval_loss],
    }


def profile_and_score(ws) -> dict[str, Any]:
    """The book's style profile (what best-of scores by; `inkwell style profile`) and what
    scoring 4 x 300-word candidates costs with it."""
    from serving.evaluation.yardstick import build_workspace_profile
    from stylometry import read_text

    started = time.monotonic()
    if not ws.style_profile_path.is_file():
        build_workspace_profile(ws)
    held = [read_text(p) for p in ws.held_out_chapters()]
    return {
        "profile_s": round(time.monotonic() - started, 1),
        "scoring_4x300": voice_best_of.scoring_overhead(ws, held),
    }


def engine_phase(workspaces: dict, params: dict, progress: bool) -> dict[str, Any]:
    """On one engine: per author the gate trial (base / matching / other / own text on the
    author's yardstick, the gate with the other voice live), then (unless `best_of` is 0)
    best-of-n of the matching adapter through the proxy."""
    from serving.engine import engine_client

    authors = list(workspaces)
    trials, best = [], {}
    with (
        voice_engine(workspaces, params["engine_url"]) as (first, url),
        engine_client(first, url) as client,
    ):
        for author, ws in workspaces.items():
            other = next(a for a in authors if a != author)
            settings = eval_settings(ws, params)
            trials.append(gate.trial(client, ws, author, other, settings, settings.seeds, progress))
            if params["best_of"]:
                best[author] = voice_best_of.best_of_for(ws, author, first, url, settings, params)
    return {"trials": trials, "best_of": best}


@contextlib.contextmanager
def voice_engine(workspaces: dict, engine_url: str | None) -> Iterator[tuple[Any, str]]:
    """The engine the authors share (started for the first author's workspace, with the
    adapters its registry holds), with that workspace and the engine's URL."""
    from benchmarks.harness.engines import engine_for
    from benchmarks.harness.processes import free_port
    from benchmarks.harness.workspaces import set_options
    from serving.foundation.workspace import Workspace

    first = next(iter(workspaces.values()))
    set_options(first.root, {"engine": {"port": free_port()}})
    first = Workspace.load(first.root)
    with engine_for(first, engine_url, timeout_s=900, max_model_len=4096) as url:
        yield first, url


def eval_settings(ws: Any, params: dict) -> Any:
    """The gate's evaluation settings with this benchmark's prompts, tokens and seeds."""
    from serving.evaluation import EvalSettings

    return EvalSettings.from_gate(
        ws.config.gate, prompts=params["prompts"], new_tokens=params["new_tokens"],
        workers=params["workers"], seeds=list(params["seeds"]),
    )  # fmt: skip


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).strip("-")
