"""A STAND-IN for the vLLM engine (which needs a GPU or minutes on a CPU), for the proxy tests
(`scripted_upstream` fixture) and the proxy benchmarks (overhead, load).

A small but real OpenAI-compatible HTTP server (Starlette + uvicorn) in its own process on a free
loopback port. It records every request it receives, and each request follows the next scripted
step (or the default step):

    {"kind": "reply", "text": "...", "chunks": 4, "delay": 0.0, "first_delay": 0.0}
    {"kind": "reply", "texts": ["first", "second"]}   # one text per choice when the body has n
    {"kind": "tool_call", "name": "lookup", "arguments": "{\\"q\\": \\"x\\"}"}
    {"kind": "error", "status": 400, "body": {...}}
    {"kind": "hang"}                  # never answers; records when the client goes away
    {"kind": "die", "after": 2}       # streams 2 chunks, then the process exits (os._exit)
    {"kind": "garbage", "bytes": 1000} # 200 with bytes that are neither JSON nor SSE events

Control routes live under /_control. `ScriptedUpstream` (benchmarks.harness.scripted) runs this
file as a script in a child process. The real engine is tested with `vllm_engine`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_STEP: dict[str, Any] = {"kind": "reply", "text": "Once upon a time.", "chunks": 4}
PROMPT_TOKENS = 12


@dataclass
class Script:
    """What the next requests get, and what every request looked like."""

    steps: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)
    default: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_STEP))
    received: list[dict[str, Any]] = field(default_factory=list)
    adapters: dict[str, str] = field(default_factory=dict)  # runtime LoRA: name -> path

    def next_step(self) -> dict[str, Any]:
        return self.steps.popleft() if self.steps else self.default


@dataclass(frozen=True)
class Call:
    """One completion request as the stand-in sees it."""

    kind: str  # "chat" or "text"
    rid: str
    model: str
    stream: bool
    choices: int
    usage: bool  # stream_options.include_usage

    def event(self, payload: dict[str, Any]) -> bytes:
        obj = "chat.completion.chunk" if self.kind == "chat" else "text_completion"
        body = {"id": self.rid, "object": obj, "created": int(time.time()), "model": self.model}
        return b"data: " + json.dumps({**body, **payload}).encode() + b"\n\n"

    def whole(self, choices: list[dict[str, Any]], completion_tokens: int) -> JSONResponse:
        return JSONResponse(
            {
                "id": self.rid,
                "object": "chat.completion" if self.kind == "chat" else "text_completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": choices,
                "usage": usage(completion_tokens),
            }
        )


def usage(completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion_tokens,
        "total_tokens": PROMPT_TOKENS + completion_tokens,
    }


def pieces(text: str, count: int) -> list[str]:
    count = max(1, count)
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def choice_texts(step: dict[str, Any], choices: int) -> list[str]:
    """One text per choice: the step's `texts` in turn, else its `text` for every choice."""
    texts = step.get("texts") or [step.get("text", DEFAULT_STEP["text"])]
    return [texts[i % len(texts)] for i in range(choices)]


def tool_call(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": step["name"], "arguments": step["arguments"]},
    }


def tool_call_reply(call: Call, step: dict[str, Any]) -> JSONResponse:
    message = {"role": "assistant", "content": None, "tool_calls": [tool_call(step)]}
    return call.whole([{"index": 0, "message": message, "finish_reason": "tool_calls"}], 5)


