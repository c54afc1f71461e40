"""Server-sent events from the engine to the client, byte for byte, as they arrive.

Bytes are forwarded at event boundaries (never re-serialised); only an incomplete trailing event
is held until its end arrives, so that if the engine dies mid-stream the client receives a clean
error event and [DONE] rather than half a JSON object. A client that disconnects closes the
engine's response at once, which makes vLLM abort the generation.
"""

from __future__ import annotations

import time

import anyio
import httpx
import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from serving.proxy.errors import sse_error_event
from serving.proxy.trace import TraceRecord
from serving.proxy.upstream import Upstream

_USAGE = b'"usage":{'
# An engine that sends this much without ending an event is broken: the stream is ended with
# an error event instead of buffering without bound.
MAX_PENDING_BYTES = 4 * 1024 * 1024


def _event_end(data: bytes) -> int:
    """Index just past the last complete SSE event in data, or 0 if there is none."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def usage_from_events(events: bytes) -> dict[str, int] | None:
    """Token counts from the last `data:` event carrying usage (stream_options.include_usage)."""
    for line in reversed(events.splitlines()):
        if line.startswith(b"data:") and _USAGE in line:
            try:
                usage = orjson.loads(line[5:]).get("usage")
            except (orjson.JSONDecodeError, AttributeError):
                return None
            return _token_counts(usage)
    return None


def _token_counts(usage: object) -> dict[str, int] | None:
    if not isinstance(usage, dict):
        return None
    return {k: v for k, v in usage.items() if k.endswith("_tokens") and isinstance(v, int)}


class SSEPassthrough(Response):
    """An ASGI response relaying an open engine response; always closes it."""

    def __init__(
        self,
        response: httpx.Response,
        upstream: Upstream,
        headers: dict[str, str],
        record: TraceRecord,
        sent_at: float,
    ) -> None:
        self.background = None
        self.status_code = response.status_code
        self.response = response
        self.upstream = upstream
        self.finished = False
        self._done = False  # the last events the engine sent ended with [DONE]
        self.record = record
        self.sent_at = sent_at
        self.raw_headers = [(b"content-type", response.headers["content-type"].encode())]
        self.raw_headers += [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
        self.raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.response.status_code,
                    "headers": self.raw_headers,
                }
            )
            gone: OSError | None = None
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._watch_disconnect, receive, tasks.cancel_scope)
                try:
                    await self._relay(send)
                except OSError as exc:  # the client closed the connection as we wrote
                    gone = exc
                tasks.cancel_scope.cancel()
            if gone is not None:
                self.record.error = "client disconnected"
        finally:
            self.record.upstream_ms = round((time.perf_counter() - self.sent_at) * 1000, 3)
            with anyio.CancelScope(shield=True):
                await self.response.aclose()

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.finished:  # uvicorn also reports a disconnect once the response is complete
            self.record.error = "client disconnected"
        scope.cancel()

    async def _relay(self, send: Send) -> None:
        pending = b""
        usage_events = b""
        try:
            async for chunk in self.response.aiter_raw():
                data = pending + chunk if pending else chunk
                end = _event_end(data)
                if end == 0:
                    pending = data
                    if len(pending) > MAX_PENDING_BYTES:
                        raise httpx.RemoteProtocolError(
                            f"no end of event after {MAX_PENDING_BYTES} bytes"
                        )
                    continue
                events, pending = (data, b"") if end == len(data) else (data[:end], data[end:])
                if _USAGE in events:
                    usage_events = events
                self._done = events.rstrip().endswith(b"data: [DONE]")
                await send({"type": "http.response.body", "body": events, "more_body": True})
        except httpx.HTTPError as exc:
            fault = self.upstream.fault(exc)
            self.record.error = f"engine failed mid-stream: {fault.message}"
            tail = sse_error_event(fault.status, f"{fault.message} (mid-stream)")
            self.finished = True
            await send({"type": "http.response.body", "body": tail, "more_body": False})
            return
        if usage_events:
            self.record.tokens = usage_from_events(usage_events)
        self.finished = True
        await send(
            {"type": "http.response.body", "body": self._ending(pending), "more_body": False}
        )

    def _ending(self, pending: bytes) -> bytes:
        """What closes the stream: nothing more when the engine ended it properly, else an
        error event (a stream that stops without [DONE], or in the middle of an event, is an
        engine failure the editor must be able to show)."""
        if not pending.strip() and self._done:
            return b""
        self.record.error = "engine stream ended without [DONE]"
        return sse_error_event(502, "the engine's stream ended without [DONE]")
