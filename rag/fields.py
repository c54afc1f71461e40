"""Raw fields from either lore format -> a LoreEntry. Authors spell things many ways
('keys' or 'aliases', 'yes' or 'true', a list or 'a, b'), so both parsers share this one
reading of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from rag.entry import LoreEntry, SecondaryKeys, slugify

# Field spellings accepted in lore files -> the LoreEntry field they fill.
FIELD_NAMES: dict[str, str] = {
    "id": "id",
    "name": "name",
    "title": "name",
    "keys": "keys",
    "key": "keys",
    "aliases": "keys",
    "alias": "keys",
    "triggers": "keys",
    "category": "category",
    "type": "category",
    "text": "text",
    "content": "text",
    "description": "text",
    "body": "text",
    "constant": "constant",
    "always": "constant",
    "priority": "priority",
    "order": "priority",
    "secondary_keys": "secondary_keys",
    "secondary": "secondary_keys",
    "and_keys": "and_keys",
    "not_keys": "not_keys",
    "exclude_keys": "not_keys",
    "first_chapter": "first_chapter",
    "from_chapter": "first_chapter",
}
# Fields that front matter or a YAML file header may set for every entry of the file.
SHARED_FIELDS = {"category", "priority", "constant", "first_chapter", "secondary_keys"}
_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n", ""}
_NOT_PREFIXES = ("not ", "!", "-")


def canonical_field(raw_name: str) -> str | None:
    """'Secondary Keys', 'secondary-keys', '**Keys**' -> the canonical field name, or None."""
    norm = raw_name.strip().strip("*_`").strip().lower().replace("-", "_").replace(" ", "_")
    return FIELD_NAMES.get(norm)


def split_keys(value: Any) -> list[str]:
    """A YAML list, or one string with comma/semicolon-separated keys."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and str(v).strip()]
    if isinstance(value, str):
        parts = value.replace(";", ",").split(",")
        return [p.strip().strip("\"'`") for p in parts if p.strip()]
    if isinstance(value, int | float):
        return [str(value)]
    raise ValueError(f"keys must be a list or a comma-separated string, not {type(value).__name__}")


def parse_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{field} must be true or false, not {value!r}")


def parse_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{field} must be a whole number, not {value!r}") from None


def parse_secondary(value: Any) -> tuple[list[str], list[str]]:
    """`{and: [...], not: [...]}`, or a list/string of keys where 'not x', '!x' or '-x'
    marks an exclusion and everything else is an AND key."""
    if value is None:
        return [], []
    if isinstance(value, Mapping):
        unknown = set(map(str, value)) - {"and", "not", "any", "none"}
        if unknown:
            raise ValueError(
                f"secondary_keys takes 'and' and 'not' lists, not {', '.join(sorted(unknown))}"
            )
        and_keys = split_keys(value.get("and")) + split_keys(value.get("any"))
        not_keys = split_keys(value.get("not")) + split_keys(value.get("none"))
        return and_keys, not_keys
    and_keys: list[str] = []
    not_keys: list[str] = []
    for key in split_keys(value):
        lowered = key.lower()
        prefix = next((p for p in _NOT_PREFIXES if lowered.startswith(p)), None)
        if prefix:
            not_keys.append(key[len(prefix) :].strip())
        else:
            and_keys.append(key)
    return and_keys, not_keys


def build_entry(
    raw: Mapping[str, Any], defaults: Mapping[str, Any], source: str, line: int | None
) -> LoreEntry:
    """Build and validate one entry; ValueError names the field that is wrong."""
    fields: dict[str, Any] = {}
    for raw_name, value in {**defaults, **raw}.items():
        name = canonical_field(str(raw_name))
        if name is None:
            known = ", ".join(sorted(set(FIELD_NAMES)))
            raise ValueError(f"unknown field {raw_name!r} (known fields: {known})")
        if name in ("keys", "and_keys", "not_keys"):
            fields[name] = fields.get(name, []) + split_keys(value)
        else:
            fields[name] = value

    if "name" not in fields or not str(fields["name"] or "").strip():
        raise ValueError("the entry has no name")
    name = str(fields["name"]).strip()
    text = fields.get("text")
    if not isinstance(text, str | int | float) or not str(text).strip():
        raise ValueError(f"entry {name!r} has no text")
    and_keys, not_keys = parse_secondary(fields.get("secondary_keys"))
    and_keys += fields.get("and_keys", [])
    not_keys += fields.get("not_keys", [])
    entry_id = str(fields["id"]).strip() if fields.get("id") is not None else slugify(name)
    if not entry_id:
        raise ValueError(f"entry {name!r} needs an id (its name has no letters or digits)")
    values: dict[str, Any] = {
        "id": entry_id,
        "name": name,
        "keys": fields.get("keys", []),
        "text": str(text),
        "secondary_keys": SecondaryKeys(and_=and_keys, not_=not_keys),
        "source": source,
        "line": line,
    }
    if fields.get("category") is not None:
        values["category"] = str(fields["category"])
    if fields.get("constant") is not None:
        values["constant"] = parse_bool(fields["constant"], "constant")
    if fields.get("priority") is not None:
        values["priority"] = parse_int(fields["priority"], "priority")
    if fields.get("first_chapter") is not None:
        values["first_chapter"] = parse_int(fields["first_chapter"], "first_chapter")
    try:
        return LoreEntry(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'entry'}: {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"entry {name!r}: {problems}") from None
