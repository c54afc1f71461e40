"""Continue.dev end to end: the real Continue CLI (`cn -p`) with the config `inkwell continue
config` generated, against the real proxy (`inkwell serve`, a subprocess) and the real CPU vLLM
engine, on the demo book.

    cn ──▶ relay A ──▶ inkwell serve ──▶ relay B ──▶ vLLM

The two relays are TEST INSTRUMENTATION, not stand-ins: each forwards bytes unchanged and
records what passed, so the test can compare what `cn` sent with what the engine received.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rag import ingest, open_store
from serving.continue_config.cn import ensure_cn, run_cn
from serving.engine.key import write_engine_key
from serving.foundation.workspace import Workspace, init_workspace
from serving.proxy.trace import find_trace
from tests.fixtures.engine import free_port

pytestmark = pytest.mark.engine

INKWELL = [sys.executable, "-c", "from serving.cli.app import main; main()"]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length",
              "accept-encoding", "content-encoding", "upgrade", "te", "trailer"}  # fmt: skip
PROMPT = "In one sentence, who is Captain Anselm Dray?"
LORE_FACT = "silver-rimmed spectacles"  # from the demo lore entry on Captain Anselm Dray


@dataclass
class Exchange:
    path: str
    body: Any
    response_headers: dict[str, str] = field(default_factory=dict)


class RecordingRelay:
    """Forwards every request to `upstream` byte for byte (streams chunk by chunk) and keeps a
    copy of each request body and the response headers."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.exchanges: list[Exchange] = []
        relay = self
        client = httpx.Client(timeout=httpx.Timeout(600.0, connect=5.0))

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.forward("GET")

            def do_POST(self) -> None:
                self.forward("POST")

            def forward(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["accept-encoding"] = "identity"
                exchange = Exchange(self.path, json.loads(raw) if raw else None)
                relay.exchanges.append(exchange)
                url = relay.upstream + self.path
                with client.stream(method, url, content=raw, headers=headers) as response:
                    exchange.response_headers = dict(response.headers)
                    self.send_response(response.status_code)
                    for key, value in response.headers.items():
                        if key.lower() not in HOP_BY_HOP:
                            self.send_header(key, value)
                    self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                    for chunk in response.iter_raw():
                        self.wfile.write(chunk)
                        self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._client = client
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()

    def chats(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.endswith("/chat/completions")]


def run_inkwell(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [*INKWELL, *args], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert done.returncode == 0, f"inkwell {' '.join(args)} failed:\n{done.stderr}\n{done.stdout}"
    return done.stdout


@contextlib.contextmanager
def inkwell_serve(
    ws: Workspace, port: int, engine_url: str, log: Path, env: dict[str, str]
) -> Iterator[str]:
    """`inkwell serve` as a subprocess until /health answers; always stopped afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*INKWELL, "serve", "-w", str(ws.root), "--port", str(port),
             "--engine-url", engine_url],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, f"inkwell serve exited:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code < 500:
                    break
            assert time.monotonic() < deadline, f"proxy not up:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def set_server_port(ws: Workspace, port: int) -> Workspace:
    path = ws.root / "inkwell.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.setdefault("server", {})["port"] = port
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return Workspace.load(ws.root)


def system_text(body: dict) -> str:
    parts = []
    for message in body["messages"]:
        if message["role"] == "system":
            content = message["content"]
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content)
            parts.append(content)
    return "\n".join(parts)


@dataclass
class Stack:
    ws: Workspace
    config: Path  # the Continue config `inkwell continue config` wrote
    proxy_url: str  # where editors connect (relay A in front of the proxy)
    editor_side: RecordingRelay
    engine_side: RecordingRelay


@pytest.fixture(scope="module")
def stack(
    vllm_engine: str, vllm_engine_key: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The demo book indexed, its Continue config written, and `inkwell serve` running between
    the two relays in front of the real engine."""
    tmp = tmp_path_factory.mktemp("continue-e2e")
    env = {k: v for k, v in os.environ.items() if k != "INKWELL_API_KEY"}
    ws = init_workspace(tmp / "demo", demo=True)
    write_engine_key(ws, vllm_engine_key)  # `inkwell serve` talks to the test engine
    proxy_port = free_port()
    with (
        RecordingRelay(vllm_engine.removesuffix("/v1")) as engine_side,
        RecordingRelay(f"http://127.0.0.1:{proxy_port}") as editor_side,
    ):
        # Continue is configured for the proxy's address, where relay A listens.
        ws = set_server_port(ws, editor_side.port)
        report = ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store), progress=False)
        assert not report.errors
        config = tmp / "continue" / "config.yaml"
        run_inkwell("continue", "config", "-w", str(ws.root), "--path", str(config), env=env)
        engine_url = f"http://127.0.0.1:{engine_side.port}/v1"
        with inkwell_serve(ws, proxy_port, engine_url, tmp / "proxy.log", env):
            yield Stack(ws, config, f"http://127.0.0.1:{editor_side.port}/v1",
                        editor_side, engine_side)  # fmt: skip


