"""Optional API key: with the key's environment variable set, every route but /health needs
`Authorization: Bearer <key>`, compared in constant time."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.proxy.errors import ProxyError, error_response

OPEN_PATHS = frozenset({"/health"})


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str, env_name: str) -> None:
        self.app = app
        self.expected = b"Bearer " + api_key.encode()
        self.env_name = env_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        provided = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                provided = value
                break
        if hmac.compare_digest(provided, self.expected):
            await self.app(scope, receive, send)
            return
        refusal = ProxyError(
            401,
            "missing or wrong API key: send `Authorization: Bearer <key>` with the key held "
            f"in the proxy's {self.env_name} environment variable",
            code="invalid_api_key",
            headers={"www-authenticate": "Bearer"},
        )
        await error_response(refusal)(scope, receive, send)
