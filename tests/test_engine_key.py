"""The engine key: only Inkwell's own clients can drive vLLM. Checked here without starting vLLM
(the guard runs in-process in front of a small app; the proxy talks to the STAND-IN engine);
tests/test_engine.py checks the same against the real engine."""

from __future__ import annotations

import asyncio
import importlib
import stat
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from serving.engine.guard import EngineKeyGuard
from serving.engine.key import engine_key_path, ensure_engine_key, read_engine_key
from serving.engine.launcher import GUARD_MIDDLEWARE, engine_command, engine_env
from serving.engine.service import engine_client
from serving.foundation.config import EngineConfig
from serving.foundation.workspace import Workspace, init_workspace
from tests.reliability_counts import record

# Routes vLLM's own --api-key leaves open (/invocations, /tokenize...) and the LoRA routes.
PROBED = ["/health", "/v1/models", "/v1/load_lora_adapter", "/invocations", "/tokenize", "/metrics"]


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "book")


def test_key_is_created_once_private_and_kept(ws: Workspace) -> None:
    assert read_engine_key(ws) is None
    key = ensure_engine_key(ws)
    assert len(key) >= 40
    assert stat.S_IMODE(engine_key_path(ws).stat().st_mode) == 0o600
    assert ensure_engine_key(ws) == key  # a second start finds the same key
    assert list(ws.state_dir.glob(".engine.key.*")) == []  # no temp file left


def test_engine_command_and_environment_carry_the_guard(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "someone-elses")
    command = engine_command(EngineConfig(), "/models/smol", device="cpu", max_lora_rank=8)
    assert flag(command, "--allowed-origins") == "[]"  # no cross-origin browser access
    assert flag(command, "--middleware") == GUARD_MIDDLEWARE
    assert hasattr(importlib.import_module(GUARD_MIDDLEWARE.rsplit(".", 1)[0]), "EngineKeyGuard")
    assert "--api-key" not in command  # on the command line every local user could read it
    assert engine_env(EngineConfig(), "cpu", api_key="ours")["VLLM_API_KEY"] == "ours"


def _status(app: object, method: str, path: str, key: str | None) -> int:
    headers = {"authorization": f"Bearer {key}"} if key else {}

    async def send() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
            return (await client.request(method, path, headers=headers)).status_code

    return asyncio.run(send())


def test_guard_refuses_every_route_but_health_without_the_key(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "sekrit")
    ok = Route("/{p:path}", lambda r: PlainTextResponse("ok"), methods=["GET", "POST", "OPTIONS"])
    inner = Starlette(routes=[ok])
    guarded = EngineKeyGuard(inner)
    refused = 0
    for path in PROBED:
        for method in ("GET", "POST", "OPTIONS"):
            expected = 200 if (method, path) == ("GET", "/health") else 401
            assert _status(guarded, method, path, None) == expected, (method, path)
            assert _status(guarded, method, path, "wrong") == expected, (method, path)
            refused += 2 * (expected == 401)
        assert _status(guarded, "POST", path, "sekrit") == 200
    record("faults", "engine: request without / with a wrong key", refused,
           unauthenticated_accepted=0)  # fmt: skip
    monkeypatch.delenv("VLLM_API_KEY")  # no key configured: fail closed
    assert _status(EngineKeyGuard(inner), "POST", "/v1/models", "") == 401


def test_inkwell_clients_send_the_workspace_key(ws: Workspace, scripted_upstream) -> None:
    from fastapi.testclient import TestClient

    from serving.proxy.app import create_app

    key = ensure_engine_key(ws)
    with engine_client(ws, scripted_upstream.url) as client:
        client.models()
    settings = ws.config.server.model_copy(update={"engine_url": scripted_upstream.url})
    with TestClient(create_app(ws, settings)) as proxy:
        body = {"model": "base", "messages": [{"role": "user", "content": "hi"}]}
        writer = {"authorization": "Bearer writer"}
        assert proxy.post("/v1/chat/completions", json=body, headers=writer).status_code == 200
    sent = [r for r in scripted_upstream.received() if r["path"].startswith("/v1/chat")]
    assert sent[-1]["headers"]["authorization"] == f"Bearer {key}"  # never the writer's
