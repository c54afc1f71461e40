"""An LLM judge of style: any OpenAI-compatible endpoint, pairwise, asked in both orders.

LLM judges prefer whichever passage comes first (or second) more often than chance, so each
comparison is asked twice with the passages swapped and the two verdicts are averaged: a
judge that always says "A" ends up at 0.5, i.e. no information. Answers must be a JSON
verdict naming A or B; anything else is discarded and reported. A judge that is down or
answers garbage never stops scoring: the score goes on without it (see score.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

RUBRIC = """You judge prose style, not content. You get reference excerpts written by one \
author and two passages, A and B. Decide which passage is closer to the author's style: \
word choice and vocabulary level, sentence length and rhythm, paragraphing, how much \
dialogue and how it is tagged, punctuation habits, point of view and tense, tone. Ignore \
plot, names and facts. Reply with JSON only: {"closer": "A" or "B", "reason": "<one sentence>"}"""

MAX_PASSAGE_CHARS = 3000
# The verdict as a JSON schema the endpoint decodes to (OpenAI structured outputs, which vLLM
# also serves): a small model that rambles in prose still answers A or B. An endpoint that
# rejects the field is asked in prose from then on.
VERDICT_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "style_verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"closer": {"enum": ["A", "B"]}, "reason": {"type": "string"}},
            "required": ["closer", "reason"],
            "additionalProperties": False,
        },
    },
}
_VERDICT = re.compile(r'"closer"\s*:\s*"([AB])"')


@dataclass
class PairVerdict:
    """P(first passage is closer), from the answers that parsed (None if none did)."""

    prob_first: float | None
    answers: list[str | None] = field(default_factory=list)  # per order: "A"/"B"/None
    note: str = ""

    @property
    def consistent(self) -> bool:
        """Both orders answered and named the same passage (the swap did not flip it)."""
        return len(self.answers) == 2 and None not in self.answers and self.prob_first in (0, 1)


@dataclass
class JudgeRating:
    score: float | None  # 0-100, None when the judge could not be used
    note: str = ""
    consistent: bool = False  # the verdict survived the order swap (only then is it blended)


def parse_verdict(content: str | None) -> str | None:
    """ "A" or "B" from a JSON verdict (possibly wrapped in prose or a code fence), else None."""
    if not content:
        return None
    start, end = content.find("{"), content.rfind("}")
    if start != -1 and end > start:
        try:
            data = json.loads(content[start : end + 1])
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            closer = str(data.get("closer", "")).strip().upper()
            return closer if closer in ("A", "B") else None
    m = _VERDICT.search(content)
    return m.group(1) if m else None


