"""Hostile and random input against the real proxy: schemathesis drives every operation of its
OpenAPI schema (valid and invalid bodies), hypothesis drives the request models and raw bytes.
Whatever arrives, the answer is never a 500 and every error is in OpenAI's shape, so an editor
always shows the writer a message instead of a crash. The proxy runs under uvicorn on loopback
with the demo book's lore indexed (real Chroma, real embeddings), in front of the scripted
STAND-IN engine (benchmarks/harness/stand_in_engine.py), which answers every forwarded request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from schemathesis import GenerationMode

from serving.foundation.workspace import Workspace, init_workspace
from serving.proxy.errors import ProxyError
from serving.proxy.protocol import ChatCompletionRequest, CompletionRequest, parse_body
from tests.fixtures.upstream import ScriptedUpstream, running_proxy
from tests.reliability_counts import record

# Budget per CI run: 2,000+ schemathesis cases, ~600 more HTTP cases (engine faults included)
# and 400 in-process cases. Fresh random cases each run; any failure hypothesis finds is kept
# in the example database (committed), so every later run replays it first.
SCHEMA_EXAMPLES = 350  # per operation and generation mode
SCHEMA_CASES = 2_000
HTTP_EXAMPLES = 200
FAULT_EXAMPLES = 200
MODEL_EXAMPLES = 400
EXAMPLES_DB = Path(__file__).resolve().parent / "fuzz_examples"
FUZZ = settings(
    deadline=None,
    database=DirectoryBasedExampleDatabase(EXAMPLES_DB),
    suppress_health_check=list(HealthCheck),
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# Words that fire the test book's keyword triggers, so fuzzed messages reach retrieval.
lore_words = st.sampled_from(["Dray", "Benna", "the captain", "reactor", "ledgers"])
texts = st.text(max_size=200) | st.lists(lore_words, min_size=1, max_size=5).map(" ".join)
content = (
    texts
    | st.none()
    | st.lists(
        st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "x"])})
        | st.fixed_dictionaries({"type": st.just("text"), "text": texts | json_values})
        | json_values,
        max_size=4,
    )
    | json_values
)
messages = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["system", "user", "assistant", "tool", ""])
            | st.text(max_size=8)
        },
        optional={"content": content, "name": st.text(max_size=8), "tool_calls": json_values},
    )
    | json_values,
    max_size=5,
)
inkwell_options = (
    st.fixed_dictionaries(
        {},
        optional={"lore": json_values, "chapter": st.integers(-(2**63), 2**63 - 1) | json_values},
    )
    | json_values
)
chat_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["inkwell", "inkwell-live", "base", "nope"]), "messages": messages},
    optional={
        "stream": st.booleans() | json_values,
        "inkwell": inkwell_options,
        "tools": json_values,
        "stream_options": json_values,
        "max_tokens": json_values,
    },
)
completion_bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["inkwell", "base"]) | json_values,
        "prompt": texts
        | st.lists(texts, max_size=3)
        | st.lists(st.integers(0, 50_000), max_size=5)
        | json_values,
    },
    optional={"stream": st.booleans(), "inkwell": inkwell_options, "echo": json_values},
)


def assert_openai_error(status: int, body: bytes) -> None:
    """The proxy's contract: below 500, and every error is {"error": {message, type, param,
    code}} with a message a person can read."""
    assert status < 500, body[:500]
    if status < 400:
        return
    payload = orjson.loads(body)
    assert set(payload) == {"error"}, payload
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"].strip()
    assert isinstance(error["type"], str) and error["type"]


LORE = """\
## Captain Dray
keys: Dray, the captain

Anselm Dray commands the Belfry and never speaks of the reactor.

## Benna
keys: Benna

Benna keeps the ledgers and asks too many questions.
"""


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A book with a small indexed lore file (real Chroma, real embeddings): enough for keyword
    and vector retrieval to run on every fuzzed message, without the demo book's ingest time."""
    from rag import ingest, open_store

    ws = init_workspace(tmp_path_factory.mktemp("fuzz") / "book")
    (ws.lore_dir / "people.md").write_text(LORE, encoding="utf-8")
    report = ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store), progress=False)
    assert report.added == 2 and not report.errors
    return ws


@pytest.fixture(scope="module")
def proxy(book: Workspace, _scripted_upstream_process: ScriptedUpstream) -> str:
    _scripted_upstream_process.ensure_running()
    _scripted_upstream_process.reset()
    with running_proxy(
        book, engine_url=_scripted_upstream_process.url, max_body_bytes=64_000
    ) as url:
        yield url.removesuffix("/v1")


