"""How long a run will take, said before it starts, and a progress bar that shows steps,
training tokens/s and time left while it runs: a writer on a laptop decides from these
whether to wait, shorten the run or move to a GPU."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from finetune.base_model import cache_dir
from finetune.config import TrainConfig
from finetune.manifest import AdapterManifest
from finetune.prepare import DataCard
from serving.foundation.atomic import write_json_atomic

# Training tokens/s of LoRA on SmolLM2-135M (fp32, the CPU recipe) per physical core: 111
# tokens/s were measured on a shared 2-core EPYC (benchmarks/voice.py speed); a conservative
# share of it is used until this machine has a run of its own.
CPU_TOKENS_PER_S_PER_CORE = 40.0
REFERENCE_WEIGHT_BYTES = 538_000_000  # SmolLM2-135M in fp32 safetensors
SPEED_LOG_FILE = "train-speed.json"
# An evaluation is a forward pass only: about a third of a training step's work per token.
EVAL_COST = 1 / 3


@dataclass(frozen=True)
class Estimate:
    steps: int
    tokens_per_step: int
    tokens_per_s: float | None
    source: str  # where tokens_per_s comes from
    seconds: float | None

    def describe(self) -> str:
        shape = f"{self.steps} steps of ~{self.tokens_per_step:,} tokens"
        if self.seconds is None:
            return f"{shape}; no speed measured on this device yet (the bar shows time left)"
        return (
            f"{shape}: about {_duration(self.seconds)} at ~{self.tokens_per_s:.0f} tokens/s "
            f"({self.source})"
        )


def total_steps(config: TrainConfig, train_examples: int) -> int:
    """Optimizer steps of the run, as the trainer counts them."""
    t = config.training
    if t.max_steps:
        return t.max_steps
    per_epoch = max(
        1, math.ceil(math.ceil(train_examples / t.batch_size) / t.gradient_accumulation_steps)
    )
    return max(1, math.ceil(per_epoch * t.epochs))


def estimate(
    config: TrainConfig, card: DataCard, device: str, threads: int | None, base: Path
) -> Estimate:  # fmt: skip
    """Steps x tokens per step at the speed of this machine's last run on the same device
    and base model (of any book), else a prior scaled by cores and model size (CPU only)."""
    t = config.training
    per_sequence = min(card.example_tokens.mean, t.max_length)
    tokens_per_step = round(t.batch_size * t.gradient_accumulation_steps * per_sequence)
    steps = total_steps(config, card.train_examples)
    speed, source = SpeedLog.load().speed(device, str(base), threads)
    if speed is None and device == "cpu":
        scale = REFERENCE_WEIGHT_BYTES / max(_weight_bytes(base), 1)
        speed = CPU_TOKENS_PER_S_PER_CORE * (threads or 1) * min(scale, 4.0)
        source = f"a prior for {threads or 1} CPU core(s), before any run on this machine"
    if speed is None:
        return Estimate(steps, tokens_per_step, None, "none", None)
    evaluations = 1 + steps // t.eval_steps
    eval_tokens = card.validation_examples * per_sequence * evaluations * EVAL_COST
    seconds = (steps * tokens_per_step + eval_tokens) / speed
    if t.max_minutes and seconds > t.max_minutes * 60:
        seconds, source = t.max_minutes * 60, f"{source}; training.max_minutes ends it sooner"
    return Estimate(steps, tokens_per_step, speed, source, seconds)


class SpeedRecord(BaseModel):
    """A finished run's training speed on this machine."""

    device: str
    base_model: str
    threads: int | None
    tokens_per_s: float
    run: str
    created_at: str

    @property
    def key(self) -> tuple[str, str, int | None]:
        return self.device, self.base_model, self.threads


class SpeedLog(BaseModel):
    """The last speed per (device, base model, threads), kept in the per-user cache rather
    than in a book's workspace: a new book on the same machine gets a measured estimate, and
    a workspace copied from another machine brings no foreign speeds."""

    records: list[SpeedRecord] = []

    @staticmethod
    def path() -> Path:
        return cache_dir() / SPEED_LOG_FILE

    @classmethod
    def load(cls) -> SpeedLog:
        try:
            return cls.model_validate_json(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none yet, or damaged: estimates fall back to the prior
            return cls()

    def remember(self, manifest: AdapterManifest) -> None:
        """Keep a finished run's speed (replacing the one of the same device, base, threads)."""
        if not manifest.tokens_per_s:
            return
        record = SpeedRecord(**manifest.model_dump(include=set(SpeedRecord.model_fields)))
        self.records = [r for r in self.records if r.key != record.key] + [record]
        write_json_atomic(self.path(), self.model_dump(mode="json"))

    def speed(self, device: str, base: str, threads: int | None) -> tuple[float | None, str]:
        """Tokens/s of the newest run on this device and base model, with as many threads if
        there is one, else scaled by the threads (the 1-thread run a busy machine forced
        would otherwise halve the estimate on a quiet one)."""
        runs = [r for r in self.records if r.device == device and r.base_model == base]
        if not runs:
            return None, "none"
        best = max(runs, key=lambda r: (r.threads == threads, r.created_at))
        if best.threads == threads or not (threads and best.threads):
            return best.tokens_per_s, f"measured by run {best.run!r} on this machine"
        return best.tokens_per_s * threads / best.threads, (
            f"run {best.run!r} on this machine with {best.threads} thread(s), scaled to {threads}"
        )


def _weight_bytes(base: Path) -> int:
    if not base.is_dir():
        return REFERENCE_WEIGHT_BYTES
    return sum(p.stat().st_size for p in base.glob("*.safetensors")) or REFERENCE_WEIGHT_BYTES


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def time_limit(minutes: float):
    """A TrainerCallback that ends training at the first step past `minutes` (a writer's
    "train for an hour"), after an evaluation and a checkpoint, so the best one is kept."""
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        def __init__(self) -> None:
            self.deadline = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.deadline = time.monotonic() + minutes * 60

        def on_step_end(self, args, state, control, **kwargs):
            if time.monotonic() >= self.deadline:
                control.should_training_stop = True
                control.should_evaluate = control.should_save = True

    return TimeLimit()


def training_progress():
    """A TrainerCallback drawing one bar: step/total, time left, training tokens/s, loss."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class TrainingProgress(TrainerCallback):
        def __init__(self) -> None:
            self.bar = None
            self.started = 0.0
            self.tokens_at_start = 0
            self.loss: float | None = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, unit="step")
            self.started = time.monotonic()
            self.tokens_at_start = state.num_input_tokens_seen

        def on_step_end(self, args, state, control, **kwargs):
            tokens = state.num_input_tokens_seen - self.tokens_at_start
            rate = tokens / max(time.monotonic() - self.started, 1e-9)
            loss = "" if self.loss is None else f", loss {self.loss:.3f}"
            self.bar.set_postfix_str(f"{rate:.0f} tok/s{loss}", refresh=False)
            self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return TrainingProgress()
