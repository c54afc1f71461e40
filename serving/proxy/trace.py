"""One JSONL line per proxied request: what the writer can later ask `inkwell lore why` about.

Lines are appended with a single write on an O_APPEND descriptor under a lock, so concurrent
requests never interleave. Nothing secret is recorded: no headers, no message text, no keys.
The file rotates at MAX_BYTES (traces.jsonl.1 ... .<BACKUPS>), so a proxy that runs for months
never fills the disk; `find_trace` looks in the rotated files too.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

MAX_BYTES = 32 * 1024 * 1024
BACKUPS = 3


@dataclass
class TraceRecord:
    request_id: str
    route: str
    started: float = field(default_factory=time.perf_counter)
    ts: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    model: str | None = None
    adapter: str | None = None
    stream: bool = False
    lore_enabled: bool = True
    lore: list[dict[str, Any]] = field(default_factory=list)
    retrieval_ms: float | None = None
    upstream_ms: float | None = None
    total_ms: float | None = None
    status: int | None = None
    tokens: dict[str, int] | None = None
    # Style-steered sampling: n, each candidate's style score, the winner, scoring time.
    best_of: dict[str, Any] | None = None
    error: str | None = None

    def line(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in _LINE_FIELDS}) + b"\n"


_LINE_FIELDS = tuple(f.name for f in fields(TraceRecord) if f.name != "started")


def rotated(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


class TraceWriter:
    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        self._lock = threading.Lock()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, record: TraceRecord) -> None:
        record.total_ms = round((time.perf_counter() - record.started) * 1000, 3)
        line = record.line()
        with self._lock:
            if self._size + len(line) > self.max_bytes:
                self._rotate()
            os.write(self._fd, line)
            self._size += len(line)

    def _rotate(self) -> None:
        """traces.jsonl -> .1 -> .2 ...; the oldest beyond `backups` is dropped."""
        os.close(self._fd)
        for index in range(self.backups - 1, 0, -1):
            if rotated(self.path, index).exists():
                os.replace(rotated(self.path, index), rotated(self.path, index + 1))
        os.replace(self.path, rotated(self.path, 1))
        self._fd = self._open()
        self._size = 0

    def close(self) -> None:
        os.close(self._fd)


def find_trace(path: Path, request_id: str) -> dict[str, Any] | None:
    """The trace line of one request (the last one if an id ever repeats), or None."""
    for candidate in [path, *(rotated(path, i) for i in range(1, BACKUPS + 1))]:
        found = _find_in(candidate, request_id) if candidate.is_file() else None
        if found is not None:
            return found
    return None


def _find_in(path: Path, request_id: str) -> dict[str, Any] | None:
    needle = f'"request_id":"{request_id}"'.encode()
    found = None
    with path.open("rb") as lines:
        for line in lines:
            if needle in line:
                try:
                    found = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
    return found
