"""The proxy application: `create_app` builds it for one workspace, `run` serves it.

One shared httpx.AsyncClient (in the lifespan) talks to the engine; the lore retriever is loaded
in a worker thread at startup so the first request does not pay for the embedding model.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from serving.engine.key import ensure_engine_key
from serving.foundation.config import ServerConfig
from serving.foundation.errors import InkwellError
from serving.foundation.workspace import Workspace
from serving.proxy.api_router import router
from serving.proxy.auth import ApiKeyMiddleware
from serving.proxy.best_of import SCORES_HEADER, BestOfLimits, StyleScorer
from serving.proxy.errors import ProxyError, error_response, validation_problems
from serving.proxy.lore import Lore
from serving.proxy.middleware import ConcurrencyLimitMiddleware, RequestContextMiddleware
from serving.proxy.serving import InkwellServing
from serving.proxy.trace import TraceWriter
from serving.proxy.upstream import Upstream
from serving.registry import Registry

log = logging.getLogger("inkwell.proxy")


class ProxyStartError(InkwellError):
    """The proxy cannot start (for instance, its port is taken)."""


def create_app(workspace: Workspace, settings: ServerConfig | None = None) -> FastAPI:
    """The proxy for one workspace; `settings` defaults to the workspace's `server` section."""
    settings = settings or workspace.config.server
    writer = TraceWriter(workspace.traces_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        upstream = Upstream(
            settings.engine_url,
            connect_timeout_s=settings.connect_timeout_s,
            request_timeout_s=settings.request_timeout_s,
            # The concurrency cap bounds requests in flight; a few spare for health probes.
            max_connections=settings.max_concurrency + 4,
            api_key=ensure_engine_key(workspace),
        )
        lore = Lore(workspace)
        await anyio.to_thread.run_sync(lore.load)
        scorer = StyleScorer(workspace.style_profile_path, workspace.root)
        await anyio.to_thread.run_sync(scorer.warm)
        app.state.serving = InkwellServing(
            upstream,
            lore,
            Registry(workspace.registry_path),
            workspace.config.engine.served_name,
            scorer,
            BestOfLimits(settings.best_of_default, settings.best_of_max),
        )
        try:
            yield
        finally:
            lore.close()
            await upstream.aclose()
            writer.close()

    app = FastAPI(
        title="Inkwell proxy",
        summary="OpenAI-compatible proxy that injects the author's lore into every request.",
        lifespan=lifespan,
    )
    app.state.max_body_bytes = settings.max_body_bytes
    app.include_router(router)
    app.add_exception_handler(ProxyError, _proxy_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)

    # Added innermost first: CORS (if any) sees requests first, then ids/traces, key, cap.
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.max_concurrency)
    api_key = os.environ.get(settings.api_key_env, "")
    if api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=api_key, env_name=settings.api_key_env)
    app.add_middleware(RequestContextMiddleware, writer=writer)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-inkwell-lore"],
            expose_headers=["x-inkwell-request-id", "x-inkwell-lore", SCORES_HEADER],
        )
    app.openapi = lambda: _openapi(app)
    return app


async def _proxy_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProxyError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path} on the Inkwell proxy"
    else:
        message = f"{request.method} {request.url.path}: {exc.detail}"
    return error_response(ProxyError(exc.status_code, message, headers=exc.headers))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = validation_problems(list(exc.errors()))
    return error_response(ProxyError(422, f"invalid request: {problems}"))


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the $defs of self-parsed request bodies moved into components."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version="1", summary=app.summary, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for operations in schema["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema", {})
            components.update(body.pop("$defs", {}))
    app.openapi_schema = schema
    return schema


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so a taken port is a clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ProxyStartError(
                f"port {port} on {host} is already in use (another `inkwell serve`?); "
                "stop it or choose another with --port"
            ) from exc
        raise ProxyStartError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(workspace: Workspace, settings: ServerConfig) -> None:
    """Serve the proxy until interrupted."""
    serve_socket(workspace, settings, bind(settings.host, settings.port))


def serve_socket(workspace: Workspace, settings: ServerConfig, sock: socket.socket) -> None:
    """Serve on an already bound socket (uvloop + httptools, no access log: traces record it)."""
    import numpy  # noqa: F401  (loads OpenBLAS: threadpoolctl limits only loaded libraries)
    import uvicorn
    from threadpoolctl import threadpool_limits

    # The proxy's numpy work is one 10k x 384 product per request, which a second BLAS
    # thread does not speed up; OpenBLAS's idle threads spin-wait, doubling retrieval's CPU
    # and starving the event loop on a small machine (measured in `inkwell serve`, 10k chunks,
    # one client: 23.5 -> 11.2 ms CPU a request).
    threadpool_limits(1, user_api="blas")

    if settings.host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get(
        settings.api_key_env
    ):
        log.warning(
            "listening on %s without an API key: anyone on the network can use it (set %s)",
            settings.host,
            settings.api_key_env,
        )
    config = uvicorn.Config(
        create_app(workspace, settings),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="info",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run(sockets=[sock])
