"""Retrieved lore -> the prompt: a marked block in the system message (chat) or a short
prefix (completions). Injecting twice replaces the old block, so a client that sends back
the whole conversation never accumulates stale lore."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from rag.retrieve import LoreHit

OPEN, CLOSE = "<inkwell-lore>", "</inkwell-lore>"
_BLOCK = re.compile(r"\n*<inkwell-lore>.*?</inkwell-lore>\n*", re.DOTALL)
_MARKERS = re.compile(r"</?inkwell-lore>")


def _clean(text: str) -> str:
    """Entry text never closes the block early."""
    return _MARKERS.sub("", text).strip()


def lore_block(hits: Sequence[LoreHit]) -> str:
    parts = [
        OPEN,
        "Story bible entries relevant to this passage. Stay consistent with them; "
        "do not quote them.",
    ]
    for hit in hits:
        parts.append(f"\n## {_clean(hit.name)} ({_clean(hit.category)})\n{_clean(hit.text)}")
    parts.append(CLOSE)
    return "\n".join(parts)


def lore_prefix(hits: Sequence[LoreHit]) -> str:
    """A short block to put before a /v1/completions prompt ('' when there is no lore)."""
    if not hits:
        return ""
    lines = [OPEN]
    lines += [f"{_clean(hit.name)}: {' '.join(_clean(hit.text).split())}" for hit in hits]
    lines.append(CLOSE)
    return "\n".join(lines) + "\n\n"


def _strip(content: Any) -> tuple[Any, bool]:
    """Content without an earlier lore block, and whether there was one."""
    if isinstance(content, str):
        stripped = _BLOCK.sub("\n\n", content).strip("\n") if OPEN in content else content
        return stripped, stripped != content
    if isinstance(content, list):
        kept = [
            p
            for p in content
            if not (isinstance(p, dict) and isinstance(p.get("text"), str) and OPEN in p["text"])
        ]
        return kept, len(kept) != len(content)
    return content, False


def _is_empty(content: Any) -> bool:
    return content is None or content == "" or content == []


def inject_chat(
    messages: Sequence[dict[str, Any]], hits: Sequence[LoreHit]
) -> list[dict[str, Any]]:
    """New messages with the lore block at the end of the first system message (one is
    prepended when there is none). The input list and its messages are not modified."""
    result = [m for m in messages]
    index = next(
        (i for i, m in enumerate(result) if isinstance(m, dict) and m.get("role") == "system"),
        None,
    )
    if index is not None:
        system = copy.copy(result[index])
        content, had_block = _strip(system.get("content"))
        if not hits:
            if had_block and _is_empty(content):
                del result[index]  # the system message held only our lore
            elif had_block:
                system["content"] = content
                result[index] = system
            return result
        block = lore_block(hits)
        if isinstance(content, list):
            system["content"] = [*content, {"type": "text", "text": block}]
        else:
            system["content"] = f"{content}\n\n{block}" if content else block
        result[index] = system
        return result
    if hits:
        result.insert(0, {"role": "system", "content": lore_block(hits)})
    return result
