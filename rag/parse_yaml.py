"""YAML lore files: a list of entries, or a mapping with `entries:` (plus fields shared by
all of them), or a mapping of category -> list of entries. Each entry is reported by its
own line, so one bad entry is skipped and the rest of the file still ingests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from rag.entry import LoreEntry, LoreFileError
from rag.fields import SHARED_FIELDS, build_entry, canonical_field

# libyaml's loader when PyYAML was built with it (about ten times faster on large files).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _entry_nodes(
    root: yaml.Node, data: Any, source: str
) -> Iterator[tuple[yaml.Node, Any, dict[str, Any]] | LoreFileError]:
    """(entry node, entry value, shared defaults) for each entry, by the file's layout."""
    if isinstance(root, yaml.SequenceNode):
        for node, value in zip(root.value, data, strict=True):
            yield node, value, {}
        return
    if not isinstance(root, yaml.MappingNode):
        yield LoreFileError(source, _line(root), "expected a list of entries or a mapping")
        return
    pairs = list(zip(root.value, data.items(), strict=True))
    fields = {str(k): v for k, v in data.items()}
    if "entries" in fields:
        defaults = {k: v for k, v in fields.items() if k != "entries"}
        unknown = [k for k in defaults if canonical_field(k) not in SHARED_FIELDS]
        if unknown:
            yield LoreFileError(
                source,
                _line(root),
                f"fields next to 'entries' must be shared ones "
                f"({', '.join(sorted(SHARED_FIELDS))}), not {', '.join(unknown)}",
            )
            return
        for (key_node, value_node), (key, value) in pairs:
            if key == "entries":
                if not isinstance(value_node, yaml.SequenceNode):
                    yield LoreFileError(source, _line(key_node), "'entries' must be a list")
                    return
                for node, item in zip(value_node.value, value, strict=True):
                    yield node, item, defaults
        return
    if any(canonical_field(k) == "name" for k in fields):
        yield root, data, {}
        return
    # category -> list of entries
    for (key_node, value_node), (key, value) in pairs:
        if not isinstance(value_node, yaml.SequenceNode):
            yield LoreFileError(
                source,
                _line(key_node),
                f"{key!r}: expected a list of entries under a category name",
            )
            continue
        for node, item in zip(value_node.value, value, strict=True):
            yield node, item, {"category": str(key)}


def parse_yaml(
    text: str, source: str, category: str = "lore"
) -> tuple[list[LoreEntry], list[LoreFileError]]:
    """Entries of one YAML file; `category` is the default for entries that name none."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(filter(None, [exc.context, exc.problem])) or str(exc)
        if exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            problem += f" (the construct opened at line {exc.context_mark.line + 1})"
        return [], [LoreFileError(source, line, f"invalid YAML: {problem}")]
    except yaml.YAMLError as exc:
        return [], [LoreFileError(source, None, f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    if root is None:
        return [], []
    entries: list[LoreEntry] = []
    errors: list[LoreFileError] = []
    for item in _entry_nodes(root, data, source):
        if isinstance(item, LoreFileError):
            errors.append(item)
            continue
        node, value, defaults = item
        line = _line(node)
        if not isinstance(value, dict):
            errors.append(LoreFileError(source, line, "an entry must be a mapping of fields"))
            continue
        try:
            entries.append(build_entry(value, {"category": category, **defaults}, source, line))
        except ValueError as exc:
            errors.append(LoreFileError(source, line, str(exc)))
    return entries, errors
