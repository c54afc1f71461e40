"""A cheap, slightly generous token estimate for budgeting injected lore.

The proxy serves whatever model is live, so no single tokenizer is right; BPE tokenizers of
current chat models average about four characters or 0.75 words per token on English prose,
and taking the larger of the two estimates keeps the budget honest on names and numbers."""

from __future__ import annotations

import math


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    return math.ceil(max(len(text) / 4.0, len(text.split()) * 1.35))
