"""One way for every benchmark to save its figures: JSON + Markdown + PNG plots, each with
the machine it ran on (a timing means nothing without it)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import matplotlib

from benchmarks.harness.machine import machine_info
from serving.foundation.atomic import write_bytes_atomic

matplotlib.use("Agg")

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "plot"


def write_results(
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
