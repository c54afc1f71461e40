"""The reliability table of the benchmark report: faults injected, kill points tried, fuzz cases
run and races run, with what matters to a writer beside each (data lost, 5xx, unauthenticated
engine requests accepted, race violations).

`run()` runs the reliability suite in a child pytest with INKWELL_RELIABILITY_DIR pointing at a
fresh folder (each test adds its counts there: tests/reliability_counts.py), then `table()`
turns the counts into JSON + Markdown. `from_counts()` reads counts a CI run already wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness.results import RESULTS_DIR, write_results

NAME = "reliability"
REPO = Path(__file__).resolve().parents[1]
SUITE = (
    "tests/test_engine_key.py",
    "tests/test_registry_races.py",
    "tests/test_rebuild_crash.py",
    "tests/test_adapter_integrity.py",
    "tests/test_bounds.py",
    "tests/test_fuzz_proxy.py",
    "tests/test_evaluation_resilience.py",
)
SECTIONS = {"faults": "faults injected", "kill_points": "kill points tried",
            "fuzz": "fuzz cases run", "races": "races run"}  # fmt: skip
OUTCOMES = ("data_lost", "server_errors", "unauthenticated_accepted", "violations")


def run(out_dir: Path | None = None, tests: tuple[str, ...] = SUITE) -> Path:
    """Run the reliability tests and write the table; fails if any test fails."""
    out = Path(out_dir) if out_dir is not None else RESULTS_DIR / NAME
    counts = out / "counts.json"
    counts.unlink(missing_ok=True)
    env = {**os.environ, "INKWELL_RELIABILITY_DIR": str(out)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", *tests], cwd=REPO, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the reliability suite failed (pytest exit {done.returncode})")
    return from_counts(counts, out)


def from_counts(counts: Path, out_dir: Path | None = None) -> Path:
    data = json.loads(Path(counts).read_text(encoding="utf-8"))
    figures, markdown = table(data)
    return write_results(out_dir, NAME, figures, markdown, plots={})


def table(data: dict[str, dict[str, dict[str, int]]]) -> tuple[dict[str, Any], str]:
    """(figures, Markdown): one row per kind, then the totals every outcome must keep at 0."""
    rows = ["| what | kind | count | " + " | ".join(OUTCOMES) + " |",
            "|---|---|---:|" + "---:|" * len(OUTCOMES)]  # fmt: skip
    totals = dict.fromkeys(OUTCOMES, 0)
    runs = dict.fromkeys(SECTIONS, 0)
    for section, label in SECTIONS.items():
        for kind, row in sorted(data.get(section, {}).items()):
            runs[section] += row["count"]
            cells = []
            for outcome in OUTCOMES:
                totals[outcome] += row.get(outcome, 0)
                cells.append(str(row[outcome]) if outcome in row else "–")
            rows.append(f"| {label} | {kind} | {row['count']} | " + " | ".join(cells) + " |")
    summary = ", ".join(f"{runs[s]} {label}" for s, label in SECTIONS.items())
    verdict = ", ".join(f"{totals[o]} {o.replace('_', ' ')}" for o in OUTCOMES)
    markdown = "\n".join(["## Reliability", "", summary + ": " + verdict + ".", "", *rows])
    return {"runs": runs, "totals": totals, "rows": data}, markdown + "\n"


if __name__ == "__main__":
    print(run())
