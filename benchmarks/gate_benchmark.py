"""Does the gate pick the right voice?

Two workspaces from two authors of the reference corpus (Austen and Twain by default), one
LoRA adapter trained on each, both evaluated on each author's held-out yardstick: the style
score and held-out NLL of base, adapter A and adapter B per author (a 2x3 table and a plot),
how often the gate promotes the matching adapter over the other author's live adapter across
repeats and seeds, the hot-load time, and tokens/s with and without an adapter.

Everything is a parameter, because the answer depends on how much is trained and measured.
The defaults are the recipe that separated Austen from Twain on a 2-core CPU in about 100 min
(2 epochs on 6 chapters of 1,500 words, 24 prompts x 2 seeds x 256 tokens per author); a tiny
run (`steps=3, prompts=3, new_tokens=48`) shows the machinery in minutes but cannot separate
voices: three steps do not change how a model writes.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.harness.engines import engine_for
from benchmarks.harness.errors import BenchmarkInputError
from benchmarks.harness.processes import free_port
from benchmarks.harness.results import write_results
from benchmarks.harness.workspaces import set_options
from serving.foundation.workspace import DEV_REFERENCE_CORPUS

NAME = "gate_benchmark"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = DEV_REFERENCE_CORPUS
TRAIN_CONFIG = REPO / "configs" / "lora_style_transfer.yaml"
# Validation loss is measured (and the best checkpoint kept) this often in epoch-based runs.
EVAL_EVERY_STEPS = 10
# Tokens of each training example taken by the style system prompt (~150), the instruction and
# its 60-token context: what max_length leaves beyond them is the longest passage.
PROMPT_ROOM_TOKENS = 260


# run()'s arguments that are not part of the recorded recipe.
NOT_PARAMS = ("corpus", "authors", "engine_url", "work_dir", "out_dir", "progress")
# The params that shape each author's workspace, in make_workspace's order.
WORKSPACE_PARAMS = ("chapter_words", "train_chapters", "held_out_chapters", "impostor_authors")


def run(
    corpus: str | Path = DEFAULT_CORPUS,
    authors: tuple[str, str] = ("austen", "twain"),
    steps: int | None = None,
    epochs: float = 2.0,
    max_length: int = 512,
    chapter_words: int = 1500,
    train_chapters: int = 6,
    held_out_chapters: int = 3,
    impostor_authors: int = 3,
    prompts: int = 24,
    new_tokens: int = 256,
    seeds: tuple[int, ...] = (0, 1),
    repeats: int = 1,
    workers: int = 12,
    engine_url: str | None = None,
    work_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Run the benchmark and write gate_benchmark.{json,md} + plots; return the folder."""
    # The recipe recorded with the figures: every argument but the inputs and where things go.
    params = {k: v for k, v in locals().items() if k not in NOT_PARAMS}
    params["seeds"] = list(seeds)
    work = Path(work_dir or tempfile.mkdtemp(prefix="inkwell-gate-bench-"))
    started = time.monotonic()
    workspaces = {
        author: make_workspace(
            work, Path(corpus), author, authors, *(params[k] for k in WORKSPACE_PARAMS)
        )
        for author in authors
    }
    training = {
        author: train_adapter(ws, author, steps, epochs, max_length, progress)
        for author, ws in workspaces.items()
    }
    share_adapters(workspaces)
    speed, trials = run_trials(workspaces, engine_url, params, progress)
    figures = summarise(authors, trials, training, speed, params)
    out = save_and_print(NAME, figures, started, out_dir, markdown, plots)
    print(f"workspaces, adapters and evaluation reports kept in {work}")
    return out


def save_and_print(
    name: str,
    figures: dict,
    started: float,
    out_dir: str | Path | None,
    markdown: Callable[[dict], str],
    plots: Callable[[dict], dict],
) -> Path:
    """How the long benchmarks (this one, the voice) end: stamp the wall time, write the
    results, print their page; return the folder."""
    figures["wall_time_s"] = round(time.monotonic() - started, 1)
    page = markdown(figures)
    out = write_results(Path(out_dir) if out_dir else None, name, figures, page, plots(figures))
    print(page)
    return out


