"""How Inkwell starts and stops vLLM, checked without starting it: the command line and
environment for each device, the LoRA rank it must allow, and a stop that leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from serving.engine.launcher import (
    adapter_ranks,
    engine_command,
    engine_env,
    launch,
    lora_rank_for,
    terminate,
)
from serving.engine.service import EngineState, _write_state, read_state, resolve_engine_url
from serving.foundation.config import EngineConfig
from serving.foundation.workspace import Workspace


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_command_serves_base_with_runtime_lora_and_tools() -> None:
    config = EngineConfig(port=8123, max_model_len=8192)
    cpu = engine_command(config, "/models/smol", device="cpu", max_lora_rank=32)
    assert flag(cpu, "--model") == "/models/smol"
    assert flag(cpu, "--served-model-name") == "base"
    assert flag(cpu, "--max-lora-rank") == "32"
    assert flag(cpu, "--tool-call-parser") == "hermes"
    assert "--enable-lora" in cpu and "--enable-auto-tool-choice" in cpu
    assert flag(cpu, "--dtype") == "bfloat16"  # fp32 would double the memory on CPU
    assert "--gpu-memory-utilization" not in cpu
    gpu = engine_command(config, "/models/smol", device="cuda", max_lora_rank=32)
    assert flag(gpu, "--dtype") == "auto"
    assert flag(gpu, "--gpu-memory-utilization") == "0.85"


def test_environment_enables_runtime_lora_and_cpu_cache(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    env = engine_env(EngineConfig(cpu_kvcache_gib=3), "cpu", api_key="k")
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "6")  # the user's setting wins
    assert engine_env(EngineConfig(), "cpu", api_key="k")["VLLM_CPU_KVCACHE_SPACE"] == "6"
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE")
    assert "VLLM_CPU_KVCACHE_SPACE" not in engine_env(EngineConfig(), "cuda", api_key="k")


def test_lora_rank_fits_every_adapter_present(tmp_path: Path) -> None:
    for name, rank in (("a", 8), ("b", 48), ("junk", None)):
        (tmp_path / name).mkdir()
        config = {"r": rank} if rank else {}
        (tmp_path / name / "adapter_config.json").write_text(json.dumps(config))
    assert adapter_ranks(tmp_path) == [8, 48]
    assert lora_rank_for(adapter_ranks(tmp_path), floor=16) == 64  # vLLM allows 1, 8, 16, 32, 64...
    assert lora_rank_for([], floor=16) == 16


def test_terminate_kills_the_whole_process_group(tmp_path: Path) -> None:
    """A child that ignores SIGTERM is killed after the grace time; its own child too."""
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    log = tmp_path / "engine.log"
    process = launch([sys.executable, "-c", script], dict(os.environ), log)
    deadline = time.monotonic() + 20
    while not log.read_text().strip().splitlines()[-1].isdigit():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    grandchild = int(log.read_text().strip().splitlines()[-1])
    terminate(process.pid, grace_s=1.0)
    assert process.poll() is not None
    assert not running(grandchild)


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan waits for PID 1 to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_state_of_a_dead_engine_is_ignored(empty_workspace: Workspace) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = EngineState(
        pid=dead.pid,
        url="http://127.0.0.1:9999/v1",
        model="m",
        device="cpu",
        max_lora_rank=16,
        log="x",
        started_at=0.0,
    )
    _write_state(empty_workspace, state)
    assert read_state(empty_workspace) is None
    assert resolve_engine_url(empty_workspace) == empty_workspace.config.server.engine_url
    assert resolve_engine_url(empty_workspace, "http://h:1/v1") == "http://h:1/v1"
