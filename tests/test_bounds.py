"""Nothing the proxy keeps grows without bound: the trace file rotates, a stream that never ends
an event and a whole reply past the limit are cut off with an OpenAI error (never a 5xx from
the proxy itself hanging or a process out of memory). The engine is the STAND-IN
(benchmarks/harness/stand_in_engine.py, its "garbage" step)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from serving.foundation.workspace import init_workspace
from serving.proxy import streaming, upstream
from serving.proxy.app import create_app
from serving.proxy.trace import TraceRecord, TraceWriter, find_trace, rotated
from tests.reliability_counts import record

CHAT = {"model": "base", "messages": [{"role": "user", "content": "hi"}]}


def test_traces_rotate_and_stay_findable(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    writer = TraceWriter(path, max_bytes=4096, backups=3)
    for i in range(200):
        writer.write(TraceRecord(request_id=f"req-{i}", route="/v1/chat/completions"))
    writer.close()
    files = [path, *(rotated(path, i) for i in (1, 2, 3))]
    assert all(f.stat().st_size <= 4096 for f in files)
    assert not rotated(path, 4).exists()
    assert find_trace(path, "req-199")["request_id"] == "req-199"
    newest_rotated = rotated(path, 1).read_text().splitlines()[-1]
    assert find_trace(path, newest_rotated.split('"request_id":"')[1].split('"')[0])


def test_endless_event_and_oversized_reply_are_cut_off(
    tmp_path: Path, scripted_upstream, monkeypatch
) -> None:
    monkeypatch.setattr(streaming, "MAX_PENDING_BYTES", 256 * 1024)
    monkeypatch.setattr(upstream, "MAX_REPLY_BYTES", 256 * 1024)
    ws = init_workspace(tmp_path / "book")
    settings = ws.config.server.model_copy(update={"engine_url": scripted_upstream.url})
    with TestClient(create_app(ws, settings)) as proxy:
        scripted_upstream.script({"kind": "garbage", "bytes": 2_000_000})
        streamed = proxy.post("/v1/chat/completions", json={**CHAT, "stream": True})
        assert streamed.status_code == 200
        assert len(streamed.content) < 64 * 1024  # the garbage was never relayed
        assert streamed.text.endswith("data: [DONE]\n\n") and '"error"' in streamed.text
        scripted_upstream.script({"kind": "garbage", "bytes": 2_000_000})
        whole = proxy.post("/v1/chat/completions", json=CHAT)
        assert whole.status_code == 502
        assert whole.json()["error"]["code"] == "upstream_reply_too_large"
    record("faults", "engine: endless SSE event / oversized reply", 2, server_errors=0)