def run_trials(
    workspaces: dict, engine_url: str | None, params: dict, progress: bool
) -> tuple[dict, list[dict]]:
    """On one engine: the hot-load and decoding speed, then per repeat and author a trial
    with the other author's adapter live."""
    from serving.engine import engine_client
    from serving.evaluation import EvalSettings
    from serving.foundation.workspace import Workspace

    authors = list(workspaces)
    first = workspaces[authors[0]]
    set_options(first.root, {"engine": {"port": free_port()}})
    first = Workspace.load(first.root)
    with (
        engine_for(first, engine_url, timeout_s=900, max_model_len=4096) as url,
        engine_client(first, url) as client,
    ):
        speed = measure_speed(client, workspaces[authors[0]], f"{authors[0]}-lora")
        settings = {
            author: EvalSettings.from_gate(
                ws.config.gate,
                prompts=params["prompts"],
                new_tokens=params["new_tokens"],
                workers=params["workers"],
            )
            for author, ws in workspaces.items()
        }
        trials = []
        for repeat in range(params["repeats"]):
            for author, ws in workspaces.items():
                other = next(a for a in authors if a != author)
                run_seeds = [s + 1000 * repeat for s in params["seeds"]]
                trials.append(
                    trial(client, ws, author, other, settings[author], run_seeds, progress)
                )
    return speed, trials


def cut_chapters(text: str, words_per_chapter: int, count: int | None = None) -> list[str]:
    """The first `count` chapters (None: every whole one) of at least `words_per_chapter`
    words, cut between paragraphs."""
    chapters, current, size = [], [], 0
    for paragraph in text.split("\n\n"):
        if not paragraph.strip():
            continue
        current.append(paragraph)
        size += len(paragraph.split())
        if size >= words_per_chapter:
            chapters.append("\n\n".join(current))
            current, size = [], 0
            if len(chapters) == count:
                break
    if count is not None and len(chapters) < count:
        raise BenchmarkInputError(
            f"the book is too short for {count} chapters of {words_per_chapter} words"
        )
    return chapters


def make_workspace(work, corpus, author, authors, chapter_words, n_train, n_held, n_impostors):
    """A workspace from the author's first book; its yardstick is calibrated against other
    authors of the corpus (the other benchmark author first), never the author itself. One
    already in `work` (a `work_dir` run again) is reused as it is."""
    import yaml

    from serving.foundation.workspace import Workspace, init_workspace

    if (work / author / "inkwell.yaml").is_file():
        return Workspace.load(work / author)
    book = first_book(corpus, author)
    ws = init_workspace(work / author)
    chapters = cut_chapters(book.read_text(encoding="utf-8"), chapter_words, n_train + n_held)
    for i, text in enumerate(chapters):
        (ws.chapters_dir / f"{i + 1:02d}.txt").write_text(text, encoding="utf-8")
    reference = work / f"reference-for-{author}"
    others = [a for a in authors if a != author]
    others += sorted(p.name for p in corpus.iterdir() if p.is_dir() and p.name not in authors)
    for other in others[:n_impostors]:
        (reference / other).mkdir(parents=True, exist_ok=True)
        first = first_book(corpus, other)
        (reference / other / first.name).symlink_to(first)
    held = [f"{i + 1:02d}.txt" for i in range(n_train, n_train + n_held)]
    (ws.root / "inkwell.yaml").write_text(
        yaml.safe_dump({"book": {"held_out": held}, "style": {"reference_corpus": str(reference)}}),
        encoding="utf-8",
    )
    return Workspace.load(ws.root)


def first_book(corpus: Path, author: str) -> Path:
    """The author's first book in a corpus laid out as DIR/<author>/*.txt."""
    books = sorted((corpus / author).glob("*.txt"))
    if not books:
        raise BenchmarkInputError(
            f"no books (*.txt) for {author!r} in {corpus}: a corpus is laid out as "
            "DIR/<author>/*.txt"
        )
    return books[0]


def train_adapter(
    ws, author: str, steps: int | None, epochs: float, max_length: int, progress: bool
) -> dict:
    """One adapter on the author's training chapters: `steps` optimizer steps when given, else
    `epochs` epochs, keeping the checkpoint with the best validation loss. An adapter already
    trained in this workspace is reused (more trials of the same adapters)."""
    from finetune.config import load_train_config
    from finetune.manifest import AdapterManifest
    from finetune.train import BookPaths, train

    run_dir = ws.adapters_dir / f"{author}-lora"
    if (run_dir / "manifest.json").is_file():
        return training_summary(AdapterManifest.load(run_dir), reused=True)

    every = steps or EVAL_EVERY_STEPS
    # Passages short enough that system prompt, instruction and context fit beside them.
    passage_max = max_length - PROMPT_ROOM_TOKENS
    overrides = [
        f"training.max_length={max_length}",
        f"training.epochs={epochs}",
        "training.batch_size=4",
        "training.gradient_accumulation_steps=1",
        "training.gradient_checkpointing=false",  # a 135M model fits; ~25% faster on a CPU
        "training.learning_rate=5e-4",
        f"training.eval_steps={every}",
        f"training.save_steps={every}",
        "training.early_stopping_patience=null",
        f"data.chunk_min_tokens={passage_max // 2}",
        f"data.chunk_max_tokens={passage_max}",
        "data.context_tokens=60",
    ]
    config = load_train_config(TRAIN_CONFIG, overrides, max_steps=steps)
    run_dir = train(
        config, BookPaths.of(ws, author), run_name=run_dir.name, progress=progress, say=print
    )
    return training_summary(AdapterManifest.load(run_dir), reused=False)