def tool_call_events(step: dict[str, Any]) -> list[dict[str, Any]]:
    delta = {"role": "assistant", "tool_calls": [{"index": 0, **tool_call(step)}]}
    return [
        {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]


def text_reply(call: Call, step: dict[str, Any]) -> JSONResponse:
    texts = choice_texts(step, call.choices)
    if call.kind == "chat":
        choices = [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ]
    else:
        choices = [{"index": i, "text": t, "finish_reason": "stop"} for i, t in enumerate(texts)]
    tokens = sum(len(pieces(t, step.get("chunks", 4))) for t in texts)
    return call.whole(choices, tokens)


def text_events(call: Call, step: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The stream of every choice, piece by piece, then each choice's stop; and the tokens."""
    events, tokens = [], 0
    for index, text in enumerate(choice_texts(step, call.choices)):
        for piece in pieces(text, step.get("chunks", 4)):
            tokens += 1
            events.append({"choices": [_delta(call, index, piece, None)]})
    events.extend({"choices": [_delta(call, index, "", "stop")]} for index in range(call.choices))
    return events, tokens


def _delta(call: Call, index: int, text: str, finish: str | None) -> dict[str, Any]:
    if call.kind == "chat":
        delta = {"role": "assistant", "content": text} if finish is None else {}
        return {"index": index, "delta": delta, "finish_reason": finish}
    return {"index": index, "text": text, "finish_reason": finish}


async def hang(request: Request, record: dict[str, Any], step: dict[str, Any]) -> Response:
    deadline = time.monotonic() + step.get("max_s", 60)
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            record["disconnected"] = True
            break
        await asyncio.sleep(0.02)
    return Response(status_code=499)


def stream_events(
    request: Request, call: Call, step: dict[str, Any], events: list, record: dict[str, Any]
) -> StreamingResponse:
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
                yield call.event(event)
            yield b"data: [DONE]\n\n"
            completed = True
        finally:
            # Closed early: the client went away (a write failed or a disconnect was seen).
            record["disconnected"] = not completed
            record["finished_at"] = time.time()

    return StreamingResponse(generate(), media_type="text/event-stream")


def garbage(call: Call, step: dict[str, Any]) -> Response:
    """A broken engine: a 200 whose body is no JSON and, streamed, never ends an event."""
    size = int(step.get("bytes", 1000))
    media = "text/event-stream" if call.stream else "application/json"

    async def chunks() -> Any:
        for start in range(0, size, 65536):
            yield b"\x00garbage{" * (min(65536, size - start) // 9 + 1)

    return StreamingResponse(chunks(), media_type=media)


def record_request(script: Script, request: Request, raw: bytes) -> dict[str, Any]:
    record: dict[str, Any] = {
        "path": request.url.path,
        "headers": dict(request.headers),
        "body": json.loads(raw) if raw else None,
        "received_at": time.time(),
        "finished_at": None,
        "disconnected": False,
    }
    script.received.append(record)
    return record


def parse_call(script: Script, request: Request, body: dict[str, Any]) -> Call:
    kind = "chat" if request.url.path.endswith("/chat/completions") else "text"
    prefix = "chatcmpl" if kind == "chat" else "cmpl"
    return Call(
        kind=kind,
        rid=f"{prefix}-{len(script.received)}",
        model=body.get("model", "base"),
        stream=bool(body.get("stream")),
        choices=max(1, int(body.get("n") or 1)),
        usage=isinstance(options := body.get("stream_options"), dict)
        and bool(options.get("include_usage")),
    )


async def completion(script: Script, request: Request) -> Response:
    record = record_request(script, request, await request.body())
    step = script.next_step()
    call = parse_call(script, request, record["body"] or {})
    if step["kind"] == "error":
        record["finished_at"] = time.time()
        return JSONResponse(step.get("body", {}), status_code=step.get("status", 500))
    if step["kind"] == "hang":
        return await hang(request, record, step)
    if step["kind"] == "garbage":
        record["finished_at"] = time.time()
        return garbage(call, step)
    if not call.stream:
        await asyncio.sleep(step.get("first_delay", 0.0))
        record["finished_at"] = time.time()
        if step["kind"] == "tool_call":
            return tool_call_reply(call, step)
        return text_reply(call, step)
    if step["kind"] == "tool_call":
        events, tokens = tool_call_events(step), 0
    else:
        events, tokens = text_events(call, step)
    if call.usage:
        events.append({"choices": [], "usage": usage(tokens)})
    return stream_events(request, call, step, events, record)


async def models(script: Script, request: Request) -> Response:
    script.received.append({"path": request.url.path, "body": None, "headers": {}})
    model = {"id": "base", "object": "model", "created": 0, "owned_by": "vllm"}
    loras = [
        {"id": name, "object": "model", "created": 0, "owned_by": "vllm", "root": path,
         "parent": "base"}
        for name, path in script.adapters.items()
    ]  # fmt: skip
    return JSONResponse({"object": "list", "data": [model, *loras]})


async def load_lora(script: Script, request: Request) -> Response:
    """vLLM's runtime LoRA load, without weights: remembers the name and the folder."""
    body = record_request(script, request, await request.body())["body"] or {}
    name, path = body.get("lora_name"), body.get("lora_path")
    if name in script.adapters:
        return JSONResponse({"error": {"message": f"{name} already loaded"}}, status_code=400)
    script.adapters[name] = path
    return Response(f"Success: LoRA adapter '{name}' added successfully.")


async def unload_lora(script: Script, request: Request) -> Response:
    name = (record_request(script, request, await request.body())["body"] or {}).get("lora_name")
    if script.adapters.pop(name, None) is None:
        return JSONResponse({"error": {"message": f"{name} not loaded"}}, status_code=404)
    return Response(f"Success: LoRA adapter '{name}' removed successfully.")


async def anything(script: Script, request: Request) -> Response:
    raw = await request.body()
    script.received.append(
        {
            "path": request.url.path,
            "body": raw.decode(errors="replace"),
            "headers": dict(request.headers),
        }
    )
    return JSONResponse({"error": {"message": "stand-in: no such route"}}, status_code=404)


async def control(script: Script, request: Request) -> Response:
    action = request.path_params["action"]
    if action == "script":
        script.steps.extend(await request.json())
    elif action == "default":
        script.default = await request.json()
    elif action == "reset":
        script.steps.clear()
        script.received.clear()
        script.adapters.clear()
        script.default = dict(DEFAULT_STEP)
    elif action == "received":
        return JSONResponse(script.received)
    return JSONResponse({"ok": True, "pid": os.getpid()})


def build_app() -> Starlette:
    script = Script()

    def bound(handler):
        async def route(request: Request) -> Response:
            return await handler(script, request)

        return route

    return Starlette(
        routes=[
            Route("/_control/{action}", bound(control), methods=["GET", "POST"]),
            Route("/v1/chat/completions", bound(completion), methods=["POST"]),
            Route("/v1/completions", bound(completion), methods=["POST"]),
            Route("/v1/models", bound(models), methods=["GET"]),
            Route("/v1/load_lora_adapter", bound(load_lora), methods=["POST"]),
            Route("/v1/unload_lora_adapter", bound(unload_lora), methods=["POST"]),
            Route("/{path:path}", bound(anything), methods=["GET", "POST", "PUT", "DELETE"]),
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Stand-in engine for Inkwell's proxy tests.")
    parser.add_argument("--port", type=int, required=True)
    serve(parser.parse_args().port)
