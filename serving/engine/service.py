"""The engine of one workspace: `inkwell engine start|stop|status`, a state file
(`.inkwell/engine.json`) so that later commands find the running engine, and the rule for
which engine a command talks to (`--engine-url` > the started engine > server.engine_url)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from pydantic import BaseModel

from serving.engine.client import EngineClient, EngineError
from serving.engine.key import ensure_engine_key, read_engine_key
from serving.engine.launcher import (
    adapter_ranks,
    detect_device,
    engine_command,
    engine_env,
    launch,
    lora_rank_for,
    terminate,
    wait_ready,
)
from serving.foundation.atomic import write_text_atomic
from serving.foundation.workspace import Workspace

STATE_FILE = "engine.json"


class EngineState(BaseModel):
    pid: int
    url: str
    model: str
    device: str
    max_lora_rank: int
    log: str
    started_at: float
    ready_s: float | None = None


class EngineStatus(BaseModel):
    running: bool
    healthy: bool
    url: str
    state: EngineState | None = None
    adapters: dict[str, str] = {}


def state_path(ws: Workspace) -> Path:
    return ws.state_dir / STATE_FILE


def log_path(ws: Workspace) -> Path:
    return ws.logs_dir / "engine.log"


def read_state(ws: Workspace) -> EngineState | None:
    """The recorded engine, if its process still runs (a stale file is ignored)."""
    path = state_path(ws)
    try:
        state = EngineState.model_validate_json(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return state if _is_running(state.pid) else None


def _write_state(ws: Workspace, state: EngineState) -> None:
    write_text_atomic(state_path(ws), state.model_dump_json(indent=2))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def resolve_engine_url(ws: Workspace, engine_url: str | None = None) -> str:
    """Which engine a command talks to: an explicit URL, else the one `engine start` runs for
    this workspace, else the configured server.engine_url."""
    if engine_url:
        return engine_url
    state = read_state(ws)
    return state.url if state else ws.config.server.engine_url


def engine_client(ws: Workspace, engine_url: str | None = None, **options) -> EngineClient:
    """A client for the engine this workspace's commands talk to, carrying its key."""
    return EngineClient(resolve_engine_url(ws, engine_url), api_key=read_engine_key(ws), **options)


def start_engine(
    ws: Workspace, *, timeout_s: float = 600.0, max_model_len: int | None = None
) -> EngineState:
    """Start vLLM for the workspace's base model and wait until it serves (adapters are the
    registry's business: `serving.registry.hotload.start_with_adapters`)."""
    from finetune.base_model import ensure_base_model

    running = read_state(ws)
    if running is not None:
        raise EngineError(
            f"an engine already runs for {ws.root} (pid {running.pid}, {running.url})"
        )
    config = ws.config.engine
    if max_model_len is not None:
        config = config.model_copy(update={"max_model_len": max_model_len})
    url = f"http://{config.host}:{config.port}/v1"
    with EngineClient(url) as client:
        if client.is_healthy():
            raise EngineError(
                f"port {config.port} already answers as an engine; stop it, change "
                "engine.port, or use --engine-url to use that engine"
            )
    model = ensure_base_model(config.base_model)
    device = detect_device()
    rank = lora_rank_for(adapter_ranks(ws.adapters_dir), config.max_lora_rank)
    log = log_path(ws)
    key = ensure_engine_key(ws)
    process = launch(
        engine_command(config, model, device=device, max_lora_rank=rank),
        engine_env(config, device, api_key=key),
        log,
    )
    state = EngineState(
        pid=process.pid,
        url=url,
        model=str(model),
        device=device,
        max_lora_rank=rank,
        log=str(log),
        started_at=time.time(),
    )
    _write_state(ws, state)
    try:
        state.ready_s = wait_ready(url, process, log, timeout_s, api_key=key)
    except BaseException:
        terminate(process.pid)
        state_path(ws).unlink(missing_ok=True)
        raise
    _write_state(ws, state)
    return state


def stop_engine(ws: Workspace, grace_s: float = 30.0) -> EngineState | None:
    """Stop the engine started for this workspace (SIGTERM, then SIGKILL after grace_s)."""
    state = read_state(ws)
    if state is not None:
        terminate(state.pid, grace_s=grace_s)
    state_path(ws).unlink(missing_ok=True)
    return state


def engine_status(ws: Workspace, engine_url: str | None = None) -> EngineStatus:
    state = read_state(ws)
    url = resolve_engine_url(ws, engine_url)
    with engine_client(ws, url) as client:
        healthy = client.is_healthy()
        adapters = {}
        if healthy:
            with contextlib.suppress(EngineError):
                adapters = client.loaded_adapters()
    return EngineStatus(
        running=state is not None, healthy=healthy, url=url, state=state, adapters=adapters
    )
