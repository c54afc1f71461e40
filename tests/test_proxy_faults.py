"""The proxy under faults and hostile input: every failure is a clear OpenAI-shaped error, fast,
and nothing hangs. The engine here is the scripted STAND-IN (tests/fixtures/upstream.py), so that
it can be made to hang, fail and die on cue; lore is not indexed in these workspaces."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from serving.engine.key import read_engine_key
from serving.proxy.trace import find_trace
from tests.fixtures.upstream import free_port, running_proxy

CHAT = {"model": "base", "messages": [{"role": "user", "content": "Write the next line."}]}


def assert_openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"] and error["code"]
    assert response.headers["x-inkwell-request-id"]
    return error


def test_malformed_bodies_get_400_or_422_naming_the_problem(empty_workspace, scripted_upstream):
    cases = [
        ("/chat/completions", b"{not json", 400, "not valid JSON"),
        ("/chat/completions", b"[1, 2]", 400, "JSON object"),
        ("/chat/completions", b'{"model": "base"}', 422, "messages"),
        ("/chat/completions", b'{"model": "base", "messages": []}', 422, "messages"),
        ("/chat/completions", b'{"model": 5, "messages": [{"role": "user"}]}', 422, "model"),
        ("/chat/completions", b'{"model": "base", "messages": [{"content": "x"}]}', 422, "role"),
        (
            "/chat/completions",
            b'{"model": "base", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
            422,
            "stream",
        ),
        (
            "/chat/completions",
            b'{"model": "base", "messages": [{"role": "user", "content": "x"}], '
            b'"inkwell": {"lore": "maybe"}}',
            422,
            "inkwell.lore",
        ),
        ("/completions", b'{"model": "base"}', 422, "prompt"),
        ("/completions", b'{"model": "base", "prompt": {"a": 1}}', 422, "prompt"),
    ]
    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        for path, body, status, named in cases:
            response = httpx.post(
                url + path, content=body, headers={"content-type": "application/json"}
            )
            error = assert_openai_error(response, status)
            assert named in error["message"], (body, error)
    assert scripted_upstream.received() == []


def test_oversized_bodies_are_refused_with_413(empty_workspace, scripted_upstream):
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}
    upstream = scripted_upstream.url
    with running_proxy(empty_workspace, engine_url=upstream, max_body_bytes=2048) as url:
        assert_openai_error(httpx.post(url + "/chat/completions", json=big), 413)

        def chunked():  # no Content-Length: the limit is enforced while reading
            for _ in range(10):
                yield b" " * 1000

        assert_openai_error(httpx.post(url + "/completions", content=chunked()), 413)
        assert httpx.post(url + "/chat/completions", json=CHAT).status_code == 200
    assert len(scripted_upstream.received("/v1/chat/completions")) == 1


def test_engine_down_answers_502_fast_and_health_says_so(empty_workspace):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with running_proxy(empty_workspace, engine_url=dead, connect_timeout_s=1.0) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        for stream in (False, True):
            started = time.monotonic()
            with pytest.raises(openai.APIStatusError) as failure:
                client.chat.completions.create(**CHAT, stream=stream)
            assert failure.value.status_code == 502
            assert "cannot reach the engine" in failure.value.message
            assert time.monotonic() - started < 2
        health = httpx.get(url.removesuffix("/v1") + "/health")
        assert health.status_code == 503
        assert health.json()["upstream"]["ok"] is False


def test_engine_that_never_answers_gives_504_not_a_hang(empty_workspace, scripted_upstream):
    with running_proxy(
        empty_workspace, engine_url=scripted_upstream.url, request_timeout_s=1.0
    ) as url:
        for stream in (False, True):
            scripted_upstream.script({"kind": "hang", "max_s": 10})
            started = time.monotonic()
            response = httpx.post(url + "/chat/completions", json={**CHAT, "stream": stream})
            error = assert_openai_error(response, 504)
            assert "did not answer in time" in error["message"]
            assert time.monotonic() - started < 4


def test_engine_killed_mid_stream_ends_with_an_error_event_then_recovers(
    empty_workspace, scripted_upstream
):
    scripted_upstream.script({"kind": "die", "after": 2, "delay": 0.05})
    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        with httpx.stream("POST", url + "/chat/completions", json={**CHAT, "stream": True}) as r:
            assert r.status_code == 200
            events = [line for line in r.iter_lines() if line.startswith("data:")]
        scripted_upstream.wait_dead()
        assert len(events) == 4, events  # two content chunks, the error, [DONE]
        assert '"content"' in events[0] and '"content"' in events[1]
        assert "mid-stream" in events[2] and '"error"' in events[2]
        assert events[3] == "data: [DONE]"

        # The openai SDK turns that event into an exception, not a silent truncation.
        scripted_upstream.ensure_running()
        scripted_upstream.script({"kind": "die", "after": 1})
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with pytest.raises(openai.APIError, match="mid-stream"):
            for _ in client.chat.completions.create(**CHAT, stream=True):
                pass
        scripted_upstream.wait_dead()

        # The engine comes back on the same port: the proxy serves again, no restart.
        scripted_upstream.ensure_running()
        reply = client.chat.completions.create(**CHAT)
        assert reply.choices[0].message.content == "Once upon a time."


def test_client_disconnect_cancels_the_engine_request(empty_workspace, scripted_upstream):
    def wait_disconnected() -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            records = scripted_upstream.received("/v1/chat/completions")
            if records and records[-1]["disconnected"]:
                return True
            time.sleep(0.05)
        return False

    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        slow = {"kind": "reply", "text": "word " * 40, "chunks": 40, "delay": 0.2}
        scripted_upstream.script(slow)
        with httpx.stream("POST", url + "/chat/completions", json={**CHAT, "stream": True}) as r:
            next(r.iter_raw())
        assert wait_disconnected(), "the engine kept generating for a client that left"

        scripted_upstream.reset()
        scripted_upstream.script({"kind": "hang", "max_s": 20})
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/chat/completions", json=CHAT, timeout=0.5)
        assert wait_disconnected(), "a non-streaming request outlived its client"


def test_engine_errors_reach_the_client_in_openais_shape(empty_workspace, scripted_upstream):
    """A refusal keeps its status and its words; the engine's own failure is a 502 (a 500
    would say the proxy broke)."""
    vllm_error = {
        "error": {
            "message": "max_tokens must be at most 8192",
            "type": "BadRequestError",
            "param": "max_tokens",
            "code": 400,
        }
    }
    scripted_upstream.script(
        {"kind": "error", "status": 400, "body": vllm_error},
        {"kind": "error", "status": 500, "body": {"detail": "boom"}},
    )
    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError, match="max_tokens must be at most 8192"):
            client.chat.completions.create(**CHAT, max_tokens=99999)
        response = httpx.post(url + "/chat/completions", json={**CHAT, "stream": True})
        error = assert_openai_error(response, 502)
        assert "the engine answered" in error["message"] and "boom" in error["message"]


def test_api_key_guards_every_route_but_health(empty_workspace, scripted_upstream, monkeypatch):
    secret = "s3cret-inkwell-key"
    monkeypatch.setenv("INKWELL_API_KEY", secret)
    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        root = url.removesuffix("/v1")
        for method, path in [
            ("GET", "/v1/models"),
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/completions"),
            ("POST", "/context/lore"),
            ("GET", "/openapi.json"),
        ]:
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": secret}):
                response = httpx.request(method, root + path, json=CHAT, headers=headers)
                assert_openai_error(response, 401)
                assert response.headers["www-authenticate"] == "Bearer"
        assert httpx.get(root + "/health").status_code == 200
        assert scripted_upstream.received("/v1/chat/completions") == []

        client = openai.OpenAI(base_url=url, api_key=secret, max_retries=0)
        reply = client.chat.completions.with_raw_response.create(**CHAT)
        assert reply.parse().choices[0].message.content == "Once upon a time."
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="nope", max_retries=0).models.list()

    sent = scripted_upstream.received("/v1/chat/completions")[0]
    # The engine gets the engine key only (serving.engine.key), never the writer's key.
    assert secret not in sent["headers"].get("authorization", ""), "the proxy's key leaked"
    assert sent["headers"]["authorization"] == f"Bearer {read_engine_key(empty_workspace)}"
    assert secret not in empty_workspace.traces_path.read_text()
    trace = find_trace(empty_workspace.traces_path, reply.headers["x-inkwell-request-id"])
    assert trace["status"] == 200


def test_engine_admin_routes_are_never_reachable(empty_workspace, scripted_upstream):
    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        for path in ("/load_lora_adapter", "/unload_lora_adapter"):
            body = {"lora_name": "evil", "lora_path": "/etc"}
            assert_openai_error(httpx.post(url + path, json=body), 404)
            assert httpx.get(url + path).status_code in (404, 405)
        # CORS is off by default: a browser page gets no permission to call the proxy.
        preflight = httpx.options(
            url + "/chat/completions",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
    assert [r["path"] for r in scripted_upstream.received()] == []


def test_beyond_the_concurrency_cap_the_proxy_answers_429(empty_workspace, scripted_upstream):
    """A client over the cap is told to come back, and when: Retry-After follows how long
    requests have been taking (here ~3 s each, one slot), not a fixed second."""
    scripted_upstream.set_default(
        {"kind": "reply", "text": "slow " * 10, "chunks": 10, "delay": 0.3}
    )
    with running_proxy(empty_workspace, engine_url=scripted_upstream.url, max_concurrency=1) as url:
        with httpx.stream(
            "POST", url + "/chat/completions", json={**CHAT, "stream": True}
        ) as first:
            chunks = first.iter_raw()  # kept alive: dropping the iterator would close the stream
            next(chunks)
            busy = httpx.post(url + "/chat/completions", json=CHAT)
            assert_openai_error(busy, 429)
            assert busy.headers["retry-after"] == "1"  # nothing finished yet: no estimate
            assert httpx.get(url + "/models").status_code == 200  # only work routes count
            list(chunks)
        with httpx.stream(
            "POST", url + "/chat/completions", json={**CHAT, "stream": True}
        ) as again:
            more = again.iter_raw()
            next(more)
            busy = httpx.post(url + "/chat/completions", json=CHAT)
            assert_openai_error(busy, 429)
            assert int(busy.headers["retry-after"]) >= 3


def test_serve_reports_a_taken_port_clearly(empty_workspace):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "inkwell"),
                "serve",
                "-w",
                str(empty_workspace.root),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_concurrent_requests_each_get_their_own_trace_line(empty_workspace, scripted_upstream):
    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        ids: list[str] = []

        def call() -> None:
            ids.append(
                httpx.post(url + "/chat/completions", json=CHAT).headers["x-inkwell-request-id"]
            )

        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = empty_workspace.traces_path.read_text().splitlines()
    assert len(lines) == 8 and len(set(ids)) == 8
    assert all(find_trace(empty_workspace.traces_path, rid)["status"] == 200 for rid in ids)


def test_cors_when_configured_allows_only_the_named_origins(
    empty_workspace, scripted_upstream, monkeypatch
):
    monkeypatch.setenv("INKWELL_API_KEY", "k")
    allowed = "http://localhost:5173"
    with running_proxy(
        empty_workspace, engine_url=scripted_upstream.url, cors_origins=[allowed]
    ) as url:

        def preflight(origin: str) -> httpx.Response:
            return httpx.options(
                url + "/chat/completions",
                headers={
                    "origin": origin,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "authorization,content-type",
                },
            )

        ok = preflight(allowed)  # answered before the key check: browsers send no key here
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == allowed
        assert preflight("https://evil.example").status_code == 400
        real = httpx.post(
            url + "/chat/completions",
            json=CHAT,
            headers={"origin": allowed, "authorization": "Bearer k"},
        )
        assert real.status_code == 200
        assert "x-inkwell-request-id" in real.headers["access-control-expose-headers"].lower()
