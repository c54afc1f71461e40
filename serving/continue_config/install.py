"""Write our Continue config to disk: merge into what is there, back up first, write atomically."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from serving.continue_config.merge import ContinueConfigError, dump, merge_config, parse_existing
from serving.foundation.atomic import write_text_atomic

DEFAULT_CONFIG_PATH = Path("~/.continue/config.yaml")


@dataclass(frozen=True)
class InstallResult:
    path: Path
    backup: Path | None  # None when there was no file before, or nothing changed
    changed: bool


def _backup(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    shutil.copy2(path, backup)
    return backup


def render_merged(ours: dict, path: Path) -> tuple[str, str | None]:
    """(new text, old text or None): our entries merged into the file at `path`, if any."""
    if not path.exists():
        return dump(ours), None
    try:
        old = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ContinueConfigError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    return dump(merge_config(parse_existing(old, path), ours, path)), old


def install_config(ours: dict, path: Path = DEFAULT_CONFIG_PATH) -> InstallResult:
    path = path.expanduser()
    new, old = render_merged(ours, path)
    if old == new:
        return InstallResult(path=path, backup=None, changed=False)
    backup = _backup(path) if old is not None else None
    write_text_atomic(path, new)
    return InstallResult(path=path, backup=backup, changed=True)
