"""The proxy as an editor meets it: the openai SDK in front, lore from the demo book's real Chroma
store (real embeddings) injected, and the scripted STAND-IN engine (tests/fixtures/upstream.py)
behind it, recording exactly what reached it."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import httpx
import openai
import pytest

from serving.foundation.workspace import Workspace, init_workspace
from serving.proxy.trace import find_trace
from serving.registry import AdapterRecord, Registry
from tests.fixtures.upstream import ScriptedUpstream, running_proxy

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_lore",
            "description": "Look up a fact in the story bible.",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
ASK_DRAY = "Write Captain Dray's answer when Benna asks about the reactor."


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The demo book with its lore indexed into a real on-disk Chroma store."""
    from rag import ingest, open_store

    ws = init_workspace(tmp_path_factory.mktemp("proxy") / "book", demo=True)
    report = ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store), progress=False)
    assert not report.errors
    return ws


@pytest.fixture(scope="module")
def proxy(book: Workspace, _scripted_upstream_process: ScriptedUpstream) -> str:
    with running_proxy(book, engine_url=_scripted_upstream_process.url) as url:
        yield url


@pytest.fixture
def client(proxy: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy, api_key="unused", max_retries=0)


def trace_of(ws: Workspace, request_id: str) -> dict:
    """The trace line is written after the last byte is sent; give it a moment."""
    deadline = time.monotonic() + 2
    while (trace := find_trace(ws.traces_path, request_id)) is None:
        assert time.monotonic() < deadline, f"no trace line for {request_id}"
        time.sleep(0.02)
    return trace


def last_body(upstream: ScriptedUpstream, path: str = "/v1/chat/completions") -> dict:
    return upstream.received(path)[-1]["body"]


def test_chat_gets_the_lore_block_and_every_other_field_untouched(client, book, scripted_upstream):
    messages = [
        {"role": "system", "content": "You are the author's co-writer."},
        {"role": "user", "content": ASK_DRAY},
    ]
    extras = {
        "repetition_penalty": 1.1,
        "vendor_knob": {"nested": [1, {"deep": None}], "flag": True},
        "inkwell": {"lore": True},
    }
    raw = client.chat.completions.with_raw_response.create(
        model="inkwell",
        messages=messages,
        tools=TOOLS,
        tool_choice="auto",
        logprobs=True,
        top_logprobs=2,
        temperature=0.7,
        extra_body=extras,
    )
    assert raw.parse().choices[0].message.content == "Once upon a time."

    sent = last_body(scripted_upstream)
    assert sent["model"] == "base"  # no live adapter yet: the alias means the base model
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert "You are the author's co-writer." in system["content"]
    assert "<inkwell-lore>" in system["content"] and "</inkwell-lore>" in system["content"]
    assert "Anselm Dray" in system["content"] and "Benedikta Ossory" in system["content"]
    assert sent["messages"][1:] == messages[1:]
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto"
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2 and sent["temperature"] == 0.7
    assert sent["repetition_penalty"] == 1.1 and sent["vendor_knob"] == extras["vendor_knob"]
    assert "inkwell" not in sent

    lore_ids = raw.headers["x-inkwell-lore"].split(",")
    trace = trace_of(book, raw.headers["x-inkwell-request-id"])
    assert [hit["id"] for hit in trace["lore"]] == lore_ids
    assert any("Dray" in hit["name"] for hit in trace["lore"])
    assert all(hit["why"] for hit in trace["lore"])
    assert trace["model"] == "inkwell" and trace["adapter"] is None and trace["status"] == 200
    assert trace["retrieval_ms"] > 0 and trace["upstream_ms"] > 0
    assert trace["tokens"]["completion_tokens"] == 4
    assert ASK_DRAY not in book.traces_path.read_text()  # the writer's text stays out of traces


def test_stream_reaches_the_client_while_the_engine_is_still_writing(client, scripted_upstream):
    text = "The lantern swung. Dray did not look up. Benna waited. Nobody spoke."
    scripted_upstream.script({"kind": "reply", "text": text, "chunks": 5, "delay": 0.3})
    arrivals: list[tuple[float, str]] = []
    with client.chat.completions.with_streaming_response.create(
        model="inkwell",
        messages=[{"role": "user", "content": ASK_DRAY}],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-inkwell-request-id"]
        assert response.headers["x-inkwell-lore"]
        usage = None
        for chunk in response.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append((time.time(), chunk.choices[0].delta.content))
            usage = chunk.usage or usage
    assert "".join(piece for _, piece in arrivals) == text
    assert usage is not None and usage.completion_tokens == 5  # stream_options passed through

    finished = scripted_upstream.received("/v1/chat/completions")[-1]["finished_at"]
    # The first words were on screen more than a second before the engine wrote its last ones.
    assert arrivals[0][0] < finished - 1.0
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) > 0.15, gaps  # relayed one by one, not buffered and flushed together


