"""Request and response models of the proxy.

The proxy validates only what it owns (model, messages or prompt, stream and its own `inkwell`
options). Every other field is allowed and forwarded untouched from the parsed dict: the models
validate, they never re-serialise the body that goes upstream.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from serving.proxy.errors import ProxyError, validation_problems

M = TypeVar("M", bound=BaseModel)


class _Open(BaseModel):
    """Fields the proxy does not own are kept (tools, tool_choice, logprobs, vendor extras)."""

    model_config = ConfigDict(extra="allow")


class InkwellOptions(BaseModel):
    """The body field `inkwell`: per-request switches, stripped before forwarding."""

    model_config = ConfigDict(extra="forbid")

    lore: StrictBool = True
    chapter: int | None = Field(None, ge=1, description="Chapter being written (spoiler guard).")
    best_of: StrictInt | None = Field(
        None,
        description="Sample this many candidates in one engine call and return the one that "
        "scores best against the book's style profile (chat completions only).",
    )


class ChatMessage(_Open):
    role: str = Field(min_length=1)
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    inkwell: InkwellOptions | None = None


class CompletionRequest(_Open):
    model: str = Field(min_length=1)
    prompt: str | list[str] | list[int] | list[list[int]]
    stream: StrictBool = False
    inkwell: InkwellOptions | None = None


class ContextRequest(_Open):
    """Continue's HTTP context provider body."""

    query: str = ""
    fullInput: str = ""


class ContextItem(BaseModel):
    name: str
    description: str
    content: str


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "inkwell"
    root: str = Field(description="The model the engine serves for this id (adapter or base).")


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


class UpstreamHealth(BaseModel):
    url: str
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class StoreHealth(BaseModel):
    ok: bool
    entries: int | None = None
    error: str | None = None


class Health(BaseModel):
    status: str
    upstream: UpstreamHealth
    store: StoreHealth
    live_adapter: str | None
    problems: list[str] = Field(default_factory=list)


def parse_body(body: bytes, model: type[M]) -> tuple[dict[str, Any], M]:
    """Parse once with orjson and validate; the dict is what gets edited and forwarded."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProxyError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProxyError(400, "request body must be a JSON object")
    try:
        return data, model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        param = ".".join(str(part) for part in errors[0]["loc"]) or None
        raise ProxyError(
            422, f"invalid request: {validation_problems(errors)}", param=param
        ) from exc
