"""The one HTTP client to the engine (vLLM's OpenAI server), with faults mapped to clear errors.

Connection failures answer 502 within the configured connect timeout; a read that stalls longer
than the request timeout answers 504. Nothing here ever waits without a bound.
"""

from __future__ import annotations

import time

import httpx

from serving.proxy.errors import ProxyError

JSON_HEADERS = {"content-type": "application/json"}
# A whole (non-streamed) engine reply larger than this is refused rather than held in memory.
MAX_REPLY_BYTES = 64 * 1024 * 1024


def redact_url(url: str) -> str:
    """The engine URL without any user:password part, for health reports and logs."""
    return str(httpx.URL(url).copy_with(username=None, password=None))


class Upstream:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float,
        request_timeout_s: float,
        max_connections: int,
        api_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.display_url = redact_url(self.base_url)
        self.connect_timeout_s = connect_timeout_s
        # Absolute URLs parsed once per route: the hot path skips joining base URL and path.
        self._urls: dict[str, httpx.URL] = {}
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            # Raw bytes are passed through to the client, so ask for them uncompressed; the
            # engine key (serving.engine.key) is the only credential sent, never the client's.
            headers={"accept-encoding": "identity"}
            | ({"authorization": f"Bearer {api_key}"} if api_key else {}),
            # The engine is local (or named explicitly); environment proxies must not reroute it.
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def fault(self, exc: httpx.HTTPError) -> ProxyError:
        """The client-facing error for a transport failure talking to the engine."""
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return ProxyError(
                502,
                f"cannot reach the engine at {self.display_url} ({type(exc).__name__}); "
                "is it running? (`inkwell engine start`)",
                code="upstream_unreachable",
            )
        if isinstance(exc, httpx.TimeoutException):
            return ProxyError(
                504,
                f"the engine at {self.display_url} did not answer in time ({type(exc).__name__})",
                code="upstream_timeout",
            )
        return ProxyError(
            502,
            f"the engine at {self.display_url} broke the connection ({type(exc).__name__}: {exc})",
            code="upstream_failed",
        )

    async def open(self, path: str, payload: bytes) -> httpx.Response:
        """POST a JSON payload and return the response with its body still unread."""
        url = self._urls.get(path) or self._urls.setdefault(path, httpx.URL(self.base_url + path))
        request = self.client.build_request("POST", url, content=payload, headers=JSON_HEADERS)
        try:
            return await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self.fault(exc) from exc

    async def read(self, response: httpx.Response) -> bytes:
        """Read a whole response body (at most MAX_REPLY_BYTES) and release the connection."""
        try:
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > MAX_REPLY_BYTES:
                    raise ProxyError(
                        502,
                        f"the engine at {self.display_url} sent a reply over "
                        f"{MAX_REPLY_BYTES} bytes; refused",
                        code="upstream_reply_too_large",
                    )
            return bytes(body)
        except httpx.HTTPError as exc:
            raise self.fault(exc) from exc
        finally:
            await response.aclose()

    async def probe(self) -> tuple[bool, float | None, str | None]:
        """Health check: (reachable, latency ms, error) from GET /models with a short timeout."""
        started = time.perf_counter()
        try:
            response = await self.client.get("/models", timeout=self.connect_timeout_s)
        except httpx.HTTPError as exc:
            return False, None, self.fault(exc).message
        latency = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            return False, latency, f"GET /models answered {response.status_code}"
        return True, latency, None
