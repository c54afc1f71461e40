"""Counters the reliability tests add to (faults injected, kill points, fuzz cases, races) in
one JSON file, read by benchmarks/reliability.py for the benchmark report's table.

Each test adds its own numbers under a lock; the file lives in INKWELL_RELIABILITY_DIR, else
benchmarks/results/reliability/ of this checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path

from filelock import FileLock

COUNTS_FILE = "counts.json"


def counts_path() -> Path:
    default = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "reliability"
    return Path(os.environ.get("INKWELL_RELIABILITY_DIR") or default) / COUNTS_FILE


def record(section: str, kind: str, count: int, **outcome: int) -> None:
    """Add `count` runs of `kind` in `section` (faults, kill_points, fuzz, races) and their
    outcomes (data_lost, server_errors, unauthenticated_accepted, violations)."""
    path = counts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        row = data.setdefault(section, {}).setdefault(kind, {"count": 0})
        row["count"] += count
        for name, value in outcome.items():
            row[name] = row.get(name, 0) + value
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