class Judge:
    """Pairwise style judge. `references` are excerpts of the author's own prose; the last one
    is kept back as the genuine passage that `rate` compares a text against."""

    def __init__(
        self,
        base_url: str,
        model: str,
        references: Sequence[str] = (),
        api_key: str | None = None,
        timeout_s: float = 60.0,
        cache_dir: Path | str | None = None,
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.references = [r[:MAX_PASSAGE_CHARS] for r in references]
        self._client = OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0
        )
        self._cache: dict[str, str | None] = {}
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._structured = True  # until the endpoint turns VERDICT_FORMAT down

    def _cached(self, key: str) -> tuple[bool, str | None]:
        if key in self._cache:
            return True, self._cache[key]
        path = self._cache_dir / f"{key}.json" if self._cache_dir else None
        if path is not None and path.is_file():
            try:
                self._cache[key] = json.loads(path.read_text(encoding="utf-8"))["verdict"]
                return True, self._cache[key]
            except (ValueError, KeyError, OSError):
                path.unlink(missing_ok=True)  # a torn write: ask again
        return False, None

    def _remember(self, key: str, verdict: str | None) -> None:
        self._cache[key] = verdict
        if self._cache_dir is not None:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self._cache_dir / f".{key}.tmp"
            tmp.write_text(json.dumps({"verdict": verdict}), encoding="utf-8")
            os.replace(tmp, self._cache_dir / f"{key}.json")

    def _ask(self, excerpts: Sequence[str], a: str, b: str) -> str | None:
        """One question; the parsed verdict ("A"/"B") or None. Cached by the hash of the
        whole prompt (in memory, and on disk with cache_dir)."""
        refs = "\n\n---\n\n".join(excerpts)
        user = (
            f"Reference excerpts:\n\n{refs}\n\n=== Passage A ===\n{a[:MAX_PASSAGE_CHARS]}"
            f"\n\n=== Passage B ===\n{b[:MAX_PASSAGE_CHARS]}\n\nWhich passage is closer "
            "to the author's style?"
        )
        key = hashlib.sha256(f"{self.model}\0{RUBRIC}\0{user}".encode()).hexdigest()
        hit, verdict = self._cached(key)
        if not hit:
            verdict = parse_verdict(self._complete(user))
            self._remember(key, verdict)
        return verdict

    def _complete(self, user: str) -> str | None:
        import openai

        request: dict = {
            "model": self.model,
            "temperature": 0.0,
            "max_tokens": 200,
            "messages": [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}],
        }
        if self._structured:
            try:
                reply = self._client.chat.completions.create(
                    **request, response_format=VERDICT_FORMAT
                )
                return reply.choices[0].message.content
            except openai.BadRequestError:
                self._structured = False
        return self._client.chat.completions.create(**request).choices[0].message.content

    def compare(
        self, first: str, second: str, excerpts: Sequence[str] | None = None
    ) -> PairVerdict:
        """Ask (first, second) and (second, first); average the verdicts for `first`."""
        import openai

        excerpts = self.references if excerpts is None else excerpts
        try:
            forward = self._ask(excerpts, first, second)
            backward = self._ask(excerpts, second, first)
        except openai.OpenAIError as exc:
            return PairVerdict(None, [], f"judge unavailable ({type(exc).__name__}: {exc})")
        votes = []
        if forward is not None:
            votes.append(1.0 if forward == "A" else 0.0)
        if backward is not None:
            votes.append(1.0 if backward == "B" else 0.0)
        if not votes:
            return PairVerdict(None, [forward, backward], "judge answered no valid verdict")
        note = "" if len(votes) == 2 else "one of the two orders gave no valid verdict"
        return PairVerdict(sum(votes) / len(votes), [forward, backward], note)

    def rate(self, text: str) -> JudgeRating:
        """0-100: how often the judge finds `text` at least as close to the author as a real
        passage of the author's (100 = indistinguishable or preferred, 0 = always loses)."""
        if len(self.references) < 2:
            return JudgeRating(None, "judge needs at least two reference excerpts")
        verdict = self.compare(text, self.references[-1], self.references[:-1])
        if verdict.prob_first is None:
            return JudgeRating(None, verdict.note)
        return JudgeRating(min(100.0, 200.0 * verdict.prob_first), verdict.note, verdict.consistent)


def order_swap_consistency(
    judge: Judge, pairs: Sequence[tuple[str, str]], excerpts: Sequence[str]
) -> dict:
    """How often the judge names the same passage in both orders, on (author passage,
    other passage) pairs; a position-biased judge scores low and must not be trusted."""
    verdicts = [judge.compare(a, b, excerpts) for a, b in pairs]
    answered = [v for v in verdicts if len(v.answers) == 2 and None not in v.answers]
    consistent = [v for v in answered if v.consistent]
    return {
        "pairs": len(pairs),
        "both_orders_answered": len(answered),
        "consistent": len(consistent),
        "consistency": len(consistent) / len(answered) if answered else None,
        "author_preferred_when_consistent": (
            sum(v.prob_first == 1.0 for v in consistent) / len(consistent) if consistent else None
        ),
        "errors": sorted({v.note for v in verdicts if v.prob_first is None and v.note}),
    }
