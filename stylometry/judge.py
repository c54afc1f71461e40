"""An LLM judge of style: any OpenAI-compatible endpoint, pairwise, asked in both orders.

LLM judges prefer whichever passage comes first (or second) more often than chance, so each
comparison is asked twice with the passages swapped and the two verdicts are averaged: a
judge that always says "A" ends up at 0.5, i.e. no information. Answers must be a JSON
verdict naming A or B; anything else is discarded and reported. A judge that is down or
answers garbage never stops scoring: the score goes on without it (see score.py)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

RUBRIC = """You judge prose style, not content. You get reference excerpts written by one \
author and two passages, A and B. Decide which passage is closer to the author's style: \
word choice and vocabulary level, sentence length and rhythm, paragraphing, how much \
dialogue and how it is tagged, punctuation habits, point of view and tense, tone. Ignore \
plot, names and facts. Reply with JSON only: {"closer": "A" or "B", "reason": "<one sentence>"}"""

MAX_PASSAGE_CHARS = 3000
_VERDICT = re.compile(r'"closer"\s*:\s*"([AB])"')


@dataclass
class PairVerdict:
    """P(first passage is closer), from the answers that parsed (None if none did)."""

    prob_first: float | None
    answers: list[str | None] = field(default_factory=list)  # per order: "A"/"B"/None
    note: str = ""

    @property
    def consistent(self) -> bool:
        return self.prob_first in (0.0, 1.0)


@dataclass
class JudgeRating:
    score: float | None  # 0-100, None when the judge could not be used
    note: str = ""


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
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.references = [r[:MAX_PASSAGE_CHARS] for r in references]
        self._client = OpenAI(
            base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=0
        )
        self._cache: dict[str, str | None] = {}

    def _ask(self, excerpts: Sequence[str], a: str, b: str) -> str | None:
        """One question; the parsed verdict ("A"/"B") or None. Cached by content."""
        refs = "\n\n---\n\n".join(excerpts)
        user = (
            f"Reference excerpts:\n\n{refs}\n\n=== Passage A ===\n{a[:MAX_PASSAGE_CHARS]}"
            f"\n\n=== Passage B ===\n{b[:MAX_PASSAGE_CHARS]}\n\nWhich passage is closer "
            "to the author's style?"
        )
        key = hashlib.sha256(f"{self.model}\0{RUBRIC}\0{user}".encode()).hexdigest()
        if key not in self._cache:
            reply = self._client.chat.completions.create(
                model=self.model,
                temperature=0.0,
                max_tokens=200,
                messages=[{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}],
            )
            self._cache[key] = parse_verdict(reply.choices[0].message.content)
        return self._cache[key]

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
        return JudgeRating(min(100.0, 200.0 * verdict.prob_first), verdict.note)
