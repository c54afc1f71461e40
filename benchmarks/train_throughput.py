"""Training throughput: seconds per step, training tokens/s and peak memory of LoRA on
SmolLM2 for a small grid of configurations (by default the old CPU default against the
shipped recipe), trained side by side in one run on a fresh copy of the demo book on the
same sequences, with their train/eval loss curves.

Each configuration trains in its own fresh process, so its peak RSS is its own and one run
cannot warm the next. Machines are noisy: the ratios against the first configuration, taken
in the same run, are the figures to compare; the 1-minute load average at start and end says
how quiet the machine was. On a CPU training is plain LoRA in fp32; on CUDA the config's
precision (and 4-bit loading, if it asks for it) applies.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from benchmarks.harness.errors import BenchmarkInputError
from benchmarks.harness.results import write_results

if TYPE_CHECKING:
    from finetune.config import TrainConfig
    from finetune.device import DevicePlan
    from finetune.prepare import DataCard
    from finetune.train import BookPaths

NAME = "train_throughput"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "configs" / "lora_style_transfer.yaml"
# label -> `--set` overrides on the shipped config for this device; the first is the
# reference for ratios. On a CPU the shipped config is the measured CPU recipe, and the
# reference is what `inkwell train` did there before it: the GPU recipe's 4 x 4 sequences a
# step, max_length 2048 and gradient checkpointing.
GRID: dict[str, list[str]] = {
    "old default (4x4, len2048, ckpt on)": [
        "training.batch_size=4",
        "training.eval_batch_size=4",
        "training.gradient_accumulation_steps=4",
        "training.max_length=2048",
        "training.gradient_checkpointing=true",
    ],
    "shipped recipe": [],
}
# Every configuration trains on the same prepared passages and sees the same sequences, so
# tokens/s and the final eval loss compare like for like.
SHARED_SETS = ["training.early_stopping_patience=null"]


def run(
    steps: int = 2,
    grid: dict[str, Sequence[str]] | None = None,
    config_path: Path | str = DEFAULT_CONFIG,
    sets: Sequence[str] = (),
    out_dir: Path | None = None,
    progress: bool = True,
    threads: int | None = None,
) -> Path:
    """Train the first configuration of `grid` for `steps` optimizer steps and every other
    one on as many sequences; write the report and return its folder. `sets` are `--set
    key=value` overrides applied to every configuration. `threads` sets torch's CPU threads
    (default: what `inkwell train` picks, one per idle physical core)."""
    grid = _checked_grid(steps, threads, grid)
    configs = _same_sequences(config_path, grid, steps, sets)
    common = [*SHARED_SETS, *sets]
    load_start = os.getloadavg()[0]
    started = time.time()
    card, results = _train_grid(configs, progress, threads)
    load_end = os.getloadavg()[0]

    _compare(results, card)
    figures = {
        "steps": steps,
        "config_file": str(config_path),
        "shared_overrides": common,
        "load_avg_1min": {"start": load_start, "end": load_end},
        "wall_s": round(time.time() - started, 1),
        "data": {
            "train_examples": card.train_examples,
            "validation_examples": card.validation_examples,
            "example_tokens_mean": card.example_tokens.mean,
            "data_hash": card.data_hash,
        },
        "reference": results[0]["label"],
        "configs": results,
    }
    out = write_results(out_dir, NAME, figures, _markdown(figures), _plots(results))
    print(_summary(results))
    return out


def _checked_grid(
    steps: int, threads: int | None, grid: dict[str, Sequence[str]] | None
) -> dict[str, Sequence[str]]:
    """The grid to train (the default one when none is given), refusing settings that
    cannot measure anything."""
    if steps < 1:
        raise BenchmarkInputError(f"steps must be at least 1 (got {steps})")
    if threads is not None and threads < 1:
        raise BenchmarkInputError(f"threads must be at least 1 (got {threads})")
    grid = dict(grid or GRID)
    if not grid:
        raise BenchmarkInputError("the grid of configurations is empty")
    return grid


def _same_sequences(
    config_path: Path | str, grid: dict[str, Sequence[str]], steps: int, sets: Sequence[str]
) -> dict[str, TrainConfig]:
    """The grid's configurations, each with the steps that give it the sequences of the
    first one's `steps`, a loss logged at every step and two evaluations per run."""
    from finetune.config import load_train_config

    configs = {}
    sequences = None
    for label, extra in grid.items():
        overrides = [*SHARED_SETS, *extra, *sets]
        t = load_train_config(config_path, overrides).training
        per_step = t.batch_size * t.gradient_accumulation_steps
        sequences = sequences or steps * per_step
        own = max(1, math.ceil(sequences / per_step))
        every = max(1, own // 2)
        timing = [
            "training.logging_steps=1",
            f"training.eval_steps={every}",
            f"training.save_steps={every}",
        ]
        configs[label] = load_train_config(config_path, [*overrides, *timing], max_steps=own)
    return configs


def _train_grid(
    configs: dict[str, TrainConfig], progress: bool, threads: int | None
) -> tuple[DataCard, list[dict]]:
    """Each configuration measured on one fresh copy of the demo book; its data card and the
    measurements in the grid's order."""
    from finetune.base_model import ensure_base_model
    from finetune.train import BookPaths, ensure_dataset
    from serving.foundation.workspace import init_workspace

    with tempfile.TemporaryDirectory(prefix="inkwell-bench-train-") as tmp:
        ws = init_workspace(Path(tmp) / "demo", demo=True)
        book = BookPaths.of(ws)
        first = next(iter(configs.values()))
        # Prepared once here (all configurations share the data), not inside the timed runs.
        card = ensure_dataset(first, book, ensure_base_model(first.base_model), print)
        results = [
            _in_fresh_process(label, config.model_dump(mode="json"), book, progress, threads)
            for label, config in tqdm(configs.items(), desc="configurations", disable=not progress)
        ]
    return card, results


def _compare(results: list[dict], card: DataCard) -> None:
    """Add to each measurement its ratios against the first and what a full adapter of the
    config would take at its speed."""
    reference = results[0]
    for r in results:
        r["ratios_vs_first"] = {
            key: _ratio(r[key], reference[key])
            for key in ("seconds_per_step", "tokens_per_s", "peak_rss_mib")
        }
        # Every example is longer than max_length here unless the card says otherwise.
        per_example = min(card.example_tokens.mean, r["max_length"])
        full_tokens = r["epochs"] * card.train_examples * per_example
        r["full_adapter_tokens"] = round(full_tokens)
        r["full_adapter_estimate_min"] = round(full_tokens / r["tokens_per_s"] / 60, 1)


def _in_fresh_process(
    label: str, config: dict, book: BookPaths, progress: bool, threads: int | None
) -> dict[str, Any]:
    """One configuration in a new interpreter: its own peak RSS, no state shared with others."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(_measure, (label, config, book, progress, threads))


def _measure(
    label: str, config_data: dict, book: BookPaths, progress: bool, threads: int | None
) -> dict[str, Any]:
    """Train one configuration with the finetune package's own loader and trainer, timing
    each optimizer step (evaluation and checkpointing excluded)."""
    import torch

    from finetune.config import TrainConfig
    from finetune.device import plan_device

    config = TrainConfig.model_validate(config_data)
    plan = plan_device(config)
    torch.set_num_threads(threads or plan.threads or torch.get_num_threads())
    timer = _step_timer(torch.cuda.is_available())
    history = _train_timed(config, plan, book, progress, timer)
    tokens = max((e["num_tokens"] for e in history if "num_tokens" in e), default=0)
    if not tokens:
        raise RuntimeError(f"{label}: the trainer logged no training token count (num_tokens)")
    return _measurement(label, config, plan, timer.seconds, int(tokens), history)


def _step_timer(cuda: bool):
    """A trainer callback that records each optimizer step's seconds (on CUDA, after the
    device has finished the step's work)."""
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._t0 = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self._t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.seconds.append(time.perf_counter() - self._t0)

    return StepTimer()


def _train_timed(
    config: TrainConfig, plan: DevicePlan, book: BookPaths, progress: bool, timer
) -> list[dict]:
    """Train with `timer` attached, checkpoints in a folder thrown away after; the
    trainer's log history."""
    from finetune.base_model import ensure_base_model
    from finetune.train import ensure_dataset, load_base, make_trainer, read_jsonl

    base = ensure_base_model(config.base_model)
    card = ensure_dataset(config, book, base, print)
    model, tokenizer = load_base(base, plan, config.quantization)
    with tempfile.TemporaryDirectory(prefix="inkwell-bench-run-") as tmp:
        trainer = make_trainer(
            model,
            tokenizer,
            read_jsonl(book.data_dir / card.train_file),
            read_jsonl(book.data_dir / card.validation_file),
            config,
            plan,
            Path(tmp) / "checkpoints",
            progress,
        )
        trainer.add_callback(timer)
        trainer.train()
    return trainer.state.log_history


def _measurement(
    label: str,
    config: TrainConfig,
    plan: DevicePlan,
    seconds: list[float],
    tokens: int,
    history: list[dict],
) -> dict[str, Any]:
    """One configuration's figures: its settings, step times, tokens/s, peak memory and loss
    curves."""
    import torch

    cuda = torch.cuda.is_available()
    busy = sum(seconds)
    t = config.training
    return {
        "label": label,
        "device": plan.device,
        "device_name": plan.device_name,
        "method": plan.method,
        "precision": "bf16" if plan.bf16 else "fp32",
        "torch_threads": torch.get_num_threads(),
        "lora_r": config.lora.r,
        "max_length": t.max_length,
        "batch_size": t.batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "gradient_checkpointing": t.gradient_checkpointing,
        "sequences_per_step": t.batch_size * t.gradient_accumulation_steps,
        "epochs": t.epochs,
        "steps": len(seconds),
        "step_seconds": [round(s, 3) for s in seconds],
        "seconds_per_step": round(busy / len(seconds), 3),
        "median_seconds_per_step": round(statistics.median(seconds), 3),
        "train_tokens": tokens,
        "tokens_per_s": round(tokens / busy, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_cuda_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
        "train_loss": _curve(history, "loss"),
        "eval_loss": _curve(history, "eval_loss"),
    }


def _curve(history: list[dict], key: str) -> list[dict[str, float]]:
    return [{"step": e["step"], "loss": round(e[key], 5)} for e in history if key in e]


def _ratio(value: float, reference: float) -> float | None:
    return round(value / reference, 3) if reference else None


def _plots(results: list[dict]) -> dict[str, Any]:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves, ax = plt.subplots(figsize=(7, 4))
    for i, r in enumerate(results):
        colour = f"C{i}"
        for key, marker, kind in (("train_loss", "-o", "train"), ("eval_loss", "--s", "eval")):
            points = r[key]
            ax.plot(
                [p["step"] for p in points],
                [p["loss"] for p in points],
                marker,
                color=colour,
                label=f"{r['label']} {kind}",
            )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (assistant tokens)")
    ax.set_title(f"LoRA on SmolLM2-135M: loss ({results[0]['device']})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    bars, ax = plt.subplots(figsize=(7, 4))
    labels = [r["label"] for r in results]
    values = [r["seconds_per_step"] for r in results]
    drawn = ax.bar(labels, values, color=[f"C{i}" for i in range(len(results))])
    ax.bar_label(drawn, labels=[f"{r['tokens_per_s']:.0f} tok/s" for r in results], fontsize=8)
    ax.set_ylabel("seconds per optimizer step")
    ax.set_title(f"Training speed ({results[0]['device']}, {results[0]['precision']})")
    return {"loss curves": curves, "seconds per step": bars}


def _markdown(f: dict) -> str:
    rows = [
        "| configuration | device | steps x sequences | s/step | tokens/s | peak RSS MiB "
        "| final train loss | final eval loss | s/step ratio | tokens/s ratio | RSS ratio "
        "| full adapter (est.) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in f["configs"]:
        ratios = r["ratios_vs_first"]
        last_train = r["train_loss"][-1]["loss"] if r["train_loss"] else "n/a"
        last_eval = r["eval_loss"][-1]["loss"] if r["eval_loss"] else "n/a"
        rows.append(
            f"| {r['label']} | {r['device']} {r['precision']} "
            f"| {r['steps']} x {r['sequences_per_step']} | {r['seconds_per_step']} "
            f"| {r['tokens_per_s']} | {r['peak_rss_mib']} | {last_train} | {last_eval} "
            f"| {ratios['seconds_per_step']} | {ratios['tokens_per_s']} "
            f"| {ratios['peak_rss_mib']} | {r['full_adapter_estimate_min']} min |"
        )
    first = f["configs"][0]
    load = f["load_avg_1min"]
    return "\n".join(
        [
            "# Training throughput: LoRA on SmolLM2-135M",
            "",
            f"Every configuration trains on the same {f['steps'] * first['sequences_per_step']}"
            f" sequences of a fresh copy of the demo book ({f['data']['train_examples']} "
            "training examples), each in its own process; config "
            f"`{Path(f['config_file']).name}` with `{' '.join(f['shared_overrides'])}`, "
            f"{first['torch_threads']} torch thread(s). Step times exclude evaluation and "
            "checkpoints; tokens are the training tokens the trainer counted.",
            "",
            *rows,
            "",
            f"Ratios are against `{f['reference']}` in the same run (compare these across "
            f"machines, not raw times). 1-minute load average: {load['start']:.2f} at start, "
            f"{load['end']:.2f} at end. The full-adapter estimate is "
            "epochs x train examples x min(mean example tokens, max_length) / tokens/s.",
        ]
    )


def _summary(results: list[dict]) -> str:
    return "\n".join(
        f"{r['label']:12s} {r['seconds_per_step']:8.2f} s/step {r['tokens_per_s']:8.1f} tok/s "
        f"{r['peak_rss_mib']:8.0f} MiB RSS  x{r['ratios_vs_first']['seconds_per_step']} s/step"
        for r in results
    )
