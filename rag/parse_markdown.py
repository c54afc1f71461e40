"""Markdown lore files: one entry per heading, with `field: value` lines right under it
(keys, category, priority, first_chapter, constant, secondary_keys, not_keys, id), and
optional YAML front matter whose shared fields apply to every entry of the file.

The entry level is the highest heading level that is not a mere container: in a file
with '# Characters' over '## Ysolde' / '## Dray', the '##' headings are the entries. A
file with no headings is one entry named by its front matter (or its file name)."""

from __future__ import annotations

import itertools
import re
from pathlib import PurePath
from typing import Any

import yaml

from rag.entry import LoreEntry, LoreFileError
from rag.fields import SHARED_FIELDS, build_entry, canonical_field

_HEADING = re.compile(r"^(#{1,6})(?:\s+(.*?))?\s*#*\s*$")
_EXPLICIT_ID = re.compile(r"\s*\{#([^}\s]+)\}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_FIELD_LINE = re.compile(
    r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?([A-Za-z][A-Za-z _-]{0,30}?)(?:\*\*|__)?\s*:"
    r"(?:\*\*|__)?\s*(.*?)\s*$"
)
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")


def _front_matter(lines: list[str], source: str) -> tuple[dict[str, Any], int] | LoreFileError:
    """(front matter mapping, index of the first body line)."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return LoreFileError(source, 1, "front matter opened with '---' is never closed")
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 2 if mark else 1
        return LoreFileError(source, line, f"invalid YAML in front matter: {exc.problem}")
    if not isinstance(data, dict):
        return LoreFileError(source, 2, "front matter must be a mapping of fields")
    return {str(k): v for k, v in data.items()}, end + 1


def _headings(lines: list[str], start: int) -> list[tuple[int, int, str]]:
    """(line index, level, title) of each heading outside fenced code."""
    found = []
    in_fence = False
    for index in range(start, len(lines)):
        if _FENCE.match(lines[index]):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(lines[index])
        if match:
            found.append((index, len(match.group(1)), match.group(2) or ""))
    return found


def _entry_level(headings: list[tuple[int, int, str]], lines: list[str]) -> int:
    """The shallowest level whose headings are not all containers of deeper headings."""
    levels = sorted({level for _, level, _ in headings})
    next_heading = {idx: nxt for (idx, _, _), nxt in itertools.pairwise(headings)}
    for level in levels[:-1]:
        containers = True
        for idx, lvl, _ in headings:
            if lvl != level:
                continue
            body = [ln for ln in lines[idx + 1 : next_heading.get(idx, (len(lines),))[0]]]
            following = next_heading.get(idx)
            if any(ln.strip() for ln in body) or following is None or following[1] <= level:
                containers = False
                break
        if not containers:
            return level
    return levels[-1]


def _parse_value(value: str) -> Any:
    """Flow YAML ('[a, b]', '{not: [x]}') where the author wrote it, else the plain string."""
    if value[:1] in "[{":
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError(f"cannot read {value!r} as a YAML list or mapping") from None
    return value.strip("`")


def _split_fields(body: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Field lines at the top of an entry body, and the text after them."""
    fields: dict[str, Any] = {}
    index = 0
    while index < len(body):
        line = body[index]
        if not line.strip():
            index += 1
            continue
        match = _FIELD_LINE.match(line)
        if not match or canonical_field(match.group(1)) is None:
            break
        name = match.group(1).strip().strip("*_")
        fields[name] = _parse_value(match.group(2))
        index += 1
    return fields, body[index:]


def _text(lines: list[str]) -> str:
    while lines and (not lines[-1].strip() or _RULE.match(lines[-1])):
        lines = lines[:-1]
    return "\n".join(lines).strip()


def parse_markdown(
    text: str, source: str, category: str = "lore"
) -> tuple[list[LoreEntry], list[LoreFileError]]:
    """Entries of one Markdown file; `category` is the default for entries that name none."""
    lines = text.splitlines()
    front = _front_matter(lines, source)
    if isinstance(front, LoreFileError):
        return [], [front]
    matter, start = front
    known = {k: v for k, v in matter.items() if canonical_field(k) is not None}
    shared = {"category": category}
    shared.update({k: v for k, v in known.items() if canonical_field(k) in SHARED_FIELDS})
    headings = _headings(lines, start)

    sections: list[tuple[int, dict[str, Any], list[str]]] = []  # (line, raw fields, text lines)
    errors: list[LoreFileError] = []
    if not headings:
        fields, rest = _split_fields(lines[start:])
        raw = {**known, **fields}
        if not any(canonical_field(k) == "name" for k in raw):
            raw["name"] = PurePath(source).stem.replace("_", " ").replace("-", " ")
        if _text(rest):
            sections.append((start + 1, raw, rest))
    else:
        level = _entry_level(headings, lines)
        bounds = [(i, lvl, title) for i, lvl, title in headings if lvl <= level]
        ends = [i for i, _, _ in bounds[1:]] + [len(lines)]
        for (index, lvl, title), end in zip(bounds, ends, strict=True):
            if lvl != level:
                continue
            fields, rest = _split_fields(lines[index + 1 : end])
            explicit = _EXPLICIT_ID.search(title)
            raw: dict[str, Any] = {"name": _EXPLICIT_ID.sub("", title).strip()}
            if explicit:
                raw["id"] = explicit.group(1)
            raw.update(fields)
            sections.append((index + 1, raw, rest))
        if len(sections) == 1:
            shared = {**known, **shared}
            shared.pop("name", None)
            shared.pop("title", None)

    entries: list[LoreEntry] = []
    for line, raw, rest in sections:
        body = _text(rest)
        try:
            fields = {**raw, "text": body} if body else raw
            entries.append(build_entry(fields, shared, source, line))
        except ValueError as exc:
            errors.append(LoreFileError(source, line, str(exc)))
    return entries, errors
