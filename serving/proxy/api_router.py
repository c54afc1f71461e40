"""HTTP wiring: routes read the raw body (bounded), hand it to the serving logic, and answer."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

from serving.proxy.errors import ProxyError
from serving.proxy.middleware import trace_of
from serving.proxy.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ContextItem,
    ContextRequest,
    Health,
    ModelList,
)
from serving.proxy.serving import InkwellServing

router = APIRouter()


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Document a request body that the route parses itself (for /docs and schema fuzzing)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the configured limit."""
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length")
    too_big = ProxyError(413, f"request body larger than the limit of {limit} bytes")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def unless_disconnected(request: Request, work: Awaitable[Response]) -> Response:
    """Await the work, but drop it (closing the engine request, so vLLM stops generating) if the
    client goes away first."""
    result: Response | None = None
    failure: Exception | None = None
    async with anyio.create_task_group() as tasks:

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            tasks.cancel_scope.cancel()

        tasks.start_soon(watch)
        try:
            result = await work
        except Exception as exc:  # re-raised below as itself, not inside an ExceptionGroup
            failure = exc
        tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    if result is None:
        trace_of(request.scope).error = "client disconnected"
        return Response(status_code=499)
    return result


def serving(request: Request) -> InkwellServing:
    return request.app.state.serving


def json_response(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status, media_type="application/json")


@router.post(
    "/v1/chat/completions",
    response_model=None,
    openapi_extra=body_schema(ChatCompletionRequest),
)
async def chat_completions(request: Request) -> Response:
    body = await read_body(request)
    work = serving(request).chat(body, request.headers, trace_of(request.scope))
    return await unless_disconnected(request, work)


@router.post("/v1/completions", response_model=None, openapi_extra=body_schema(CompletionRequest))
async def completions(request: Request) -> Response:
    body = await read_body(request)
    work = serving(request).completions(body, request.headers, trace_of(request.scope))
    return await unless_disconnected(request, work)


@router.get("/v1/models", response_model=ModelList)
async def models(request: Request) -> ModelList:
    return serving(request).models()


@router.post(
    "/context/lore", response_model=list[ContextItem], openapi_extra=body_schema(ContextRequest)
)
async def context_lore(request: Request) -> Response:
    body = await read_body(request)
    items = await serving(request).context(body, trace_of(request.scope))
    return json_response(_CONTEXT_ITEMS.dump_python(items, mode="json"))


@router.get("/health", response_model=Health)
async def health(request: Request) -> Response:
    report, status = await serving(request).health()
    return json_response(report.model_dump(mode="json"), status)


_CONTEXT_ITEMS = TypeAdapter(list[ContextItem])
