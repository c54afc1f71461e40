"""Style-steered sampling: n candidates from one batched engine call, each scored against the
book's style profile, the best one returned as if it were the only one.

The engine samples the n candidates together (`n` in the body), which costs far less than n
requests; scoring runs in a worker thread, so the event loop keeps serving other requests
while stylometry counts words. The profile is loaded once and reloaded only when its file
changes (`inkwell style profile` rebuilt it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import orjson

from serving.proxy.errors import ProxyError

SCORES_HEADER = "x-inkwell-best-of-scores"
WARM_UP_TEXT = (
    "She had not meant to stay, but the rain kept on, and the fire was warm.\n\n"
    '"You will stay for supper," he said, and it was not a question.'
)


@dataclass(frozen=True)
class BestOfLimits:
    default_n: int  # what the model alias inkwell-best asks for
    max_n: int


@dataclass(frozen=True)
class Ranking:
    scores: list[float]
    winner: int
    scoring_ms: float

    def header(self) -> str:
        return ",".join(f"{s:.1f}" for s in self.scores)

    def trace(self) -> dict[str, Any]:
        return {
            "n": len(self.scores),
            "scores": [round(s, 2) for s in self.scores],
            "winner": self.winner,
            "scoring_ms": self.scoring_ms,
        }


def candidates_wanted(
    data: dict[str, Any], asked: int | None, by_alias: bool, limits: BestOfLimits
) -> int | None:
    """How many candidates this request asks for (None: a plain request), refusing what
    cannot be honoured with a 400 that names the field."""
    n = asked if asked is not None else (limits.default_n if by_alias else None)
    if n is None:
        return None
    if not 1 <= n <= limits.max_n:
        raise ProxyError(
            400,
            f"inkwell.best_of must be between 1 and {limits.max_n} (got {n}); the limit is "
            "server.best_of_max in inkwell.yaml",
            param="inkwell.best_of",
        )
    if data.get("n") not in (None, 1):
        raise ProxyError(
            400,
            "inkwell.best_of returns one chosen candidate and cannot be combined with n "
            f"(got n={data['n']!r}); drop one of them",
            param="n",
        )
    return n


class StyleScorer:
    """Scores texts against the workspace's style profile, loaded once per file version."""

    def __init__(self, profile_path: Path, workspace_root: Path) -> None:
        self.path = profile_path
        self.root = workspace_root
        self._lock = threading.Lock()
        self._loaded: tuple[int, Any] | None = None  # (mtime_ns, AuthorProfile)

    def profile(self) -> Any:
        import stylometry

        try:
            version = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            raise self._missing("has no style profile") from None
        with self._lock:
            if self._loaded is None or self._loaded[0] != version:
                try:
                    self._loaded = (version, stylometry.AuthorProfile.load(self.path))
                except stylometry.StyleInputError as exc:
                    raise self._missing(f"cannot use its style profile ({exc})") from exc
            return self._loaded[1]

    def _missing(self, problem: str) -> ProxyError:
        return ProxyError(
            409,
            f"best-of sampling scores candidates against the book's style profile, and the "
            f"workspace {self.root} {problem}; build it with `inkwell style profile -w "
            f"{self.root}`",
            code="no_style_profile",
        )

    def scores(self, texts: list[str], prompt: str) -> list[float]:
        """The 0-100 style score per text, unrounded (so saturated scores still rank), of
        what it wrote beyond copying `prompt` (a candidate echoing the writer's own passage
        would win otherwise); nothing to measure (empty, a tool call, only copies) scores 0."""
        import stylometry

        profile = self.profile()
        out = []
        for text in texts:
            try:
                written = stylometry.without_copied(text, prompt)
                out.append(stylometry.stylometric_score(written, profile))
            except stylometry.StyleInputError:
                out.append(0.0)
        return out

    def warm(self) -> None:
        """Load the profile and score a sample once, so the first best-of request does not
        pay for the scorer's lazy tables and imports (about a second). Without a usable
        profile there is nothing to warm: the best-of request that needs one says why."""
        with contextlib.suppress(ProxyError):
            self.scores([WARM_UP_TEXT], "")

    async def rank(self, texts: list[str], prompt: str) -> Ranking:
        started = time.perf_counter()
        scores = await anyio.to_thread.run_sync(self.scores, texts, prompt)
        winner = max(range(len(scores)), key=lambda i: (scores[i], -i))
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        return Ranking(scores=scores, winner=winner, scoring_ms=elapsed)


def candidate_texts(reply: dict[str, Any]) -> list[str]:
    """The assistant text of each choice, in choice order."""
    choices = sorted(reply.get("choices") or [], key=lambda c: c.get("index", 0))
    return [_content((c.get("message") or {}).get("content")) for c in choices]


def prompt_text(messages: Any) -> str:
    """Everything the candidates were shown: the text of every message."""
    if not isinstance(messages, list):
        return ""
    return "\n\n".join(_content(m.get("content")) for m in messages if isinstance(m, dict))


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def winning_reply(reply: dict[str, Any], winner: int) -> dict[str, Any]:
    """The engine's reply with only the winning choice, as choice 0 (usage still counts every
    candidate: they were all generated)."""
    choices = sorted(reply["choices"], key=lambda c: c.get("index", 0))
    return {**reply, "choices": [{**choices[winner], "index": 0}]}


def as_event_stream(reply: dict[str, Any], include_usage: bool) -> bytes:
    """A chosen chat completion as the SSE stream OpenAI clients expect: role and content,
    the finish reason, usage if asked for, then [DONE]."""
    choice = reply["choices"][0]
    message = dict(choice.get("message") or {})
    delta: dict[str, Any] = {"role": message.get("role", "assistant")}
    delta["content"] = message.get("content")
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
    head = {k: reply[k] for k in ("id", "created", "model") if k in reply}
    head["object"] = "chat.completion.chunk"
    events = [
        {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {
            **head,
            "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}],
        },
    ]
    if include_usage and reply.get("usage"):
        events.append({**head, "choices": [], "usage": reply["usage"]})
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return body + b"data: [DONE]\n\n"
