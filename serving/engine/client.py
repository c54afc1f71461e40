"""A small synchronous client for the vLLM OpenAI-compatible server: health, models, and the
runtime LoRA endpoints (which the openai SDK does not cover)."""

from __future__ import annotations

from typing import Any

import httpx

from serving.foundation.errors import InkwellError


class EngineError(InkwellError):
    """The engine could not be reached or refused a request; the message says which
    (a ValueError, by the project's convention for errors the CLI shows as they are)."""


class TransientEngineError(EngineError):
    """The engine is unreachable, overloaded or failed on its side (429, 5xx): worth retrying."""


TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class AdapterLoadError(EngineError):
    """vLLM refused to load an adapter (bad path, wrong base model, rank too large...)."""


def normalise_url(url: str) -> str:
    """Accept `http://host:port` or `http://host:port/v1`; return the `/v1` form."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


class EngineClient:
    """`api_key`: the engine key (serving.engine.key) sent as a bearer token; None for an
    engine that needs none."""

    def __init__(self, url: str, timeout_s: float = 600.0, api_key: str | None = None) -> None:
        self.url = normalise_url(url)
        self.root = self.url[: -len("/v1")]
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=3.0), headers=headers, trust_env=False
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        try:
            return self._http.post(self.url + path, json=payload)
        except httpx.TransportError as exc:
            raise TransientEngineError(f"engine at {self.url} unreachable: {exc}") from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"engine at {self.url} unreachable: {exc}") from exc

    def is_healthy(self) -> bool:
        try:
            return self._http.get(self.root + "/health", timeout=3.0).status_code == 200
        except httpx.HTTPError:
            return False

    def models(self) -> list[dict[str, Any]]:
        try:
            response = self._http.get(self.url + "/models", timeout=10.0)
        except httpx.HTTPError as exc:
            raise EngineError(f"engine at {self.url} unreachable: {exc}") from exc
        _raise_for(response, "GET /v1/models")
        return response.json()["data"]

    def loaded_adapters(self) -> dict[str, str]:
        """Adapter name -> path, for the LoRA adapters the engine serves now."""
        return {m["id"]: m.get("root", "") for m in self.models() if m.get("parent")}

    def load_adapter(self, name: str, path: str) -> None:
        response = self._post("/load_lora_adapter", {"lora_name": name, "lora_path": path})
        if response.status_code != 200:
            raise AdapterLoadError(
                f"vLLM refused to load adapter {name!r} from {path}: {_error_text(response)}"
            )

    def unload_adapter(self, name: str) -> None:
        response = self._post("/unload_lora_adapter", {"lora_name": name})
        if response.status_code != 200:
            raise EngineError(f"vLLM could not unload adapter {name!r}: {_error_text(response)}")

    def chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._post("/chat/completions", payload)
        _raise_for(response, "POST /v1/chat/completions")
        return response.json()

    def completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._post("/completions", payload)
        _raise_for(response, "POST /v1/completions")
        return response.json()


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    error = body.get("error", body) if isinstance(body, dict) else body
    message = error.get("message", error) if isinstance(error, dict) else error
    return f"HTTP {response.status_code}: {message}"


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code in TRANSIENT_STATUSES:
        raise TransientEngineError(f"{what} failed: {_error_text(response)}")
    if response.status_code != 200:
        raise EngineError(f"{what} failed: {_error_text(response)}")