def training_summary(manifest, reused: bool) -> dict:
    return {
        "run": manifest.run,
        "steps": manifest.steps,
        "epochs": manifest.epochs,
        "seconds": round(manifest.wall_time_s, 1),
        "final_train_loss": manifest.train_loss[-1].loss if manifest.train_loss else None,
        "best_eval_loss": manifest.best_eval_loss,
        "reused": reused,
    }


def share_adapters(workspaces: dict) -> None:
    """Each workspace gets a copy of the other author's adapter (registry paths stay inside
    their workspace)."""
    for author, ws in workspaces.items():
        for other, other_ws in workspaces.items():
            if other != author and not (ws.adapters_dir / f"{other}-lora").exists():
                shutil.copytree(
                    other_ws.adapters_dir / f"{other}-lora", ws.adapters_dir / f"{other}-lora"
                )


def measure_speed(client, ws, adapter: str, tokens: int = 64, repeats: int = 3) -> dict:
    """Hot-load time (unload + load, repeated) and single-stream tokens/s, base vs adapter."""
    path = str(ws.adapters_dir / adapter)
    loads = []
    for _ in range(repeats):
        if adapter in client.loaded_adapters():
            client.unload_adapter(adapter)
        start = time.monotonic()
        client.load_adapter(adapter, path)
        loads.append(time.monotonic() - start)
    rates = {}
    for model in ("base", adapter):
        samples = []
        for seed in range(repeats):
            start = time.monotonic()
            reply = client.completion(
                {
                    "model": model,
                    "prompt": "It was a bright cold day in April, and",
                    "max_tokens": tokens,
                    "min_tokens": tokens,
                    "temperature": 0.8,
                    "seed": seed,
                }
            )
            samples.append(reply["usage"]["completion_tokens"] / (time.monotonic() - start))
        rates["base" if model == "base" else "adapter"] = round(statistics.median(samples), 2)
    client.unload_adapter(adapter)
    return {
        "hot_load_s": round(statistics.median(loads), 3),
        "hot_load_all_s": [round(v, 3) for v in loads],
        "tokens_per_s": rates,
    }


def serve_only(client, ws, adapter: str) -> None:
    """The engine serves this workspace's `adapter` and no other (the authors' workspaces
    hold adapters of the same names)."""
    from serving.registry import hotload

    for name in list(client.loaded_adapters()):
        client.unload_adapter(name)
    hotload.load(ws, client, adapter)


def trial(client, ws, author, other, settings, seeds, progress) -> dict:
    """One gate decision: the other author's adapter is live, the matching one is evaluated
    and gated on this author's yardstick."""
    from serving.evaluation import evaluate_run, gate_run
    from serving.registry import hotload

    ws.registry_path.unlink(missing_ok=True)
    serve_only(client, ws, f"{other}-lora")
    hotload.promote(ws, client, f"{other}-lora", reason="benchmark: the wrong voice is live")
    run_settings = settings.model_copy(update={"seeds": seeds})
    result = evaluate_run(ws, f"{author}-lora", client, run_settings, progress=progress)
    decision = gate_run(ws, f"{author}-lora", client)
    models = {
        "base": result.models["base"],
        author: result.models["candidate"],
        other: result.models["live"],
    }
    return {
        "yardstick": author,
        "seeds": seeds,
        "style": {k: round(m.style.mean, 2) for k, m in models.items()},
        "style_interval": {
            k: [round(m.style.low, 2), round(m.style.high, 2)] for k, m in models.items()
        },
        "nll": {k: round(m.nll, 4) for k, m in models.items()},
        "reference_style": round(result.reference_style, 2),
        "paired_vs_other": result.comparisons["live"].style.model_dump(),
        "gate_promoted_matching": decision.promote,
        "gate_checks": [c.model_dump() for c in decision.checks],
        "evaluation_s": result.wall_time_s,
    }


def summarise(authors, trials, training, speed, params) -> dict:
    table = {}
    for author in authors:
        rows = [t for t in trials if t["yardstick"] == author]
        table[author] = {
            model: {
                "style": round(statistics.fmean(r["style"][model] for r in rows), 2),
                "nll": round(statistics.fmean(r["nll"][model] for r in rows), 4),
            }
            for model in ("base", *authors)
        }
    picked = sum(t["gate_promoted_matching"] for t in trials)
    return {
        "params": params,
        "training": training,
        "speed": speed,
        "table": table,
        "gate_picked_matching": picked,
        "gate_trials": len(trials),
        "trials": trials,
    }


