"""Reading and splitting prose: one tokenisation for every feature, so profiles built from
chapters and texts scored later are measured the same way."""

from __future__ import annotations

import re
from pathlib import Path

MAX_BYTES = 20_000_000  # a whole novel is ~1 MB; anything far larger is not a chapter
_BINARY_SNIFF = 8192


class StyleInputError(ValueError):
    """Text that cannot be measured; the message names the file (when there is one) and why."""


def read_text(path: Path | str, max_bytes: int = MAX_BYTES) -> str:
    """Read a UTF-8 text file, refusing empty, binary, non-UTF-8 and oversized files clearly."""
    path = Path(path)
    if not path.is_file():
        raise StyleInputError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise StyleInputError(
            f"{path}: {size / 1e6:.1f} MB is too large to score (limit {max_bytes / 1e6:.0f} MB); "
            "split it into chapters"
        )
    data = path.read_bytes()
    return decode_text(data, str(path))


def decode_text(data: bytes, where: str = "<text>") -> str:
    """Decode bytes as UTF-8 prose; binary data and bad encodings name the byte offset."""
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise StyleInputError(f"{where}: looks like a binary file (NUL bytes), not prose")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StyleInputError(
            f"{where}: not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at line {line}); "
            "re-save it as UTF-8"
        ) from exc
    check_text(text, where)
    return text


def check_text(text: str, where: str = "<text>") -> str:
    """Refuse text with nothing to measure: empty, whitespace only, or no words at all."""
    if not isinstance(text, str):
        raise StyleInputError(f"{where}: expected text (str), got {type(text).__name__}")
    if "\x00" in text:
        raise StyleInputError(f"{where}: contains NUL characters; binary data is not prose")
    if not text.strip():
        raise StyleInputError(f"{where}: empty text, nothing to measure")
    if len(text) > MAX_BYTES:
        raise StyleInputError(
            f"{where}: {len(text) / 1e6:.1f} million characters is too long to score "
            f"(limit {MAX_BYTES / 1e6:.0f} million); split it into chapters"
        )
    if not WORD_RE.search(text):
        raise StyleInputError(f"{where}: no words found, nothing to measure")
    return text


WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_PARA_SPLIT = re.compile(r"\n[ \t]*\n\s*")
_MD_HEADING = re.compile(r"^#{1,6}[ \t].*$", re.M)
_CURLY_APOSTROPHE = re.compile(r"(?<=[A-Za-z])[’‘](?=[A-Za-z])")
_SENT_END = re.compile(r"(?<=[.!?])[\"'”’)\]_]*\s+(?=[\"'“‘(\[_]*[A-Z0-9])")
_ABBREVIATION_LIST = (
    "mr mrs ms dr st mt jr sr capt col gen lt sgt rev prof hon esq messrs vs etc no"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_LIST.split())


def normalize(text: str) -> str:
    """Unify line endings and in-word apostrophes; strip the BOM, Markdown headings (titles
    are not prose) and Gutenberg italics."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = _MD_HEADING.sub("", text)
    text = _CURLY_APOSTROPHE.sub("'", text)
    return text.replace("_", "")


def paragraphs(text: str) -> list[str]:
    """Paragraphs with their hard-wrapped lines joined.

    A blank line is a paragraph break. Text without blank lines comes in two shapes: one
    paragraph per long line (as word processors export it), or hard-wrapped lines, where a
    line that stops well short of the wrap width ends a paragraph. Both are recognised
    inside any block too long to be one paragraph."""
    out = []
    for block in _PARA_SPLIT.split(text):
        lines = [ln.rstrip() for ln in block.split("\n") if ln.strip()]
        if len(lines) <= 1 or sorted(map(len, lines))[len(lines) // 2] > _LONG_LINE:
            pieces = lines
        elif len(lines) > _MAX_WRAPPED_LINES:
            pieces = _unwrap(lines)
        else:
            pieces = [" ".join(lines)]
        for piece in pieces:
            joined = " ".join(piece.split())
            if joined:
                out.append(joined)
    return out


_LONG_LINE = 100  # median line longer than this: one paragraph per line
_MAX_WRAPPED_LINES = 25  # more hard-wrapped lines than this in one block: not one paragraph


def _unwrap(lines: list[str]) -> list[str]:
    width = sorted(map(len, lines))[int(0.9 * (len(lines) - 1))]
    pieces, current = [], []
    for ln in lines:
        current.append(ln)
        if len(ln) < width - 12:
            pieces.append(" ".join(current))
            current = []
    if current:
        pieces.append(" ".join(current))
    return pieces


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


def sentences(paragraph: str) -> list[str]:
    """Regex sentence split inside one paragraph, re-joining splits after abbreviations
    ("Mr. Holmes"). A paragraph without end punctuation is one sentence."""
    pieces = _SENT_END.split(paragraph)
    out: list[str] = []
    for piece in pieces:
        if out:
            last = out[-1].rstrip("\"'”’)]_ ")
            tail = last.rsplit(None, 1)[-1].rstrip(".").lower() if last else ""
            if tail in _ABBREVIATIONS or (len(tail) == 1 and tail.isalpha()):
                out[-1] = f"{out[-1]} {piece}"
                continue
        out.append(piece)
    return out


def chunk_paragraphs(text: str, size: int) -> list[str]:
    """Cut a text into pieces of about `size` words on paragraph boundaries (an overlong
    paragraph is cut on word boundaries); a last piece under half the size is dropped."""
    chunks: list[str] = []
    current: list[str] = []
    count = 0
    for para in paragraphs(normalize(text)):
        tokens = para.split(" ")
        pieces = (
            [para]
            if len(tokens) <= size
            else [" ".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]
        )
        for piece in pieces:
            current.append(piece)
            count += len(WORD_RE.findall(piece))
            if count >= size:
                chunks.append("\n\n".join(current))
                current, count = [], 0
    if current and count >= size / 2:
        chunks.append("\n\n".join(current))
    return chunks