def trace_of(ws: Workspace, request_id: str) -> dict:
    """The proxy writes the trace line after the last byte; give it a moment."""
    deadline = time.monotonic() + 5
    while (trace := find_trace(ws.traces_path, request_id)) is None:
        assert time.monotonic() < deadline, f"no trace line for {request_id}"
        time.sleep(0.05)
    return trace


def test_continue_cli_through_the_proxy_to_vllm(stack: Stack, tmp_path: Path) -> None:
    before_a, before_b = len(stack.editor_side.chats()), len(stack.engine_side.chats())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = run_cn(PROMPT, stack.config, tmp_path / "home", cwd=scratch, cn=ensure_cn())

    # The reply arrives.
    assert result.reply.strip(), f"empty reply; cn stderr:\n{result.stderr}"

    # cn's request went through the proxy; the engine got it with the lore block added.
    sent = stack.editor_side.chats()[before_a]
    received = stack.engine_side.chats()[before_b]
    assert sent.body["model"] == "inkwell-live"
    assert "<inkwell-lore>" not in system_text(sent.body)
    injected = system_text(received.body)
    assert "<inkwell-lore>" in injected and LORE_FACT in injected
    assert received.body["model"] == "base"  # no live adapter yet: the live alias is the base

    # The tool definitions cn sends reach the engine untouched, and so does the rest.
    assert sent.body["tools"], "cn sent no tools"
    assert received.body["tools"] == sent.body["tools"]
    untouched = {k: v for k, v in sent.body.items() if k not in ("messages", "model")}
    assert {k: received.body.get(k) for k in untouched} == untouched

    # The trace records the request and the lore it injected.
    trace = trace_of(stack.ws, sent.response_headers["x-inkwell-request-id"])
    assert trace["route"] == "/v1/chat/completions" and trace["status"] == 200
    assert trace["model"] == "inkwell-live"
    assert any("Anselm Dray" in hit["name"] for hit in trace["lore"]), trace["lore"]


def test_openai_sdk_session_through_the_proxy_to_vllm(stack: Stack) -> None:
    """What "other editors" do: a two-turn chat with the openai SDK, streamed and not."""
    import openai

    client = openai.OpenAI(base_url=stack.proxy_url, api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": "Describe Benedikta Ossory's left hand."}]
    first = client.chat.completions.with_raw_response.create(
        model="inkwell-live", messages=messages, max_tokens=40, temperature=0
    )
    reply = first.parse().choices[0].message.content
    assert reply
    trace = trace_of(stack.ws, first.headers["x-inkwell-request-id"])
    assert any("Ossory" in hit["name"] for hit in trace["lore"]), trace["lore"]
    assert "ceramic" in system_text(stack.engine_side.chats()[-1].body)

    messages += [
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "And what does she swear by?"},
    ]
    stream = client.chat.completions.create(
        model="base", messages=messages, max_tokens=40, temperature=0, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    received = stack.engine_side.chats()[-1].body
    assert [m["role"] for m in received["messages"]] == ["system", "user", "assistant", "user"]
    assert "<inkwell-lore>" in system_text(received)
