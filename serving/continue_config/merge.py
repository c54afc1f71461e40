"""Merge our entries into a user's existing Continue config without touching theirs.

Round-trips with ruamel.yaml so the user's comments, order and quoting survive. Our entries
are recognised by name (models) and by title (the lore context provider): running the merge
again replaces them in place instead of adding copies.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from serving.continue_config.build import LORE_TITLE, OUR_MODEL_NAMES, ContinueConfigError


def _yaml() -> YAML:
    yaml = YAML()  # round-trip mode
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def parse_existing(text: str, path: Path) -> CommentedMap:
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else "unknown line"
        raise ContinueConfigError(f"{path}: invalid YAML at {where}: {exc.problem}") from exc
    except YAMLError as exc:
        raise ContinueConfigError(f"{path}: invalid YAML: {exc}") from exc
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ContinueConfigError(
            f"{path}: expected a mapping at the top level, got {type(data).__name__}"
        )
    return data


def _is_ours_model(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("name") in OUR_MODEL_NAMES


def _is_ours_context(entry: Any) -> bool:
    if not isinstance(entry, dict) or entry.get("provider") != "http":
        return False
    params = entry.get("params")
    return isinstance(params, dict) and params.get("title") == LORE_TITLE


def _merge_list(doc: CommentedMap, key: str, ours: list[dict], is_ours, path: Path) -> None:
    """Replace our old entries in place (first one's position), keep every other entry."""
    existing = doc.get(key)
    if existing is None:
        doc[key] = CommentedSeq(ours)
        return
    if not isinstance(existing, list):
        raise ContinueConfigError(f"{path}: '{key}' must be a list, got {type(existing).__name__}")
    positions = [i for i, entry in enumerate(existing) if is_ours(entry)]
    insert_at = positions[0] if positions else len(existing)
    for i in reversed(positions):
        del existing[i]
    for offset, entry in enumerate(ours):
        existing.insert(insert_at + offset, entry)


def merge_config(existing: CommentedMap, ours: dict[str, Any], path: Path) -> CommentedMap:
    """`existing` updated in place with our models and context provider; returned for chaining."""
    for key in ("name", "version", "schema"):
        existing.setdefault(key, ours[key])
    if existing["schema"] != "v1":
        raise ContinueConfigError(
            f"{path}: schema {existing['schema']!r} is not Continue's config.yaml schema v1"
        )
    _merge_list(existing, "models", ours["models"], _is_ours_model, path)
    _merge_list(existing, "context", ours["context"], _is_ours_context, path)
    return existing


def dump(doc: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    return buffer.getvalue()