def test_schemathesis_every_operation_valid_and_invalid_bodies(proxy):
    schema = schemathesis.openapi.from_url(proxy + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert {"/v1/chat/completions", "/v1/completions", "/context/lore", "/health"} <= paths
    ran: dict[str, int] = {}
    with httpx.Client(base_url=proxy, timeout=30) as client:

        def fuzz(operation: Any, mode: GenerationMode) -> None:
            @settings(FUZZ, max_examples=SCHEMA_EXAMPLES)
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                kwargs = case.as_transport_kwargs(base_url=proxy)
                response = client.request(
                    kwargs["method"],
                    kwargs["url"],
                    headers=kwargs.get("headers"),
                    params=kwargs.get("params"),
                    content=_content(kwargs),
                )
                ran[operation.label] = ran.get(operation.label, 0) + 1
                assert_openai_error(response.status_code, response.content)
                if response.status_code == 200 and operation.path != "/health":
                    operation.validate_response(response)

            check()

        for operation in operations:
            fuzz(operation, GenerationMode.POSITIVE)
            if operation.method.upper() == "POST":  # GETs take no input to get wrong
                fuzz(operation, GenerationMode.NEGATIVE)
    print(f"schemathesis cases: {ran}")
    record(
        "fuzz",
        "schemathesis: every operation, valid and invalid",
        sum(ran.values()),
        server_errors=0,
    )
    assert sum(ran.values()) >= SCHEMA_CASES


def _content(kwargs: dict[str, Any]) -> bytes | None:
    """The request body schemathesis built, as bytes (JSON bodies arrive as Python values)."""
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode()  # json: integers of any size
    data = kwargs.get("data")
    return data.encode() if isinstance(data, str) else data


def test_random_chat_and_completion_bodies_over_http(proxy):
    counted = {"cases": 0, "forwarded": 0}
    with httpx.Client(base_url=proxy, timeout=30) as client:

        @settings(FUZZ, max_examples=HTTP_EXAMPLES)
        @given(
            route=st.sampled_from(["/v1/chat/completions", "/v1/completions"]),
            chat=chat_bodies,
            completion=completion_bodies,
        )
        def check(route: str, chat: dict, completion: dict) -> None:
            body = chat if route.endswith("chat/completions") else completion
            response = client.post(route, content=orjson.dumps(body))
            counted["cases"] += 1
            counted["forwarded"] += response.status_code == 200
            assert_openai_error(response.status_code, response.content)
            assert response.headers["x-inkwell-request-id"]

        check()
    print(f"http fuzz: {counted}")
    assert counted["forwarded"] > 0  # some cases were valid and went all the way through


def test_raw_bytes_and_broken_json_never_crash_the_proxy(proxy):
    with httpx.Client(base_url=proxy, timeout=30) as client:

        @settings(FUZZ, max_examples=HTTP_EXAMPLES // 2)
        @given(
            route=st.sampled_from(["/v1/chat/completions", "/v1/completions", "/context/lore"]),
            raw=st.binary(max_size=300)
            | json_values.map(orjson.dumps)
            | st.text(max_size=100).map(lambda t: ('{"model": "base", "messages": ' + t).encode()),
            content_type=st.sampled_from(["application/json", "text/plain", "", "x/\u00ff"]),
        )
        def check(route: str, raw: bytes, content_type: str) -> None:
            headers = {"content-type": content_type.encode("latin-1")}
            response = client.post(route, content=raw, headers=headers)
            assert_openai_error(response.status_code, response.content)

        check()
        assert client.get("/health").json()["store"]["ok"] is True  # still up and serving


@pytest.mark.parametrize("model", [ChatCompletionRequest, CompletionRequest])
def test_request_models_accept_or_refuse_with_400_or_422(model):
    bodies = chat_bodies if model is ChatCompletionRequest else completion_bodies

    @settings(FUZZ, max_examples=MODEL_EXAMPLES // 2)
    @given(body=bodies | json_values)
    def check(body: Any) -> None:
        raw = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
        try:
            data, parsed = parse_body(raw, model)
        except ProxyError as refused:
            assert refused.status in (400, 422)
            assert refused.message
            return
        assert data == orjson.loads(raw)  # the forwarded dict is the body as sent
        assert parsed.model and isinstance(parsed.stream, bool)

    check()


# What a broken engine can do: refuse, fail, answer garbage, stall between chunks.
engine_faults = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.just("error"),
            "status": st.sampled_from([400, 401, 404, 422, 429, 500, 502, 503]),
            "body": st.just({"error": {"message": "engine says no"}})
            | st.dictionaries(
                st.text(max_size=8), st.text(max_size=30) | st.integers(), max_size=3
            ),
        }
    ),
    st.fixed_dictionaries({"kind": st.just("garbage"), "bytes": st.integers(0, 5000)}),
    st.fixed_dictionaries(
        {
            "kind": st.just("reply"),
            "text": st.text(max_size=80),
            "chunks": st.integers(1, 8),
            "delay": st.floats(0, 0.02),
        }
    ),
)


def test_engine_faults_never_become_a_proxy_crash(book: Workspace, scripted_upstream):
    """Whatever the engine does, the writer gets a well-formed answer: the reply, or an
    OpenAI-shaped error (502/503/504 for the engine's own failures), never a 500 of ours;
    a stream ends with [DONE] or an error event."""
    with (
        running_proxy(book, engine_url=scripted_upstream.url) as url,
        httpx.Client(base_url=url.removesuffix("/v1"), timeout=30) as client,
    ):

        @settings(FUZZ, max_examples=FAULT_EXAMPLES)
        @given(fault=engine_faults, stream=st.booleans(), words=texts)
        def check(fault: dict, stream: bool, words: str) -> None:
            scripted_upstream.script(fault)
            body = {
                "model": "base",
                "stream": stream,
                "messages": [{"role": "user", "content": words or "Dray"}],
            }
            response = client.post("/v1/chat/completions", json=body)
            assert response.status_code != 500, response.content[:300]
            if response.status_code >= 400 or not stream:
                assert_openai_error(min(response.status_code, 499), response.content)
                return
            tail = response.content.rstrip().rsplit(b"\n", 1)[-1]
            assert tail == b"data: [DONE]" or b'"error"' in tail, response.content[-300:]

        check()
    record("fuzz", "engine faults: errors, garbage, slow streams", FAULT_EXAMPLES, server_errors=0)
