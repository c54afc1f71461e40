"""What a config can actually run as on this machine: QLoRA needs CUDA (bitsandbytes); on a
CPU the same run becomes plain LoRA in fp32, and the user is told exactly what changed."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from finetune.config import TrainConfig
from finetune.errors import FinetuneError

_CUDA_ONLY_OPTIMS = {"paged_adamw_8bit", "paged_adamw_32bit", "adamw_8bit", "adamw_torch_fused"}


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda" or "cpu"
    device_name: str
    quantize_4bit: bool
    bf16: bool
    optim: str
    notes: list[str] = field(default_factory=list)
    # torch CPU threads (None on CUDA: the GPU does the work).
    threads: int | None = None

    @property
    def method(self) -> str:
        return "QLoRA" if self.quantize_4bit else "LoRA"


def plan_device(config: TrainConfig, cuda_available: bool | None = None) -> DevicePlan:
    import torch

    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    training = config.training
    if cuda:
        if config.quantization.load_in_4bit or "8bit" in training.optim:
            from transformers.utils import is_bitsandbytes_available

            if not is_bitsandbytes_available():
                raise FinetuneError(
                    "this config uses 4-bit loading or an 8-bit optimizer, which need "
                    "bitsandbytes: pip install 'inkwell[gpu]'"
                )
        bf16 = training.bf16 and torch.cuda.is_bf16_supported()
        notes = [] if bf16 == training.bf16 else ["this GPU has no bf16: training in fp32"]
        return DevicePlan(
            device="cuda",
            device_name=torch.cuda.get_device_name(0),
            quantize_4bit=config.quantization.load_in_4bit,
            bf16=bf16,
            optim=training.optim,
            notes=notes,
        )
    notes = []
    if config.quantization.load_in_4bit:
        notes.append("4-bit quantization needs CUDA: loading the base model unquantized (fp32)")
    if training.bf16:
        notes.append("bf16 mixed precision is off on the CPU: training in fp32")
    optim = training.optim
    if optim in _CUDA_ONLY_OPTIMS:
        notes.append(f"optimizer {optim} needs CUDA: using adamw_torch")
        optim = "adamw_torch"
    threads, busy = cpu_threads(training.threads)
    if busy:
        notes.append(
            f"other work keeps {busy} of {physical_cores()} cores busy: {threads} torch "
            "thread(s), since threads that wait on each other are slower (training.threads)"
        )
    if config.cpu is not None:
        notes.append(
            "no CUDA GPU: the config's cpu recipe applies (max_length "
            f"{training.max_length}, {training.batch_size} x {training.gradient_accumulation_steps}"
            f" sequences a step, gradient checkpointing "
            f"{'on' if training.gradient_checkpointing else 'off'})"
        )
    return DevicePlan(
        device="cpu",
        device_name=_cpu_name(),
        quantize_4bit=False,
        bf16=False,
        optim=optim,
        notes=notes,
        threads=threads,
    )


def cpu_threads(requested: int | None) -> tuple[int, int]:
    """(torch threads, cores found busy): the requested count, else one per physical core
    that other work leaves idle right now (at least one)."""
    if requested:
        return requested, 0
    cores = physical_cores()
    busy = min(cores - 1, busy_cores())
    return max(1, cores - busy), max(0, busy)


def busy_cores(window_s: float = 0.5) -> int:
    """Physical cores other processes keep busy, from /proc/stat over a short window while
    this process sleeps. The 1-minute load average would count this very process's start
    and the `inkwell prepare` that ran just before it."""
    cpus = sorted(os.sched_getaffinity(0))
    before = _cpu_ticks(cpus)
    if before is None:
        return round(os.getloadavg()[0])
    time.sleep(window_s)
    after = _cpu_ticks(cpus) or before
    busy_share = 0.0
    for cpu in cpus:
        (idle0, total0), (idle1, total1) = before[cpu], after[cpu]
        if total1 > total0:
            busy_share += 1 - (idle1 - idle0) / (total1 - total0)
    return round(busy_share * physical_cores() / len(cpus))


def _cpu_ticks(cpus: list[int]) -> dict[int, tuple[int, int]] | None:
    """(idle + iowait, total) jiffies of each CPU; None where /proc/stat is not there."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    ticks = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [int(field) for field in fields[:8]]
            ticks[int(name[3:])] = (values[3] + values[4], sum(values))
    return ticks if len(ticks) == len(cpus) else None


def physical_cores() -> int:
    """Cores this process may run on, counting hyperthread siblings once: more torch threads
    than cores only make them wait on each other."""
    cpus = os.sched_getaffinity(0)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return len(cpus)
        cores.add((package, core))
    return max(1, len(cores))


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "cpu"
