"""Cut a chapter into passages of a bounded token length at scene and paragraph boundaries.

A passage that ends mid-sentence teaches the model to stop mid-sentence, so cuts fall
between paragraphs (preferring scene breaks) and only an over-long paragraph is cut, between
sentences.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_PARAGRAPH_SPLIT = re.compile(r"\n[ \t]*\n+")
# "* * *", "***", "#", "~", "---", "§" alone on a line: the conventional scene breaks.
_SCENE_BREAK = re.compile(r"^\s*(?:[*#~§•·=-]\s*)+$")
_HEADING = re.compile(r"^\s*#{1,6}\s+(?P<title>\S.*)$")
# A plain-text chapter's first line such as "CHAPTER III." or "Chapter 4: The Mill".
_PLAIN_TITLE = re.compile(r"^(?P<title>(?:chapter|part|book|prologue|epilogue)\b.{0,80})$", re.I)
# The space after a sentence's end and its closing quotes or brackets (kept with the sentence).
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]])|(?<=[.!?…][\"'”’)\]]{2}))\s+")

# "Mr." or "Esq." end a word, not a sentence.
_ABBREVIATION = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Esq|Col|Capt|Gen|Rev|Sr|Jr|Prof|Mt|vs|etc)\.$")

CountTokens = Callable[[list[str]], list[int]]


@dataclass(frozen=True)
class Passage:
    text: str
    tokens: int
    index: int  # position within its chapter
    new_scene: bool  # a scene break comes right before it


@dataclass(frozen=True)
class ChapterText:
    title: str | None
    passages: list[Passage]
    total_tokens: int


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    scene_break_before: bool


def split_chapter(
    text: str, count_tokens: CountTokens, min_tokens: int, max_tokens: int
) -> ChapterText:
    """Group paragraphs greedily into passages of min_tokens..max_tokens tokens.

    Pieces are kept below max_tokens - min_tokens, so a passage still short of min_tokens
    can always take the next piece without passing max_tokens; only a chapter's last passage
    may end up shorter, when it cannot be merged into the one before.
    """
    if not 0 < min_tokens < max_tokens:
        raise ValueError(f"chunk sizes must satisfy 0 < min ({min_tokens}) < max ({max_tokens})")
    title, units = _units(text, count_tokens, max_tokens - min_tokens)
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for unit in units:
        full = current and size + unit.tokens > max_tokens
        scene_cut = current and unit.scene_break_before and size >= min_tokens
        if full or scene_cut:
            groups.append(current)
            current, size = [], 0
        current.append(unit)
        size += unit.tokens
    if current:
        last_size = sum(u.tokens for u in current)
        if (
            last_size < min_tokens
            and groups
            and sum(u.tokens for u in groups[-1]) + last_size <= max_tokens
        ):
            groups[-1].extend(current)
        else:
            groups.append(current)
    passages = [
        Passage(
            text="\n\n".join(u.text for u in group),
            tokens=sum(u.tokens for u in group),
            index=i,
            new_scene=i > 0 and group[0].scene_break_before,
        )
        for i, group in enumerate(groups)
    ]
    return ChapterText(title=title, passages=passages, total_tokens=sum(u.tokens for u in units))


def tail_excerpt(text: str, count_tokens: CountTokens, max_tokens: int) -> str:
    """The end of a passage, at most max_tokens long, starting at a sentence boundary."""
    sentences = [s for para in _paragraphs(text) for s in _sentences(para)]
    counts = count_tokens(sentences) if sentences else []
    kept: list[int] = []
    total = 0
    for i in range(len(sentences) - 1, -1, -1):
        if kept and total + counts[i] > max_tokens:
            break
        kept.append(i)
        total += counts[i]
    # Rejoin, keeping the paragraph breaks that separated the kept sentences.
    chosen = set(kept)
    out: list[str] = []
    i = 0
    for para in _paragraphs(text):
        picked = []
        for sentence in _sentences(para):
            if i in chosen:
                picked.append(sentence)
            i += 1
        if picked:
            out.append(" ".join(picked))
    return "\n\n".join(out)


def _paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [" ".join(p.split()) for p in _PARAGRAPH_SPLIT.split(text) if p.strip()]


def _sentences(paragraph: str) -> list[str]:
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(paragraph):
        if not piece.strip():
            continue
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def _units(text: str, count_tokens: CountTokens, max_piece: int) -> tuple[str | None, list[_Unit]]:
    paragraphs = _paragraphs(text)
    title = None
    if paragraphs and (
        heading := _HEADING.match(paragraphs[0]) or _PLAIN_TITLE.match(paragraphs[0])
    ):
        title = heading.group("title").strip()
        paragraphs = paragraphs[1:]
    scene_break = False
    kept: list[tuple[str, bool]] = []
    for para in paragraphs:
        if _SCENE_BREAK.match(para) or _HEADING.match(para):
            scene_break = bool(kept)
            continue
        kept.append((para, scene_break))
        scene_break = False
    counts = count_tokens([p for p, _ in kept]) if kept else []
    units: list[_Unit] = []
    for (para, brk), tokens in zip(kept, counts, strict=True):
        if tokens <= max_piece:
            units.append(_Unit(para, tokens, brk))
        else:
            units.extend(_split_long(para, brk, count_tokens, max_piece))
    return title, units


def _split_long(para: str, brk: bool, count_tokens: CountTokens, max_piece: int) -> list[_Unit]:
    """An over-long paragraph in pieces of whole sentences (a sentence longer than a piece
    stays whole: it is rarer than a cut mid-sentence is harmful)."""
    sentences = _sentences(para)
    counts = count_tokens(sentences)
    pieces: list[_Unit] = []
    current: list[str] = []
    size = 0
    for sentence, tokens in zip(sentences, counts, strict=True):
        if current and size + tokens > max_piece:
            pieces.append(_Unit(" ".join(current), size, brk and not pieces))
            current, size = [], 0
        current.append(sentence)
        size += tokens
    if current:
        pieces.append(_Unit(" ".join(current), size, brk and not pieces))
    return pieces
