"""`.inkwell/registry.json`: every adapter of a workspace, which one is live, and the live history.

The proxy reads it on every request, so reads are cached by the file's identity (inode, size,
mtime); writes replace the whole file atomically (temp file, fsync, rename) under a file lock,
so a reader or a writer killed half way never sees or leaves a half-written registry.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving.foundation.atomic import TEMP_SUFFIX, write_text_atomic
from serving.foundation.errors import InkwellError
from serving.foundation.names import validate_name

AdapterState = Literal["candidate", "live", "retired"]
REGISTRY_VERSION = 1


class RegistryError(InkwellError):
    """A registry operation that cannot be done; the message says why."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AdapterRecord(BaseModel):
    """One adapter as the registry knows it. `path` is relative to the workspace root."""

    model_config = ConfigDict(extra="forbid")

    name: str
    path: str
    base_model: str
    manifest_digest: str
    # sha256 over the manifest, adapter_config.json and the weights (serving.registry.digest);
    # None for records registered before weights were hashed.
    weights_digest: str | None = None
    state: AdapterState = "candidate"
    scores: dict[str, Any] = Field(default_factory=dict)
    added_at: str = Field(default_factory=now_iso)


class LiveEntry(BaseModel):
    """One step of the live history: who went live, when, and why."""

    model_config = ConfigDict(extra="forbid")

    name: str
    since: str = Field(default_factory=now_iso)
    reason: str = ""


class RegistryData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = REGISTRY_VERSION
    adapters: dict[str, AdapterRecord] = Field(default_factory=dict)
    # A stack: the last entry is live; rollback pops it and the one before goes live again.
    history: list[LiveEntry] = Field(default_factory=list)

    def live_name(self) -> str | None:
        return self.history[-1].name if self.history else None


_CACHE: dict[Path, tuple[tuple[int, int, int], RegistryData]] = {}
_CACHE_LOCK = threading.Lock()


