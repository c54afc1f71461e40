"""An ASGI middleware loaded into vLLM (`--middleware serving.engine.guard.EngineKeyGuard`)
that requires the engine key on every route but GET /health.

vLLM's own `--api-key` check guards only the /v1, /v2, /inference and /cohere prefixes; its
/invocations (the same inference as /v1), /tokenize, /metrics, /abort_requests and more stay
open. This guard closes all of them. It reads the key from VLLM_API_KEY (the environment of the
engine process, which only its user can read, unlike the command line) and refuses everything
when none is set. It imports nothing but the standard library: it runs inside vLLM."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

OPEN_ROUTES = frozenset({("GET", "/health")})
_REFUSAL = json.dumps(
    {
        "error": {
            "message": "the engine requires Inkwell's engine key",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
).encode()
_REFUSAL_HEADERS = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


class EngineKeyGuard:
    def __init__(self, app: Callable[..., Awaitable[Any]]) -> None:
        self.app = app
        key = os.environ.get("VLLM_API_KEY", "")
        self._digest = _digest(key) if key else None

    def authorised(self, scope: dict[str, Any]) -> bool:
        if (scope.get("method", "GET"), scope.get("path", "")) in OPEN_ROUTES:
            return True
        if self._digest is None:
            return False
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(_digest(token), self._digest)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or self.authorised(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 401, "headers": _REFUSAL_HEADERS})
        await send({"type": "http.response.body", "body": _REFUSAL})
