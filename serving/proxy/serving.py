"""What the proxy does with one request: resolve the model, retrieve lore off the event loop,
inject it into the parsed body, forward the bytes, relay the answer.

The body is parsed once (orjson), edited as a dict and dumped once; fields the proxy does not own
are never touched.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
from starlette.responses import Response

from serving.proxy.best_of import (
    SCORES_HEADER,
    BestOfLimits,
    StyleScorer,
    as_event_stream,
    candidate_texts,
    candidates_wanted,
    prompt_text,
    winning_reply,
)
from serving.proxy.errors import ProxyError, error_payload
from serving.proxy.lore import Lore
from serving.proxy.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ContextItem,
    ContextRequest,
    Health,
    InkwellOptions,
    ModelCard,
    ModelList,
    StoreHealth,
    UpstreamHealth,
    parse_body,
)
from serving.proxy.streaming import SSEPassthrough, _token_counts
from serving.proxy.trace import TraceRecord
from serving.proxy.upstream import Upstream
from serving.registry import Registry, RegistryError

LIVE_ALIASES = ("inkwell", "inkwell-live")
# The live model, best of server.best_of_default candidates by the style score.
BEST_ALIAS = "inkwell-best"
LORE_HEADER = "x-inkwell-lore"
LORE_OFF_VALUES = frozenset({"off", "false", "0", "no"})


@dataclass(frozen=True)
class Target:
    """Where a requested model name goes: the engine's model name, and the adapter if any."""

    upstream_model: str
    adapter: str | None


