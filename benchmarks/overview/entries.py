"""One benchmark's place in the overview: its status and saved figures, and the readable
pieces drawn from them (headline numbers, narrative, machine line) that both pages use."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from serving.foundation.errors import InkwellError

Status = Literal["ran", "reused", "stale", "failed", "missing"]


@dataclass
class BenchmarkResult:
    name: str
    title: str
    status: Status
    error: str | None = None
    data: dict[str, Any] | None = None
    saved_at: datetime | None = None
    result_dir: Path | None = None
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    note: str | None = None  # the report's notes/<name>.md: context written by a person


class BenchmarkFailed(InkwellError):
    pass


def figures_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The measured figures of a result: its `figures` block, else everything but the machine."""
    figures = data.get("figures")
    if isinstance(figures, Mapping):
        return figures
    return {k: v for k, v in data.items() if k not in ("name", "machine")}


def describe_machine(machine: Mapping[str, Any] | None) -> str:
    """One line: CPU, cores, RAM, GPU, Python and torch, from the result's machine block."""
    if not machine:
        return "machine not recorded"
    parts = []
    for keys, fmt in (
        (("cpu_model", "cpu", "processor"), "{}"),
        (("cores", "cpu_count", "logical_cores", "cpu_cores"), "{} cores"),
        (("ram_gib", "memory_gib", "ram_gb"), "{} GiB RAM"),
        (("ram", "memory"), "{} RAM"),
        (("gpu", "gpus", "cuda_device"), "GPU {}"),
        (("python",), "Python {}"),
        (("torch",), "torch {}"),
    ):
        value = next((machine[k] for k in keys if machine.get(k) not in (None, "", [])), None)
        if value is not None:
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(fmt.format(text))
    if not any(machine.get(k) for k in ("gpu", "gpus", "cuda_device")):
        parts.append("no GPU")
    return ", ".join(parts) if parts else ", ".join(f"{k}: {v}" for k, v in machine.items())


def _number(value: float) -> str:
    if isinstance(value, int) or (abs(value) >= 1000 and value == value):
        return f"{value:,.0f}"
    return f"{value:.4g}"


_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LOCAL_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://)[^)]*\)")


def narrative(result: BenchmarkResult) -> str | None:
    """The benchmark's own Markdown write-up, fitted into the report: its plots and machine
    section are dropped (the report shows both), local links become plain text (the files they
    name are not next to the report), headings move two levels down."""
    if result.result_dir is None:
        return None
    path = result.result_dir / f"{result.name}.md"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    text = re.split(r"^## Machine\s*$", text, flags=re.M)[0]
    text = re.sub(r"\A\s*# .*\n", "", text)  # its title: the report's section has one
    text = _LOCAL_LINK.sub(r"\1", _IMAGE.sub("", text))
    text = re.sub(r"^(#{1,4}) ", r"\1## ", text, flags=re.M)
    return re.sub(r"\n{3,}", "\n\n", text).strip() or None


def headline_numbers(figures: Any, limit: int = 24) -> list[tuple[str, str]]:
    """(dotted key, value) for the scalar figures; lists and the plotted data are left out."""
    from benchmarks.overview.figures import STANDARD_FIGURES

    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if len(rows) >= limit:
            return
        if isinstance(value, Mapping):
            for key, sub in value.items():
                if key not in STANDARD_FIGURES:
                    walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            rows.append((prefix, str(value)))
        elif isinstance(value, int | float):
            rows.append((prefix, _number(value)))

    walk("", figures)
    return rows