class Registry:
    """The adapter registry of one workspace (`Registry(ws.registry_path)`)."""

    def __init__(self, path: Path | str, workspace_root: Path | str | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        # registry.json lives in <root>/.inkwell/ unless told otherwise.
        self.root = Path(workspace_root).resolve() if workspace_root else self.path.parent.parent
        # One lock object per path in this process (reentrant), so a read-decide-write that
        # holds `locked()` can call the writers below without deadlocking on itself.
        self._lock = FileLock(str(self.path) + ".lock", is_singleton=True)

    # Reads (cheap: parsed once per version of the file).
    def _read(self) -> RegistryData:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return RegistryData()
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        with _CACHE_LOCK:
            cached = _CACHE.get(self.path)
            if cached and cached[0] == key:
                return cached[1]
        data = self._parse()
        with _CACHE_LOCK:
            _CACHE[self.path] = (key, data)
        return data

    def _parse(self) -> RegistryData:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return RegistryData()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{self.path}: not a readable registry ({exc})") from exc
        try:
            return RegistryData.model_validate(raw)
        except ValidationError as exc:
            raise RegistryError(f"{self.path}: invalid registry: {exc.errors()[0]['msg']}") from exc

    def adapters(self) -> list[AdapterRecord]:
        return list(self._read().adapters.values())

    def get(self, name: str) -> AdapterRecord:
        record = self._read().adapters.get(name)
        if record is None:
            raise RegistryError(f"no adapter named {name!r} in {self.path}")
        return record

    def live(self) -> AdapterRecord | None:
        data = self._read()
        name = data.live_name()
        return data.adapters.get(name) if name else None

    def history(self) -> list[LiveEntry]:
        return list(self._read().history)

    def adapter_path(self, record: AdapterRecord) -> Path:
        """The adapter's folder, refused if it would leave the workspace."""
        resolved = (self.root / record.path).resolve()
        if Path(record.path).is_absolute() or self.root not in resolved.parents:
            raise RegistryError(f"adapter {record.name!r}: path {record.path!r} leaves {self.root}")
        return resolved

    # Writes (locked, atomic).
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the registry's lock across a read-decide-write (and the engine calls in it), so
        two processes never decide on the same stale live adapter."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            yield

    @contextlib.contextmanager
    def _update(self) -> Iterator[RegistryData]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            # Temp files of a writer that died before its rename (we hold the lock: none is live).
            for stale in self.path.parent.glob(f".{self.path.name}.*{TEMP_SUFFIX}"):
                stale.unlink(missing_ok=True)
            data = self._parse().model_copy(deep=True)
            yield data
            self._write(data)

    def _write(self, data: RegistryData) -> None:
        write_text_atomic(self.path, json.dumps(data.model_dump(mode="json"), indent=2) + "\n")

    def add(self, record: AdapterRecord) -> AdapterRecord:
        """Register an adapter (as a candidate). Re-adding the same manifest is a no-op."""
        validate_name(record.name, "adapter name")
        self.adapter_path(record)
        with self._update() as data:
            existing = data.adapters.get(record.name)
            if existing is not None:
                if existing.manifest_digest != record.manifest_digest:
                    raise RegistryError(
                        f"adapter {record.name!r} is already registered with a different "
                        "manifest; remove it first or train under a new run name"
                    )
                return existing
            data.adapters[record.name] = record.model_copy(update={"state": "candidate"})
            return data.adapters[record.name]

    def set_scores(self, name: str, scores: dict[str, Any]) -> None:
        with self._update() as data:
            record = _require(data, name, self.path)
            data.adapters[name] = record.model_copy(update={"scores": {**record.scores, **scores}})

    def promote(self, name: str, reason: str = "") -> AdapterRecord | None:
        """Make `name` live; the adapter live before it is retired. Returns the previous live."""
        with self._update() as data:
            record = _require(data, name, self.path)
            previous = data.live_name()
            if previous == name:
                raise RegistryError(f"adapter {name!r} is already live")
            if previous is not None:
                data.adapters[previous] = data.adapters[previous].model_copy(
                    update={"state": "retired"}
                )
            data.adapters[name] = record.model_copy(update={"state": "live"})
            data.history.append(LiveEntry(name=name, reason=reason))
            return data.adapters.get(previous) if previous else None

    def rollback(self) -> AdapterRecord | None:
        """Retire the live adapter and make the previous live one live again (None: the base
        model answers). Returns the new live adapter."""
        with self._update() as data:
            current = data.live_name()
            if current is None:
                raise RegistryError("nothing to roll back: no adapter is live")
            data.history.pop()
            data.adapters[current] = data.adapters[current].model_copy(update={"state": "retired"})
            restored = data.live_name()
            if restored is None:
                return None
            data.adapters[restored] = data.adapters[restored].model_copy(update={"state": "live"})
            return data.adapters[restored]

    def remove(self, name: str) -> AdapterRecord:
        """Forget an adapter (its files stay). The live adapter cannot be removed."""
        with self._update() as data:
            record = _require(data, name, self.path)
            if data.live_name() == name:
                raise RegistryError(
                    f"adapter {name!r} is live; promote another one or roll back first"
                )
            del data.adapters[name]
            kept = [entry for entry in data.history if entry.name != name]
            # Dropping an entry may leave the same adapter twice in a row: keep one.
            data.history = [e for i, e in enumerate(kept) if i == 0 or kept[i - 1].name != e.name]
            return record

    def previous_live(self) -> AdapterRecord | None:
        """The adapter that `rollback` would make live again."""
        data = self._read()
        if len(data.history) < 2:
            return None
        return data.adapters.get(data.history[-2].name)


def _require(data: RegistryData, name: str, path: Path) -> AdapterRecord:
    record = data.adapters.get(name)
    if record is None:
        raise RegistryError(f"no adapter named {name!r} in {path}")
    return record
