"""A whole lore/ folder -> entries + problems. A bad file or entry is reported by path and
line and skipped; everything else still ingests."""

from __future__ import annotations

from pathlib import Path

from rag.entry import LoreEntry, LoreFileError
from rag.errors import LoreError
from rag.parse_markdown import parse_markdown
from rag.parse_yaml import parse_yaml

MARKDOWN_SUFFIXES = (".md", ".markdown", ".txt")
YAML_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 5_000_000


class TextFileError(LoreError):
    """A file that is not readable text; carries the line where that shows, if any."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def read_text_file(path: Path) -> str:
    """UTF-8 text of a file, or TextFileError saying why not (binary, encoding, size)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise TextFileError(f"file too large ({size} bytes; the limit is {MAX_FILE_BYTES})")
    data = path.read_bytes()
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise TextFileError("binary file (contains NUL bytes), not text", line)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TextFileError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", line) from None


def _lore_files(lore_dir: Path) -> list[Path]:
    """Every visible file under lore_dir, in a stable order."""
    return sorted(
        p
        for p in lore_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(lore_dir).parts)
    )


def parse_lore_file(path: Path, lore_dir: Path) -> tuple[list[LoreEntry], list[LoreFileError]]:
    relative = path.relative_to(lore_dir)
    source = str(Path(lore_dir.name) / relative)
    if lore_dir.resolve() not in path.resolve().parents:
        return [], [LoreFileError(source, None, "links outside the lore folder; skipped")]
    suffix = path.suffix.lower()
    if suffix not in MARKDOWN_SUFFIXES + YAML_SUFFIXES:
        expected = ", ".join(MARKDOWN_SUFFIXES + YAML_SUFFIXES)
        return [], [LoreFileError(source, None, f"not a lore file ({expected}); skipped")]
    try:
        text = read_text_file(path)
    except TextFileError as exc:
        return [], [LoreFileError(source, exc.line, f"{exc}; skipped")]
    except OSError as exc:
        return [], [LoreFileError(source, None, f"cannot read: {exc.strerror}; skipped")]
    # Entries that name no category take their folder's name, or the file's.
    category = relative.parts[0] if len(relative.parts) > 1 else path.stem
    if suffix in YAML_SUFFIXES:
        return parse_yaml(text, source, category)
    return parse_markdown(text, source, category)


def parse_lore_dir(lore_dir: Path) -> tuple[list[LoreEntry], list[LoreFileError]]:
    """All entries of a lore folder (ids unique: a later duplicate is reported and skipped)."""
    lore_dir = Path(lore_dir)
    if not lore_dir.is_dir():
        raise FileNotFoundError(f"{lore_dir}: no such lore folder")
    entries: list[LoreEntry] = []
    errors: list[LoreFileError] = []
    first_seen: dict[str, LoreEntry] = {}
    for path in _lore_files(lore_dir):
        file_entries, file_errors = parse_lore_file(path, lore_dir)
        errors.extend(file_errors)
        for entry in file_entries:
            earlier = first_seen.get(entry.id)
            if earlier is not None:
                errors.append(
                    LoreFileError(
                        entry.source,
                        entry.line,
                        f"duplicate id {entry.id!r} (already defined at {earlier.where}); "
                        "skipped — give one of them an explicit `id:`",
                    )
                )
                continue
            first_seen[entry.id] = entry
            entries.append(entry)
    return entries, errors
