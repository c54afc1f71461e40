"""The engine dies under a full house: every open stream ends cleanly, the proxy stays up, and it
serves again as soon as the engine is back. (test_proxy_faults.py covers one stream dying; this
is the many-writers case.) The engine is the scripted STAND-IN
(benchmarks/harness/stand_in_engine.py), killed for real (os._exit in its process) in the
middle of the streams."""

from __future__ import annotations

import threading
import time

import httpx

from serving.proxy.trace import find_trace
from tests.fixtures.upstream import running_proxy

CHAT = {"model": "base", "messages": [{"role": "user", "content": "Write on."}], "stream": True}
STREAMS = 8


def test_engine_killed_under_many_open_streams(empty_workspace, scripted_upstream):
    # Long enough (40 s) that every stream is still open when the engine dies, however slow
    # the machine; the streams must end within seconds of the death, not at their natural end.
    slow = {"kind": "reply", "text": "word " * 400, "chunks": 400, "delay": 0.1}
    scripted_upstream.set_default(slow)
    results: dict[int, dict] = {}
    started = threading.Barrier(STREAMS)  # the first chunk of every stream has arrived

    def stream(index: int, url: str) -> None:
        events: list[str] = []
        with httpx.stream("POST", url + "/chat/completions", json=CHAT, timeout=30) as r:
            results[index] = {"status": r.status_code, "id": r.headers["x-inkwell-request-id"]}
            for line in r.iter_lines():
                if line.startswith("data:"):
                    events.append(line)
                    if len(events) == 1 and index < STREAMS - 1:
                        started.wait(timeout=20)
        results[index].update(events=events, ended=time.monotonic())

    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        threads = [threading.Thread(target=stream, args=(i, url)) for i in range(STREAMS - 1)]
        for thread in threads:
            thread.start()
        while started.n_waiting < STREAMS - 1:  # all seven are mid-stream
            time.sleep(0.02)
        scripted_upstream.script({"kind": "die", "after": 1})
        last = threading.Thread(target=stream, args=(STREAMS - 1, url))
        last.start()
        started.wait(timeout=20)
        scripted_upstream.wait_dead(timeout=30)
        died = time.monotonic()
        for thread in [*threads, last]:
            thread.join(timeout=30)

        root = url.removesuffix("/v1")
        assert len(results) == STREAMS
        for result in results.values():
            events = result["events"]
            assert result["status"] == 200
            assert events[-1] == "data: [DONE]", events[-3:]
            assert '"error"' in events[-2] and "mid-stream" in events[-2], events[-2]
            assert all('"error"' not in e for e in events[:-2])  # no half event before it
            assert len(events) < 400  # cut short, not replayed
            assert result["ended"] - died < 5  # nobody hung on the dead engine

        down = httpx.get(root + "/health")
        assert down.status_code == 503 and down.json()["upstream"]["ok"] is False
        refused = httpx.post(url + "/chat/completions", json={**CHAT, "stream": False})
        assert refused.status_code == 502
        assert "cannot reach the engine" in refused.json()["error"]["message"]

        scripted_upstream.ensure_running()  # the engine is back on the same port
        assert httpx.get(root + "/health").status_code == 200
        with httpx.stream("POST", url + "/chat/completions", json=CHAT) as r:
            events = [line for line in r.iter_lines() if line.startswith("data:")]
        assert events[-1] == "data: [DONE]" and all('"error"' not in e for e in events)

    for result in results.values():
        trace = find_trace(empty_workspace.traces_path, result["id"])
        assert trace["status"] == 200
        assert trace["error"].startswith("engine failed mid-stream"), trace
