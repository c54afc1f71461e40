"""Workspaces for benchmarks: the demo book with its lore indexed, and settings written into a
workspace's inkwell.yaml (ports, caps) before a server reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from serving.foundation.config import deep_merge


def set_options(root: Path, overrides: dict[str, Any]) -> None:
    """Merge `overrides` (e.g. {"server": {"port": 9001}}) into the workspace's inkwell.yaml."""
    path = root / "inkwell.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    path.write_text(yaml.safe_dump(deep_merge(data, overrides), sort_keys=False), encoding="utf-8")


def indexed_demo_workspace(root: Path) -> Any:
    """A fresh demo book with its lore in the store (real Chroma, real embeddings)."""
    from rag import ingest, open_store
    from serving.foundation.workspace import Workspace, init_workspace

    ws = init_workspace(root, demo=True)
    ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store), progress=False)
    return Workspace.load(root)
