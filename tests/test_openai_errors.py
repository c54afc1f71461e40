"""What OpenAI clients read from the proxy: error `type` values that OpenAI itself sends, and a
model list without retired adapters. The engine is the STAND-IN (benchmarks/harness)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from serving.foundation.workspace import init_workspace
from serving.proxy.app import create_app
from serving.registry import hotload
from tests.fixtures.upstream import free_port
from tests.test_registry_races import fake_adapter

CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def test_error_types_are_openais_and_retired_adapters_are_not_listed(
    tmp_path: Path, scripted_upstream, monkeypatch
) -> None:
    ws = init_workspace(tmp_path / "book")
    for name in ("old", "new"):
        fake_adapter(ws, name)
        hotload.registry_for(ws).add(hotload.record_for_run(ws, name))
        hotload.promote(ws, None, name)  # old is retired when new goes live
    settings = ws.config.server.model_copy(update={"engine_url": scripted_upstream.url})
    with TestClient(create_app(ws, settings)) as proxy:
        ids = [card["id"] for card in proxy.get("/v1/models").json()["data"]]
        assert ids == ["inkwell", "inkwell-live", "inkwell-best", "base", "new"]
        assert proxy.post("/v1/chat/completions", json={**CHAT, "model": "old"}).status_code == 200
        error = proxy.post("/v1/chat/completions", json={**CHAT, "model": "gpt-4o"}).json()
        assert (error["error"]["type"], error["error"]["code"]) == (
            "invalid_request_error", "model_not_found"
        )  # fmt: skip
        bad = proxy.post("/v1/chat/completions", content=b"{").json()["error"]
        assert bad["type"] == "invalid_request_error"
    down = settings.model_copy(update={"engine_url": f"http://127.0.0.1:{free_port()}/v1"})
    with TestClient(create_app(ws, down)) as proxy:
        error = proxy.post("/v1/chat/completions", json={**CHAT, "model": "base"})
        assert error.status_code == 502 and error.json()["error"]["type"] == "server_error"
    monkeypatch.setenv(settings.api_key_env, "writer-key")
    with TestClient(create_app(ws, settings)) as proxy:
        refused = proxy.get("/v1/models").json()["error"]
        assert (refused["type"], refused["code"]) == ("invalid_request_error", "invalid_api_key")
