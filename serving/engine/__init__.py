"""The vLLM engine: launcher, state of a workspace's engine, and an HTTP client for it."""

from serving.engine.client import AdapterLoadError, EngineClient, EngineError
from serving.engine.service import (
    EngineState,
    EngineStatus,
    engine_client,
    engine_status,
    resolve_engine_url,
    start_engine,
    stop_engine,
)

__all__ = [
    "AdapterLoadError",
    "EngineClient",
    "EngineError",
    "EngineState",
    "EngineStatus",
    "engine_client",
    "engine_status",
    "resolve_engine_url",
    "start_engine",
    "stop_engine",
]
