"""Hot-loading real LoRA adapters into the real vLLM engine, and what the registry and the
proxy's `inkwell-live` alias do with them."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import httpx
import pytest

from serving.engine import AdapterLoadError, EngineClient
from serving.engine.key import engine_key_path, read_engine_key, write_engine_key
from serving.engine.service import read_state
from serving.foundation.workspace import Workspace, init_workspace
from serving.registry import hotload
from tests.fixtures.engine import UpStack, build_lora_adapter
from tests.reliability_counts import record

pytestmark = pytest.mark.engine

PROMPT = [{"role": "user", "content": "Describe the harbour at dawn in two sentences."}]


@pytest.fixture(scope="module")
def book(
    tmp_path_factory: pytest.TempPathFactory, base_model_path: Path, vllm_engine_key: str
) -> Workspace:
    ws = init_workspace(tmp_path_factory.mktemp("engine") / "book")
    write_engine_key(ws, vllm_engine_key)  # the proxy of this book talks to the test engine
    for name, seed in (("style-a", 1), ("style-b", 2)):
        build_lora_adapter(base_model_path, ws.adapters_dir / name, seed=seed)
    return ws


@pytest.fixture
def client(vllm_engine: str, vllm_engine_key: str):
    with EngineClient(vllm_engine, api_key=vllm_engine_key) as engine:
        yield engine


def greedy(client: EngineClient, model: str) -> str:
    reply = client.chat({"model": model, "messages": PROMPT, "max_tokens": 32, "temperature": 0})
    return reply["choices"][0]["message"]["content"]


def test_adapter_hot_loads_and_changes_the_output(book: Workspace, client: EngineClient) -> None:
    record = hotload.load(book, client, "style-a")
    assert record.state == "candidate"
    assert client.loaded_adapters()["style-a"] == str(book.adapters_dir / "style-a")
    assert greedy(client, "style-a") != greedy(client, "base")
    # Loading again is harmless, and unloading takes it out of the engine but not the registry.
    hotload.load(book, client, "style-a")
    hotload.unload(book, client, "style-a")
    assert "style-a" not in client.loaded_adapters()
    assert hotload.registry_for(book).get("style-a").state == "candidate"


def test_failed_load_changes_nothing(book: Workspace, client: EngineClient) -> None:
    hotload.load(book, client, "style-a")
    registry_before = book.registry_path.read_bytes()
    broken = book.adapters_dir / "broken"
    shutil.copytree(book.adapters_dir / "style-b", broken)
    (broken / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(AdapterLoadError, match="broken"):
        hotload.load(book, client, "broken")
    assert book.registry_path.read_bytes() == registry_before
    assert "broken" not in client.loaded_adapters()
    # The engine still serves what it served.
    assert greedy(client, "style-a")


def test_promotion_and_rollback_switch_what_inkwell_live_answers(
    book: Workspace, client: EngineClient, vllm_engine: str
) -> None:
    from fastapi.testclient import TestClient

    from serving.proxy.app import create_app

    hotload.load(book, client, "style-a")
    hotload.load(book, client, "style-b")
    expected = {name: greedy(client, name) for name in ("base", "style-a", "style-b")}
    assert len(set(expected.values())) == 3

    settings = book.config.server.model_copy(update={"engine_url": vllm_engine})
    with TestClient(create_app(book, settings)) as proxy:

        def live_answer() -> str:
            response = proxy.post(
                "/v1/chat/completions",
                json={"model": "inkwell-live", "messages": PROMPT, "max_tokens": 32,
                      "temperature": 0},
            )  # fmt: skip
            assert response.status_code == 200, response.text
            return response.json()["choices"][0]["message"]["content"]

        assert live_answer() == expected["base"]
        hotload.promote(book, client, "style-a")
        assert live_answer() == expected["style-a"]
        hotload.promote(book, client, "style-b")
        assert live_answer() == expected["style-b"]
        assert hotload.rollback(book, client).name == "style-a"
        assert live_answer() == expected["style-a"]


def test_engine_start_loads_live_and_candidates_again(
    book: Workspace, client: EngineClient
) -> None:
    """What `inkwell engine start` does once vLLM is up: a fresh engine has no adapters."""
    hotload.load(book, client, "style-a")
    hotload.load(book, client, "style-b")
    registry = hotload.registry_for(book)
    if registry.live() is None or registry.live().name != "style-a":
        hotload.promote(book, client, "style-a")
    hotload.promote(book, client, "style-b")  # style-a is retired
    for name in list(client.loaded_adapters()):
        client.unload_adapter(name)
    assert hotload.reload_registered(book, client) == []
    loaded = client.loaded_adapters()
    assert "style-b" in loaded  # live
    assert "style-a" not in loaded  # retired


def test_engine_refuses_requests_without_its_key(
    vllm_engine: str, book: Workspace, client: EngineClient
) -> None:
    """No local process or web page can drive the engine: every route but /health needs the
    key, the runtime LoRA routes and vLLM's /invocations included; no CORS grant."""
    root = vllm_engine.removesuffix("/v1")
    adapter = {"lora_name": "intruder", "lora_path": str(book.adapters_dir / "style-a")}
    probes = [
        ("GET", "/v1/models", None),
        ("POST", "/v1/load_lora_adapter", adapter),
        ("POST", "/v1/unload_lora_adapter", {"lora_name": "style-a"}),
        ("POST", "/invocations", {"model": "base", "prompt": "x", "max_tokens": 1}),
        ("POST", "/tokenize", {"model": "base", "prompt": "x"}),
        ("GET", "/metrics", None),
    ]
    with httpx.Client(base_url=root, trust_env=False, timeout=30) as anonymous:
        for method, path, body in probes:
            for headers in ({}, {"authorization": "Bearer guessed"}):
                response = anonymous.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (path, response.text)
        preflight = anonymous.options(
            "/v1/chat/completions",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert anonymous.get("/health").status_code == 200
    assert "intruder" not in client.loaded_adapters()
    record("faults", "real vLLM: request without / with a wrong key", 2 * len(probes),
           unauthenticated_accepted=0)  # fmt: skip


def test_inkwell_up_serves_end_to_end_behind_the_engine_key(inkwell_up: UpStack) -> None:
    """`inkwell up` (the session engine is its engine, see tests/fixtures/engine.py) generated
    the engine key into the workspace state (mode 0600, not on the engine's command line); a
    chat through its proxy works, with the lore it indexed; the engine's own port refuses a
    chat without the key or with a wrong one, and answers one with the workspace's key."""
    ws = inkwell_up.ws
    key = read_engine_key(ws)
    assert key is not None and stat.S_IMODE(engine_key_path(ws).stat().st_mode) == 0o600
    state = read_state(ws)
    assert state is not None and key.encode() not in Path(f"/proc/{state.pid}/cmdline").read_bytes()
    question = [{"role": "user", "content": "Who is Captain Dray?"}]
    body = {"messages": question, "max_tokens": 8, "temperature": 0}
    with httpx.Client(trust_env=False, timeout=300) as http:
        reply = http.post(
            f"{inkwell_up.proxy_url}/chat/completions", json={**body, "model": "inkwell-live"}
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"]
        assert "captain-dray" in reply.headers["x-inkwell-lore"].split(",")

        direct = f"{inkwell_up.engine_url}/chat/completions"
        for headers in ({}, {"authorization": "Bearer not-the-key"}):
            refused = http.post(direct, json={**body, "model": "base"}, headers=headers)
            assert refused.status_code == 401, refused.text
        accepted = http.post(
            direct, json={**body, "model": "base"}, headers={"authorization": f"Bearer {key}"}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["choices"][0]["message"]["content"]
    record("faults", "inkwell up: engine chat without / with a wrong key", 2,
           unauthenticated_accepted=0)  # fmt: skip
