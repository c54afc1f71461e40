"""Per-request plumbing around the routes: request ids, trace lines, and the concurrency cap.

Pure ASGI (no BaseHTTPMiddleware) so streams pass through without extra buffering or tasks.
"""

from __future__ import annotations

import logging
import math
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.proxy.errors import ProxyError, error_response
from serving.proxy.trace import TraceRecord, TraceWriter

log = logging.getLogger("inkwell.proxy")

REQUEST_ID_HEADER = b"x-inkwell-request-id"
# The routes that do lore work and talk to the engine: traced, counted against the cap.
WORK_ROUTES = frozenset({"/v1/chat/completions", "/v1/completions", "/context/lore"})


def trace_of(scope: Scope) -> TraceRecord:
    return scope["inkwell.trace"]


class RequestContextMiddleware:
    """Gives every response an X-Inkwell-Request-Id and writes one trace line per work request,
    after its last byte (streams included). An unexpected failure becomes a 500 in OpenAI shape."""

    def __init__(self, app: ASGIApp, writer: TraceWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        record = TraceRecord(request_id=request_id, route=scope["path"])
        scope["inkwell.trace"] = record
        id_header = (REQUEST_ID_HEADER, request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                record.status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.exception("request %s failed", request_id)
            record.error = f"internal error: {type(exc).__name__}"
            if not started:
                failure = ProxyError(500, f"internal error in the proxy (request {request_id})")
                await error_response(failure)(scope, receive, send_with_id)
        finally:
            if scope["path"] in WORK_ROUTES:
                self.writer.write(record)


class ConcurrencyLimitMiddleware:
    """Beyond `limit` work requests in flight, answer 429 instead of queueing without bound
    (streams count until their last byte). Retry-After is an estimate, not a constant: with
    every slot busy, one frees up about every (typical request duration / limit) seconds."""

    SMOOTHING = 0.2  # weight of the newest duration in the running average
    MAX_RETRY_AFTER_S = 60

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0
        self.typical_duration_s: float | None = None

    def retry_after_s(self) -> int:
        if self.typical_duration_s is None:
            return 1
        wait = math.ceil(self.typical_duration_s / self.limit)
        return min(self.MAX_RETRY_AFTER_S, max(1, wait))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in WORK_ROUTES:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            busy = ProxyError(
                429,
                f"the proxy is busy ({self.limit} requests in flight); retry shortly",
                code="too_many_requests",
                headers={"retry-after": str(self.retry_after_s())},
            )
            await error_response(busy)(scope, receive, send)
            return
        self.active += 1
        started = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            self._observe(time.monotonic() - started)

    def _observe(self, duration_s: float) -> None:
        if self.typical_duration_s is None:
            self.typical_duration_s = duration_s
        else:
            self.typical_duration_s += self.SMOOTHING * (duration_s - self.typical_duration_s)
