"""A STAND-IN for the vLLM engine, for the proxy tests (`scripted_upstream` fixture) and the proxy
benchmarks (overhead, load).

A small but real OpenAI-compatible HTTP server (Starlette + uvicorn) in its own process on a free
loopback port. It records every request it receives, and each request follows the next scripted
step (or the default step):

    {"kind": "reply", "text": "...", "chunks": 4, "delay": 0.0, "first_delay": 0.0}
    {"kind": "tool_call", "name": "lookup", "arguments": "{\\"q\\": \\"x\\"}"}
    {"kind": "error", "status": 400, "body": {...}}
    {"kind": "hang"}                  # never answers; records when the client goes away
    {"kind": "die", "after": 2}       # streams 2 chunks, then the process exits (os._exit)

Control routes live under /_control. `ScriptedUpstream` runs this file as a script in a child
process (`python benchmarks/stand_in_engine.py --port P`). The real engine is tested with
`vllm_engine`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

DEFAULT_STEP: dict[str, Any] = {"kind": "reply", "text": "Once upon a time.", "chunks": 4}


# ---------------------------------------------------------------------------------------------
# The server (runs in the child process).


def build_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    script: collections.deque[dict[str, Any]] = collections.deque()
    state: dict[str, Any] = {"default": dict(DEFAULT_STEP), "received": []}

    def chunk(kind: str, rid: str, model: str, payload: dict[str, Any]) -> bytes:
        obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
        event = {"id": rid, "object": obj, "created": int(time.time()), "model": model, **payload}
        return b"data: " + json.dumps(event).encode() + b"\n\n"

    def pieces(text: str, count: int) -> list[str]:
        count = max(1, count)
        size = max(1, -(-len(text) // count))
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    async def completion(request: Request) -> Response:
        raw = await request.body()
        kind = "chat" if request.url.path.endswith("/chat/completions") else "text"
        record: dict[str, Any] = {
            "path": request.url.path,
            "headers": dict(request.headers),
            "body": json.loads(raw) if raw else None,
            "received_at": time.time(),
            "finished_at": None,
            "disconnected": False,
        }
        state["received"].append(record)
        step = script.popleft() if script else state["default"]
        body = record["body"] or {}
        model = body.get("model", "base")
        stream = bool(body.get("stream"))
        rid = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{len(state['received'])}"

        if step["kind"] == "error":
            record["finished_at"] = time.time()
            return JSONResponse(step.get("body", {}), status_code=step.get("status", 500))
        if step["kind"] == "hang":
            deadline = time.monotonic() + step.get("max_s", 60)
            while time.monotonic() < deadline:
                if await request.is_disconnected():
                    record["disconnected"] = True
                    break
                await asyncio.sleep(0.02)
            return Response(status_code=499)

        if step["kind"] == "tool_call":
            call = {
                "id": "call_1",
                "type": "function",
                "function": {"name": step["name"], "arguments": step["arguments"]},
            }
            if not stream:
                record["finished_at"] = time.time()
                return JSONResponse(
                    {
                        "id": rid,
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {
                                    "role": "assistant",
                                    "content": None,
                                    "tool_calls": [call],
                                },
                                "finish_reason": "tool_calls",
                            }
                        ],
                        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
                    }
                )
            events = [
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "tool_calls": [{"index": 0, **call}]},
                            "finish_reason": None,
                        }
                    ]
                },
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
            ]
            texts: list[str] = []
        else:
            texts = pieces(step.get("text", DEFAULT_STEP["text"]), step.get("chunks", 4))
            if not stream:
                await asyncio.sleep(step.get("first_delay", 0.0))
                text = "".join(texts)
                choice: dict[str, Any] = (
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                    if kind == "chat"
                    else {"index": 0, "text": text, "finish_reason": "stop"}
                )
                record["finished_at"] = time.time()
                return JSONResponse(
                    {
                        "id": rid,
                        "object": "chat.completion" if kind == "chat" else "text_completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [choice],
                        "usage": {
                            "prompt_tokens": 12,
                            "completion_tokens": len(texts),
                            "total_tokens": 12 + len(texts),
                        },
                    }
                )
            if kind == "chat":
                events = [
                    {
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": t},
                                "finish_reason": None,
                            }
                        ]
                    }
                    for t in texts
                ]
                events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            else:
                events = [
                    {"choices": [{"index": 0, "text": t, "finish_reason": None}]} for t in texts
                ]
                events.append({"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                {
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 12,
                        "completion_tokens": len(texts),
                        "total_tokens": 12 + len(texts),
                    },
                }
            )

        async def generate() -> Any:
            completed = False
            try:
                for index, event in enumerate(events):
                    if step["kind"] == "die" and index == step.get("after", 1):
                        await asyncio.sleep(0.05)  # let the sent chunks leave the socket
                        os._exit(1)
                    delay = step.get("first_delay", 0.0) if index == 0 else step.get("delay", 0.0)
                    if delay:
                        await asyncio.sleep(delay)
                    if await request.is_disconnected():
                        return
                    yield chunk(kind, rid, model, event)
                yield b"data: [DONE]\n\n"
                completed = True
            finally:
                # Closed early: the client went away (a write failed or a disconnect was seen).
                record["disconnected"] = not completed
                record["finished_at"] = time.time()

        return StreamingResponse(generate(), media_type="text/event-stream")

    async def models(request: Request) -> Response:
        state["received"].append({"path": request.url.path, "body": None, "headers": {}})
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": "base", "object": "model", "created": 0, "owned_by": "vllm"}],
            }
        )

    async def anything(request: Request) -> Response:
        raw = await request.body()
        state["received"].append(
            {
                "path": request.url.path,
                "body": raw.decode(errors="replace"),
                "headers": dict(request.headers),
            }
        )
        return JSONResponse({"error": {"message": "stand-in: no such route"}}, status_code=404)

    async def control(request: Request) -> Response:
        action = request.path_params["action"]
        if action == "script":
            script.extend(await request.json())
        elif action == "default":
            state["default"] = await request.json()
        elif action == "reset":
            script.clear()
            state["received"].clear()
            state["default"] = dict(DEFAULT_STEP)
        elif action == "received":
            return JSONResponse(state["received"])
        return JSONResponse({"ok": True, "pid": os.getpid()})

    return Starlette(
        routes=[
            Route("/_control/{action}", control, methods=["GET", "POST"]),
            Route("/v1/chat/completions", completion, methods=["POST"]),
            Route("/v1/completions", completion, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/{path:path}", anything, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(
        build_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


# ---------------------------------------------------------------------------------------------
# The handle (runs in the test or benchmark process).


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScriptedUpstream:
    """Starts, scripts, inspects and restarts the stand-in engine process."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/v1"
        self.process: subprocess.Popen | None = None
        self.control = httpx.Client(base_url=self.root, timeout=10, trust_env=False)

    def start(self) -> ScriptedUpstream:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port)],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stand-in engine exited with {self.process.returncode}")
            try:
                self.control.post("/_control/ping").raise_for_status()
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("stand-in engine did not start within 30 s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> None:
        if not self.alive():
            self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait_dead(self, timeout: float = 5) -> None:
        assert self.process is not None
        self.process.wait(timeout=timeout)

    def script(self, *steps: dict[str, Any]) -> None:
        self.control.post("/_control/script", json=list(steps)).raise_for_status()

    def set_default(self, step: dict[str, Any]) -> None:
        self.control.post("/_control/default", json=step).raise_for_status()

    def reset(self) -> None:
        self.control.post("/_control/reset").raise_for_status()

    def received(self, path: str | None = None) -> list[dict[str, Any]]:
        records = self.control.get("/_control/received").json()
        return [r for r in records if path is None or r["path"] == path]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Stand-in engine for Inkwell's proxy tests.")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