def engine_error_parts(body: bytes) -> tuple[str, str | None]:
    """The engine's own words (and the parameter it names) from an error body, whatever its
    shape."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    error = error if isinstance(error, dict) else {}
    param = error.get("param") if isinstance(error.get("param"), str) else None
    message = error.get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()[:2000], param
    return body.decode("utf-8", "replace").strip()[:2000] or "no details", param


def lore_header(hits: list[Any]) -> str:
    """Comma-separated ids of the injected entries (header-safe)."""
    return ",".join(hit.entry_id.encode("ascii", "backslashreplace").decode() for hit in hits)


class InkwellServing:
    def __init__(
        self,
        upstream: Upstream,
        lore: Lore,
        registry: Registry,
        base_name: str,
        scorer: StyleScorer,
        best_of: BestOfLimits,
    ) -> None:
        self.upstream = upstream
        self.lore = lore
        self.registry = registry
        self.base_name = base_name
        self.scorer = scorer
        self.best_of = best_of

    # Models.
    def resolve(self, model: str) -> Target:
        """inkwell / inkwell-live → the live adapter (base until one exists); base; an adapter."""
        if model == self.base_name:
            return Target(self.base_name, None)
        try:
            if model in LIVE_ALIASES or model == BEST_ALIAS:
                live = self.registry.live()
                return Target(live.name, live.name) if live else Target(self.base_name, None)
            names = {record.name for record in self.registry.adapters()}
        except RegistryError as exc:
            raise ProxyError(503, f"the adapter registry cannot be read: {exc}") from exc
        if model in names:
            return Target(model, model)
        known = ", ".join([*LIVE_ALIASES, BEST_ALIAS, self.base_name, *sorted(names)])
        raise ProxyError(
            404,
            f"unknown model {model!r}; this proxy serves: {known}",
            param="model",
            code="model_not_found",
        )

    def models(self) -> ModelList:
        live = self.resolve(LIVE_ALIASES[0]).upstream_model
        cards = [ModelCard(id=alias, root=live) for alias in (*LIVE_ALIASES, BEST_ALIAS)]
        cards.append(ModelCard(id=self.base_name, root=self.base_name))
        # Retired adapters stay addressable by name (for comparisons) but are not offered.
        adapters = [r for r in self.registry.adapters() if r.state != "retired"]
        cards += [ModelCard(id=r.name, root=r.name) for r in adapters]
        return ModelList(data=cards)

    # Completions.
    async def chat(self, body: bytes, headers: Mapping[str, str], record: TraceRecord) -> Response:
        data, request = parse_body(body, ChatCompletionRequest)
        options = self._begin(data, request.model, request.inkwell, request.stream, headers, record)
        hits: list[Any] = []
        if options.lore:
            budget = self.lore.config.token_budget
            hits = await self._retrieve(data["messages"], options.chapter, budget, record)
            if hits:
                data["messages"] = self.lore.inject_chat(data["messages"], hits)
        by_alias = request.model == BEST_ALIAS
        n = candidates_wanted(data, options.best_of, by_alias, self.best_of)
        if n is not None and n > 1:
            return await self._best_of(data, n, request.stream, hits, record)
        return await self._forward("/chat/completions", data, request.stream, hits, record)

    async def completions(
        self, body: bytes, headers: Mapping[str, str], record: TraceRecord
    ) -> Response:
        data, request = parse_body(body, CompletionRequest)
        options = self._begin(data, request.model, request.inkwell, request.stream, headers, record)
        if options.best_of is not None or request.model == BEST_ALIAS:
            raise ProxyError(
                400,
                "best-of sampling works on /v1/chat/completions, not /v1/completions",
                param="inkwell.best_of",
            )
        prompt = data["prompt"]
        texts = [prompt] if isinstance(prompt, str) else prompt
        hits: list[Any] = []
        # Token-id prompts cannot take a text prefix; they are forwarded as they are.
        if options.lore and texts and all(isinstance(t, str) for t in texts):
            query = [{"role": "user", "content": self.lore.query_tail("\n".join(texts))}]
            budget = self.lore.config.completion_token_budget
            hits = await self._retrieve(query, options.chapter, budget, record)
            if hits:
                prefix = self.lore.prefix(hits)
                data["prompt"] = (
                    prefix + prompt
                    if isinstance(prompt, str)
                    else [prefix + text for text in prompt]
                )
        return await self._forward("/completions", data, request.stream, hits, record)

    def _begin(
        self,
        data: dict[str, Any],
        model: str,
        options: InkwellOptions | None,
        stream: bool,
        headers: Mapping[str, str],
        record: TraceRecord,
    ) -> InkwellOptions:
        """Resolve the model, strip the proxy's own field and settle the lore switch."""
        data.pop("inkwell", None)
        options = options or InkwellOptions()
        if headers.get(LORE_HEADER, "").strip().lower() in LORE_OFF_VALUES:
            options = options.model_copy(update={"lore": False})
        record.model, record.stream, record.lore_enabled = model, stream, options.lore
        target = self.resolve(model)
        record.adapter = target.adapter
        data["model"] = target.upstream_model
        return options

    async def _retrieve(
        self, messages: list[dict], chapter: int | None, budget: int, record: TraceRecord
    ) -> list[Any]:
        started = time.perf_counter()
        hits = await self.lore.retrieve(messages, chapter, budget)
        self._record_lore(record, hits, started)
        return hits

    @staticmethod
    def _record_lore(record: TraceRecord, hits: list[Any], started: float) -> None:
        record.retrieval_ms = round((time.perf_counter() - started) * 1000, 3)
        record.lore = [
            {"id": h.entry_id, "name": h.name, "why": h.why, "score": round(float(h.score), 4)}
            for h in hits
        ]

    async def _forward(
        self, path: str, data: dict[str, Any], stream: bool, hits: list[Any], record: TraceRecord
    ) -> Response:
        headers = {LORE_HEADER: lore_header(hits) if record.lore_enabled else "off"}
        sent_at = time.perf_counter()
        response = await self.upstream.open(path, orjson.dumps(data))
        content_type = response.headers.get("content-type", "application/json")
        if stream and response.status_code < 400 and content_type.startswith("text/event-stream"):
            return SSEPassthrough(response, self.upstream, headers, record, sent_at)
        body = await self.upstream.read(response)
        record.upstream_ms = round((time.perf_counter() - sent_at) * 1000, 3)
        if response.status_code >= 400:
            return self._upstream_error(response.status_code, body, headers, record)
        if b'"usage"' in body:
            try:
                record.tokens = _token_counts(orjson.loads(body).get("usage"))
            except (orjson.JSONDecodeError, AttributeError):
                record.tokens = None
        return Response(body, response.status_code, headers=headers, media_type=content_type)

    async def _best_of(
        self, data: dict[str, Any], n: int, stream: bool, hits: list[Any], record: TraceRecord
    ) -> Response:
        """n candidates in one engine call, the best by the style score returned (streamed as
        one SSE answer once chosen when the client asked for a stream)."""
        await anyio.to_thread.run_sync(self.scorer.profile)  # no profile: 409 before sampling
        headers = {LORE_HEADER: lore_header(hits) if record.lore_enabled else "off"}
        stream_options = data.pop("stream_options", None)
        data.update(n=n, stream=False)
        sent_at = time.perf_counter()
        response = await self.upstream.open("/chat/completions", orjson.dumps(data))
        body = await self.upstream.read(response)
        record.upstream_ms = round((time.perf_counter() - sent_at) * 1000, 3)
        if response.status_code >= 400:
            return self._upstream_error(response.status_code, body, headers, record)
        try:
            reply = orjson.loads(body)
            texts = candidate_texts(reply)
        except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
            raise ProxyError(502, f"the engine's reply is not a chat completion: {exc}") from exc
        if len(texts) != n:
            raise ProxyError(502, f"asked the engine for {n} candidates, got {len(texts)}")
        ranking = await self.scorer.rank(texts, prompt_text(data.get("messages")))
        record.best_of = ranking.trace()
        record.tokens = _token_counts(reply.get("usage"))
        headers[SCORES_HEADER] = ranking.header()
        headers["x-inkwell-best-of-winner"] = str(ranking.winner)
        chosen = winning_reply(reply, ranking.winner)
        if not stream:
            return Response(orjson.dumps(chosen), headers=headers, media_type="application/json")
        usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
        headers["cache-control"] = "no-cache"
        return Response(
            as_event_stream(chosen, usage), headers=headers, media_type="text/event-stream"
        )

    @staticmethod
    def _upstream_error(
        status: int, body: bytes, headers: dict[str, str], record: TraceRecord
    ) -> Response:
        """An engine error in OpenAI's shape. The engine's refusals (4xx) keep their status;
        its own failures become 502 (or its 503/504), so a 500 always means the proxy."""
        status = status if status < 500 or status in (502, 503, 504) else 502
        message, param = engine_error_parts(body)
        record.error = f"engine answered {status}"
        payload = error_payload(status, f"the engine answered: {message}", param=param)
        return Response(
            orjson.dumps(payload), status, headers=headers, media_type="application/json"
        )

    # Continue's @lore context provider.
    async def context(self, body: bytes, record: TraceRecord) -> list[ContextItem]:
        _, request = parse_body(body, ContextRequest)
        text = request.query.strip() or request.fullInput.strip()
        if not text:
            return []
        started = time.perf_counter()
        hits = await self.lore.search(self.lore.query_tail(text), None)
        self._record_lore(record, hits, started)
        return [
            ContextItem(name=h.name, description=f"{h.category}: {h.why}", content=h.text)
            for h in hits
        ]

    # Health.
    async def health(self) -> tuple[Health, int]:
        ok, latency, error = await self.upstream.probe()
        upstream = UpstreamHealth(
            url=self.upstream.display_url,
            ok=ok,
            latency_ms=round(latency, 2) if latency is not None else None,
            error=error,
        )
        store = StoreHealth(**await anyio.to_thread.run_sync(self.lore.status))
        problems = [f"engine: {error}"] if error else []
        if not store.ok:
            problems.append(f"lore store: {store.error}")
        try:
            live = self.registry.live()
        except RegistryError as exc:
            live = None
            problems.append(f"adapter registry: {exc}")
        ready = ok and not any(p.startswith("adapter registry") for p in problems)
        report = Health(
            status="ok" if not problems else "degraded",
            upstream=upstream,
            store=store,
            live_adapter=live.name if live else None,
            problems=problems,
        )
        return report, 200 if ready else 503
