"""One JSONL line per proxied request: what the writer can later ask `inkwell lore why` about.

Lines are appended with a single write on an O_APPEND descriptor under a lock, so concurrent
requests never interleave. Nothing secret is recorded: no headers, no message text, no keys.
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
    error: str | None = None

    def line(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in _LINE_FIELDS}) + b"\n"


_LINE_FIELDS = tuple(f.name for f in fields(TraceRecord) if f.name != "started")


class TraceWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def write(self, record: TraceRecord) -> None:
        record.total_ms = round((time.perf_counter() - record.started) * 1000, 3)
        line = record.line()
        with self._lock:
            os.write(self._fd, line)

    def close(self) -> None:
        os.close(self._fd)


def find_trace(path: Path, request_id: str) -> dict[str, Any] | None:
    """The trace line of one request (the last one if an id ever repeats), or None."""
    if not path.is_file():
        return None
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