def test_tool_calls_pass_through_streamed_and_not(client, scripted_upstream):
    arguments = '{"q": "the Quiet Year"}'
    call = {"kind": "tool_call", "name": "lookup_lore", "arguments": arguments}
    scripted_upstream.script(call, call)
    messages = [{"role": "user", "content": "When was the Quiet Year?"}]

    reply = client.chat.completions.create(model="inkwell", messages=messages, tools=TOOLS)
    assert reply.choices[0].finish_reason == "tool_calls"
    tool_call = reply.choices[0].message.tool_calls[0]
    assert (tool_call.function.name, tool_call.function.arguments) == ("lookup_lore", arguments)

    streamed = [
        delta_call
        for chunk in client.chat.completions.create(
            model="inkwell", messages=messages, tools=TOOLS, stream=True
        )
        for delta_call in (chunk.choices[0].delta.tool_calls or [])
    ]
    assert streamed[0].function.name == "lookup_lore"
    assert streamed[0].function.arguments == arguments
    assert last_body(scripted_upstream)["tools"] == TOOLS


def test_completions_get_a_short_lore_prefix(client, book, scripted_upstream):
    prompt = "Benna wiped her ceramic hand on her overalls and said"
    for stream in (False, True):
        with client.completions.with_streaming_response.create(
            model="inkwell", prompt=prompt, max_tokens=16, stream=stream, suffix=" she said."
        ) as response:
            result = response.parse()
            text = "".join(c.choices[0].text for c in result) if stream else result.choices[0].text
        assert text == "Once upon a time."
        sent = last_body(scripted_upstream, "/v1/completions")
        assert sent["prompt"].startswith("<inkwell-lore>") and sent["prompt"].endswith(prompt)
        assert sent["suffix"] == " she said." and sent["max_tokens"] == 16
        trace = trace_of(book, response.headers["x-inkwell-request-id"])
        assert trace["lore"] and all(hit["name"] in sent["prompt"] for hit in trace["lore"])
        assert response.headers["x-inkwell-lore"] == ",".join(hit["id"] for hit in trace["lore"])


def test_lore_can_be_switched_off_per_request(client, proxy, scripted_upstream):
    messages = [{"role": "user", "content": ASK_DRAY}]
    by_header = client.chat.completions.with_raw_response.create(
        model="inkwell", messages=messages, extra_headers={"X-Inkwell-Lore": "off"}
    )
    assert by_header.headers["x-inkwell-lore"] == "off"
    assert last_body(scripted_upstream)["messages"] == messages

    by_field = httpx.post(
        proxy + "/chat/completions",
        json={"model": "inkwell", "messages": messages, "inkwell": {"lore": False}},
    )
    assert by_field.status_code == 200 and by_field.headers["x-inkwell-lore"] == "off"
    sent = last_body(scripted_upstream)
    assert sent["messages"] == messages and "inkwell" not in sent


def test_continue_context_provider_answers_lore_items(proxy):
    items = httpx.post(
        proxy.removesuffix("/v1") + "/context/lore",
        json={"query": "the Abbot", "fullInput": "@lore what does the Abbot drink?"},
    )
    assert items.status_code == 200
    found = {item["name"]: item for item in items.json()}
    dray = next(item for name, item in found.items() if "Dray" in name)
    assert "lemon" in dray["content"] and dray["description"]


def test_health_reports_engine_store_and_live_adapter(proxy):
    health = httpx.get(proxy.removesuffix("/v1") + "/health")
    assert health.status_code == 200
    report = health.json()
    assert report["status"] == "ok" and report["upstream"]["ok"] is True
    assert report["store"]["ok"] is True and report["store"]["entries"] > 10
    assert report["live_adapter"] is None


def test_model_aliases_follow_the_adapter_registry(empty_workspace, scripted_upstream):
    ws = empty_workspace
    (ws.adapters_dir / "voice-1").mkdir(parents=True)
    registry = Registry(ws.registry_path)
    with running_proxy(ws, engine_url=scripted_upstream.url) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        say = [{"role": "user", "content": "Go on."}]

        def routed(model: str) -> tuple[str, str]:
            raw = client.chat.completions.with_raw_response.create(model=model, messages=say)
            trace = trace_of(ws, raw.headers["x-inkwell-request-id"])
            return last_body(scripted_upstream)["model"], trace["adapter"]

        aliases = ["inkwell", "inkwell-live", "inkwell-best", "base"]
        assert [m.id for m in client.models.list()] == aliases
        assert routed("inkwell") == ("base", None)

        record = AdapterRecord(
            name="voice-1",
            path=str(Path(".inkwell/adapters/voice-1")),
            base_model="smollm2-135m",
            manifest_digest="0" * 64,
        )
        registry.add(record)
        assert routed("voice-1") == ("voice-1", "voice-1")  # a candidate, by its name
        assert routed("inkwell") == ("base", None)

        registry.promote("voice-1")
        assert routed("inkwell") == ("voice-1", "voice-1")
        assert routed("inkwell-live") == ("voice-1", "voice-1")
        assert routed("base") == ("base", None)
        cards = {m.id: m for m in client.models.list()}
        assert set(cards) == {*aliases, "voice-1"}
        assert cards["inkwell"].root == "voice-1"
        health = httpx.get(url.removesuffix("/v1") + "/health").json()
        assert health["live_adapter"] == "voice-1"

        with pytest.raises(openai.NotFoundError, match="voice-1"):
            client.chat.completions.create(model="gpt-4o", messages=say)