def markdown(figures: dict) -> str:
    authors = list(figures["table"])
    models = ["base", *authors]
    p = figures["params"]
    lines = [
        "# Does the gate pick the right voice?",
        "",
        f"Adapters trained {training_amount(p)} (max_length {p['max_length']}) on "
        f"{p['train_chapters']} chapters of ~{p['chapter_words']} words per author; evaluated on "
        f"{p['held_out_chapters']} held-out chapters per author, {p['prompts']} prompts x "
        f"{len(p['seeds'])} seed(s) x {p['repeats']} repeat(s), {p['new_tokens']} new tokens.",
        "",
        "## Style score (0-100) and held-out NLL per token, by yardstick",
        "",
        "| yardstick | "
        + " | ".join(f"{m} style" for m in models)
        + " | "
        + " | ".join(f"{m} NLL" for m in models)
        + " |",
        "|---|" + "---|" * (2 * len(models)),
    ]
    for author, row in figures["table"].items():
        lines.append(
            f"| {author} | "
            + " | ".join(f"{row[m]['style']:.1f}" for m in models)
            + " | "
            + " | ".join(f"{row[m]['nll']:.3f}" for m in models)
            + " |"
        )
    speed = figures["speed"]
    lines += [
        "",
        f"**Gate promoted the matching adapter over the other author's live adapter in "
        f"{figures['gate_picked_matching']}/{figures['gate_trials']} trials.**",
        "",
        f"Hot-load time (median of {len(speed['hot_load_all_s'])}): {speed['hot_load_s']:.3f} s. "
        f"Single-stream tokens/s: base {speed['tokens_per_s']['base']}, "
        f"through an adapter {speed['tokens_per_s']['adapter']}.",
        "",
        "| trial | yardstick | seeds | matching - other (paired) | lower bound | promoted |",
        "|---|---|---|---|---|---|",
    ]
    for i, t in enumerate(figures["trials"]):
        diff = t["paired_vs_other"]
        lines.append(
            f"| {i + 1} | {t['yardstick']} | {t['seeds']} | {diff['mean']:+.2f} | "
            f"{diff['low']:+.2f} | {t['gate_promoted_matching']} |"
        )
    lines += [
        "",
        "Training: "
        + ", ".join(
            f"{a}: {t['steps']} steps ({t['epochs']} epochs) in {t['seconds']:.0f} s "
            f"(last loss {t['final_train_loss']}){' (reused)' if t['reused'] else ''}"
            for a, t in figures["training"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def training_amount(params: dict) -> str:
    if params.get("steps"):
        return f"{params['steps']} steps"
    return f"{params['epochs']:g} epochs"


def style_interval(figures: dict, author: str, model: str) -> tuple[float, float]:
    """The widest bootstrap interval of a model's mean style score over the trials."""
    rows = [t["style_interval"][model] for t in figures["trials"] if t["yardstick"] == author]
    return min(r[0] for r in rows), max(r[1] for r in rows)


def plots(figures: dict) -> dict:
    import matplotlib.pyplot as plt
    import numpy as np

    authors = list(figures["table"])
    models = ["base", *authors]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    x = np.arange(len(authors))
    width = 0.8 / len(models)
    for j, model in enumerate(models):
        label = model if model == "base" else f"{model} adapter"
        means = [figures["table"][a][model]["style"] for a in authors]
        bounds = [style_interval(figures, a, model) for a in authors]
        errors = [
            [m - lo for m, (lo, _) in zip(means, bounds, strict=True)],
            [hi - m for m, (_, hi) in zip(means, bounds, strict=True)],
        ]
        left.bar(x + j * width, means, width, yerr=errors, capsize=3, label=label)
        right.bar(
            x + j * width, [figures["table"][a][model]["nll"] for a in authors], width, label=label
        )
    # The author's own held-out continuations, scored on the same yardstick: the ceiling.
    for i, author in enumerate(authors):
        refs = [t["reference_style"] for t in figures["trials"] if t["yardstick"] == author]
        level = sum(refs) / len(refs)
        left.hlines(
            level,
            x[i] - width / 2,
            x[i] + width * (len(models) - 0.5),
            colors="black",
            linestyles="dashed",
            label="held-out author text" if i == 0 else None,
        )
    # NLL differences are tenths of a nat: a zero-based axis would hide them.
    nlls = [figures["table"][a][m]["nll"] for a in authors for m in models]
    right.set_ylim(min(nlls) - 0.15, max(nlls) + 0.1)
    left.set_ylim(0, 105)
    for ax, title in (
        (left, "style score (0-100), 95% bootstrap"),
        (right, "held-out NLL / token (lower is better)"),
    ):
        ax.set_xticks(x + width * (len(models) - 1) / 2, [f"{a}'s yardstick" for a in authors])
        ax.set_title(title)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return {"style and NLL by yardstick": fig}
