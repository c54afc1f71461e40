"""`inkwell bench report`: every benchmark in one overview a person can read.

Runs each benchmark that has no fresh saved result (`results/<name>/<name>.json` younger than
`fresh_hours`), each in its own process with a time limit so one crash or hang cannot take the
report down, then writes `reports/<date>/index.html` and `README.md` with the figures copied
next to them. A benchmark that fails or does not exist is listed with its error.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.overview.entries import (
    BenchmarkFailed,
    BenchmarkResult,
    describe_machine,
    figures_of,
)
from serving.foundation.workspace import DEV_REFERENCE_CORPUS

BENCHMARKS_DIR = Path(__file__).resolve().parents[1]
RESULTS_DIR = BENCHMARKS_DIR / "results"
REPORTS_DIR = BENCHMARKS_DIR / "reports"
NOTES_DIR = "notes"  # in a report folder: <benchmark name>.md, kept across rebuilds
# Modules in benchmarks/ that are tooling, not benchmarks.
NOT_BENCHMARKS = {"__init__", "cli"}
# What the report is expected to cover; a missing module is reported, not skipped silently.
EXPECTED = {
    "stylometry_attribution": "Stylometry attribution",
    "judge_consistency": "The LLM judge: order-swap consistency",
    "retrieval_quality": "Retrieval quality",
    "proxy_overhead": "Proxy overhead",
    "train_throughput": "Training throughput",
    "gate_benchmark": "The adapter gate",
    "continue_latency": "End-to-end latency through Continue",
    "reliability": "Reliability: faults, kills, fuzzing, races",
    "best_of": "Best-of-n: what choosing candidates by the style score adds, and costs",
}

# How the report runs a benchmark whose run() needs arguments (JSON-able keyword arguments).
RUN_ARGS: dict[str, dict[str, Any]] = {
    "stylometry_attribution": {
        "corpus": str(DEV_REFERENCE_CORPUS),
        "progress": False,
    },
}


def discover(package_dir: Path = BENCHMARKS_DIR) -> dict[str, str]:
    """name -> title for each module defining a top-level `run` (read, not imported: importing
    would pull in torch & co)."""
    found = {}
    for path in sorted(package_dir.glob("*.py")):
        if path.stem in NOT_BENCHMARKS:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            found[path.stem] = EXPECTED.get(path.stem, path.stem)  # running it will say why
            continue
        if any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in tree.body):
            doc = (ast.get_docstring(tree) or "").strip().splitlines()
            found[path.stem] = EXPECTED.get(path.stem) or (doc[0] if doc else path.stem)
    return found


def result_path(results_dir: Path, name: str) -> Path:
    return results_dir / name / f"{name}.json"


def saved_time(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def is_fresh(path: Path, fresh_hours: float, now: datetime) -> bool:
    return path.is_file() and (now - saved_time(path)).total_seconds() < fresh_hours * 3600


def run_benchmark(name: str, timeout_s: float, log_path: Path) -> None:
    """`benchmarks.<name>.run(**RUN_ARGS[name])` in a child process; output goes to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    code = (
        "import json, sys, importlib; "
        f"importlib.import_module('benchmarks.{name}').run(**json.loads(sys.argv[1]))"
    )
    with log_path.open("w", encoding="utf-8") as log:
        try:
            done = subprocess.run(
                [sys.executable, "-c", code, json.dumps(RUN_ARGS.get(name, {}))],
                cwd=BENCHMARKS_DIR.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchmarkFailed(f"did not finish within {timeout_s / 60:.0f} min") from exc
    if done.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        ending = "\n".join(tail)
        raise BenchmarkFailed(f"exit code {done.returncode}; end of {log_path}:\n{ending}")


def _load(result: BenchmarkResult, path: Path) -> BenchmarkResult:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        result.status, result.error = "failed", f"{path}: unreadable result ({exc})"
        return result
    if not isinstance(data, dict):
        result.status, result.error = "failed", f"{path}: expected a JSON object"
        return result
    result.data, result.saved_at, result.result_dir = data, saved_time(path), path.parent
    return result


def collect(
    name: str,
    title: str,
    *,
    results_dir: Path,
    fresh_hours: float,
    allow_run: bool,
    timeout_s: float,
    now: datetime,
) -> BenchmarkResult:
    """The benchmark's result: reused if fresh, else run (when allowed), else the stale one."""
    path = result_path(results_dir, name)
    if is_fresh(path, fresh_hours, now):
        return _load(BenchmarkResult(name, title, "reused"), path)
    if not allow_run:
        if path.is_file():
            result = _load(BenchmarkResult(name, title, "stale"), path)
            if result.status == "stale":
                result.error = f"saved result is older than {fresh_hours:g} h (not re-run)"
            return result
        return BenchmarkResult(name, title, "missing", error=f"no saved result at {path}")
    try:
        run_benchmark(name, timeout_s, results_dir / name / "run.log")
    except BenchmarkFailed as exc:
        return BenchmarkResult(name, title, "failed", error=str(exc))
    if not is_fresh(path, fresh_hours, datetime.now(UTC)):
        return BenchmarkResult(name, title, "failed", error=f"ran but wrote no result at {path}")
    return _load(BenchmarkResult(name, title, "ran"), path)


def draw_figures(result: BenchmarkResult, out_dir: Path) -> None:
    """The benchmark's own PNGs, or (when it drew none) the standard figures from its data;
    either way stamped with the machine it ran on."""
    from benchmarks.overview.figures import save_with_footer, stamp_copy, standard_figures

    if result.data is None:
        return
    machine = describe_machine(result.data.get("machine"))
    when = result.saved_at.strftime("%Y-%m-%d %H:%M UTC") if result.saved_at else "unknown time"
    footer = f"{result.title} | ran on {machine} | {when}"
    caption = f"Ran on {machine}, {when}."
    own = sorted(result.result_dir.glob("*.png")) if result.result_dir else []
    for png in own:
        file = f"{result.name}-{png.stem}.png"
        try:
            stamp_copy(png, out_dir / file, footer)
        except OSError as exc:
            result.error = f"{png}: not a readable image ({exc})"
            continue
        result.figures.append((file, caption))
    if not own:
        try:
            for key, fig in standard_figures(figures_of(result.data)):
                file = f"{result.name}-{key}.png"
                save_with_footer(fig, out_dir / file, footer)
                result.figures.append((file, caption))
        except (KeyError, TypeError, ValueError) as exc:  # malformed data: say so, keep going
            result.error = f"could not draw its figures from {result.name}.json: {exc!r}"
    if result.result_dir is not None:
        shutil.copy2(result.result_dir / f"{result.name}.json", out_dir / f"{result.name}.json")


def keep_hand_added(out_dir: Path, build_dir: Path) -> None:
    """A rebuild keeps the folders of the old report, which the builder never writes: its
    notes/ (a person's context per benchmark, shown in that section) and extra material
    linked from them (e.g. a benchmark run on another corpus)."""
    if not out_dir.is_dir():
        return
    for folder in out_dir.iterdir():
        if folder.is_dir():
            shutil.copytree(folder, build_dir / folder.name)


def _swap_into_place(build_dir: Path, out_dir: Path) -> None:
    """Replace the old report only once the new one is complete."""
    old = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(build_dir, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def build_overview(
    *,
    results_dir: Path = RESULTS_DIR,
    reports_dir: Path = REPORTS_DIR,
    fresh_hours: float = 24.0,
    allow_run: bool = True,
    only: Iterable[str] = (),
    timeout_s: float = 1800.0,
    benchmarks: Mapping[str, str] | None = None,
) -> Path:
    """Collect every benchmark and write `reports_dir/<date>/` (index.html, README.md, PNGs).
    With `only`, just those are run; the others are shown from their saved results."""
    from tqdm import tqdm

    from benchmarks.overview.pages import render_html, render_markdown

    now = datetime.now(UTC)
    found = discover() if benchmarks is None else dict(benchmarks)
    catalogue = {**EXPECTED, **found} if benchmarks is None else found
    wanted = set(only)
    unknown = wanted - set(catalogue)
    if unknown:
        raise BenchmarkFailed(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(catalogue))}"
        )
    results = []
    for name, title in tqdm(catalogue.items(), desc="benchmarks", unit="bench"):
        if name not in found:
            results.append(
                BenchmarkResult(
                    name, title, "missing", error=f"no benchmark module benchmarks/{name}.py"
                )
            )
            continue
        results.append(
            collect(
                name,
                title,
                results_dir=results_dir,
                fresh_hours=fresh_hours,
                allow_run=allow_run and (not wanted or name in wanted),
                timeout_s=timeout_s,
                now=now,
            )
        )
    reports_dir.mkdir(parents=True, exist_ok=True)
    out_dir = reports_dir / now.strftime("%Y-%m-%d")
    build_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=reports_dir))
    build_dir.chmod(0o755)
    try:
        keep_hand_added(out_dir, build_dir)
        for result in results:
            draw_figures(result, build_dir)
            note = build_dir / NOTES_DIR / f"{result.name}.md"
            result.note = note.read_text(encoding="utf-8").strip() if note.is_file() else None
        (build_dir / "index.html").write_text(render_html(results, now), encoding="utf-8")
        (build_dir / "README.md").write_text(render_markdown(results, now), encoding="utf-8")
        _swap_into_place(build_dir, out_dir)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return out_dir
