"""What a lore entry is, once parsed from Markdown or YAML, and how a bad one is reported."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Chunk ids are "<entry id>#<n>", so an id never holds '#'.
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")


@dataclass(frozen=True)
class LoreFileError:
    """One problem in one lore file; the file (or entry) it names was skipped."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


def slugify(name: str) -> str:
    """A stable id from a name: 'Harrow's Lantern' -> 'harrows-lantern'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"['’]", "", ascii_name.lower())
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")


def _clean_keys(values: list[str]) -> list[str]:
    """Strip, drop empties and case-insensitive duplicates, keep the author's order."""
    seen: set[str] = set()
    kept: list[str] = []
    for value in values:
        key = " ".join(str(value).split())
        if key and key.lower() not in seen:
            seen.add(key.lower())
            kept.append(key)
    return kept


@dataclass(frozen=True)
class EntryKeys:
    """What keyword triggering needs of an entry; read straight from an index's stored entry,
    so opening 10,000 entries does not build 10,000 models."""

    entry_id: str
    fire: tuple[str, ...]  # its name and keys: any of them fires it (none for chapters)
    conditions: tuple[str, ...]  # its secondary keys: looked for, never firing

    @classmethod
    def from_index(cls, data: dict[str, Any]) -> EntryKeys:
        """From `model_dump(by_alias=True)` of a valid entry (what an index stores)."""
        keys = data.get("secondary_keys") or {}
        chapter = data.get("kind", "lore") == "chapter"
        words = [] if chapter else _clean_keys([data["name"], *data.get("keys", [])])
        return cls(data["id"], tuple(words), (*keys.get("and", []), *keys.get("not", [])))


class SecondaryKeys(BaseModel):
    """Lorebook-style selective keys, checked against the same scanned text as the keys.
    `and`: a keyword trigger also needs at least one of these (SillyTavern's AND ANY).
    `not`: none of these may appear, or the entry is not injected at all."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    and_: list[str] = Field(default_factory=list, alias="and")
    not_: list[str] = Field(default_factory=list, alias="not")

    @field_validator("and_", "not_")
    @classmethod
    def _keys(cls, values: list[str]) -> list[str]:
        return _clean_keys(values)


class LoreEntry(BaseModel):
    """One story-bible entry. `kind="chapter"` marks chapter text indexed as story-so-far
    memory: it has no keyword triggers and is offered from the chapter after it on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1)
    keys: list[str] = Field(default_factory=list)
    category: str = "lore"
    text: str
    constant: bool = False
    priority: int = 0
    secondary_keys: SecondaryKeys = Field(default_factory=SecondaryKeys)
    first_chapter: int | None = Field(None, ge=1)
    kind: Literal["lore", "chapter"] = "lore"
    source: str = ""
    line: int | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID_PATTERN.fullmatch(value):
            raise ValueError(
                f"invalid id {value!r}: use letters, digits, '_', '.', ':' or '-' "
                "(no '#', no spaces), starting with a letter or digit"
            )
        return value

    @field_validator("name", "category")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("keys")
    @classmethod
    def _keys(cls, values: list[str]) -> list[str]:
        return _clean_keys(values)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the entry has no text")
        return value

    @classmethod
    def from_index(cls, data: dict[str, Any]) -> LoreEntry:
        """An entry as an index stored it (`model_dump(by_alias=True)` of a valid entry),
        rebuilt without validating it again: 10,000 entries open in milliseconds."""
        fields = {k: v for k, v in data.items() if k in _ENTRY_FIELDS}
        keys = fields.get("secondary_keys") or {}
        fields["secondary_keys"] = SecondaryKeys.model_construct(
            and_=list(keys.get("and", [])), not_=list(keys.get("not", []))
        )
        return cls.model_construct(**fields)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source

    def content_hash(self) -> str:
        """Changes when anything but the entry's position in its file changes."""
        payload = self.model_dump_json(exclude={"source", "line"}, by_alias=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


_ENTRY_FIELDS = frozenset(LoreEntry.model_fields)
