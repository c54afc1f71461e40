"""One way for every benchmark to save its figures: JSON + Markdown + PNG plots, each with
the machine it ran on (a timing means nothing without it)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

from serving.foundation.atomic import write_bytes_atomic

matplotlib.use("Agg")

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _gpu() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "gpu": _gpu(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "platform": platform.platform(),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "plot"


def write_report(
    out_dir: Path | None, name: str, figures: dict, markdown: str, plots: dict[str, Any]
) -> Path:
    """Write `<name>.json` (figures + machine), `<name>.md` (markdown + plots + machine) and
    one PNG per plot into out_dir (default benchmarks/results/<name>/); return out_dir."""
    import matplotlib.pyplot as plt

    out = Path(out_dir) if out_dir is not None else RESULTS_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    links = []
    for title, fig in plots.items():
        png = f"{name}_{_slug(title)}.png"
        fig.savefig(out / png, dpi=120, bbox_inches="tight")
        plt.close(fig)
        links.append(f"![{title}]({png})")
    payload = {"name": name, **figures, "machine": machine}
    write_bytes_atomic(
        out / f"{name}.json", (json.dumps(payload, indent=2, default=str) + "\n").encode()
    )
    machine_md = "\n".join(f"- {k}: {v}" for k, v in machine.items())
    body = markdown.rstrip() + "\n\n" + "\n\n".join(links) + f"\n\n## Machine\n\n{machine_md}\n"
    write_bytes_atomic(out / f"{name}.md", body.encode())
    return out
