"""End-to-end latency through Continue: the same prompt via `cn -p` against the proxy and
against the engine directly, so the proxy's cost is seen as a writer feels it.

Every run is a whole `cn -p` invocation (Node start-up, config load, one streamed chat turn),
alternating proxy and direct runs so drift on a shared machine hits both alike. Replies are
capped (max_tokens, temperature 0) so both paths generate comparable text. The proxy's own
split (retrieval, upstream) comes from its trace lines.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

NAME = "continue_latency"
PROMPT = "Write two sentences about Captain Anselm Dray in the Belfry."
MAX_TOKENS = 48


def _configs(ws: Any, engine_url: str, folder: Path) -> dict[str, Path]:
    """label -> Continue config: the generated chat model via the proxy, and the same model
    pointed straight at the engine; both capped to the same reply length."""
    from serving.continue_config import KeyChoice, build_continue_config
    from serving.engine.key import read_engine_key

    ours = build_continue_config(ws, KeyChoice.from_environment(ws.config.server.api_key_env))
    chat = dict(
        ours["models"][0], defaultCompletionOptions={"maxTokens": MAX_TOKENS, "temperature": 0}
    )
    # Straight to the engine, as only Inkwell may: with the workspace's engine key.
    direct = dict(
        chat, apiBase=engine_url, model=ws.config.engine.served_name, apiKey=read_engine_key(ws)
    )
    paths = {}
    for label, file, model in (
        ("cn -> proxy -> vLLM", "proxy.yaml", chat),
        ("cn -> vLLM", "direct.yaml", direct),
    ):
        path = folder / file
        config = dict(ours, models=[model], context=[])
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        paths[label] = path
    return paths


def _summary(values: list[float]) -> dict[str, float]:
    """Median, p95 (linear interpolation, as in the plot) and minimum."""
    import numpy as np

    return {
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "min": float(min(values)),
    }


def _trace_split(traces_path: Path) -> dict[str, float]:
    """Medians from the proxy's trace lines: retrieval, the proxy's time outside the engine
    call, and the prompt tokens the engine read (cn's request plus the injected lore)."""
    retrieval, own, prompt_tokens = [], [], []
    for line in traces_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("route") != "/v1/chat/completions" or record.get("status") != 200:
            continue
        if record.get("retrieval_ms") is not None:
            retrieval.append(record["retrieval_ms"])
        if record.get("total_ms") is not None and record.get("upstream_ms") is not None:
            own.append(record["total_ms"] - record["upstream_ms"])
        if (record.get("tokens") or {}).get("prompt_tokens"):
            prompt_tokens.append(record["tokens"]["prompt_tokens"])

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    return {
        "retrieval_ms_median": median(retrieval),
        "proxy_own_ms_median": median(own),
        "proxy_path_prompt_tokens_median": median(prompt_tokens),
    }


def run(
    workspace: Path | None = None,
    engine_url: str | None = None,
    runs: int = 5,
    out_dir: Path | None = None,
) -> Path:
    """Measure `runs` cn turns on each path (after one warm-up each); returns the JSON path."""
    from benchmarks.harness.results import write_results
    from benchmarks.overview.figures import latency_figure

    with tempfile.TemporaryDirectory(prefix="inkwell-cn-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        ws = _workspace(workspace, scratch)
        load_before = os.getloadavg()[0]
        latencies = _measure(ws, engine_url, runs, scratch)
        split = _trace_split(ws.traces_path) if ws.traces_path.is_file() else {}
        load = {"start": load_before, "end": os.getloadavg()[0]}
    stats = {label: _summary(values) for label, values in latencies.items()}
    proxy_label, direct_label = list(latencies)
    figures = {
        "runs_per_path": runs,
        "max_tokens": MAX_TOKENS,
        "median_ms": {label: s["median"] for label, s in stats.items()},
        "p95_ms": {label: s["p95"] for label, s in stats.items()},
        "median_difference_ms": stats[proxy_label]["median"] - stats[direct_label]["median"],
        **split,
        "load_average_1min": load,
        "latency_ms": latencies,
    }
    return write_results(
        out_dir or Path(__file__).resolve().parent / "results" / NAME,
        NAME,
        figures,
        _markdown(figures, stats, split),
        {"latency": latency_figure(latencies)},
    )


def _workspace(workspace: Path | None, scratch: Path) -> Any:
    """The given workspace, or a fresh indexed demo book on free ports."""
    from benchmarks.harness.processes import free_port
    from benchmarks.harness.workspaces import indexed_demo_workspace, set_options
    from serving.foundation.workspace import Workspace

    if workspace is not None:
        return Workspace.load(workspace)
    ws = indexed_demo_workspace(scratch / "demo")
    set_options(ws.root, {"server": {"port": free_port()}, "engine": {"port": free_port()}})
    return Workspace.load(ws.root)


def _measure(ws: Any, engine_url: str | None, runs: int, scratch: Path) -> dict[str, list[float]]:
    """cn turns alternating proxy and direct, after one warm-up each: label -> ms."""
    from benchmarks.harness.engines import engine_for
    from benchmarks.harness.proxies import proxy_in_thread
    from serving.continue_config.cn import ensure_cn, run_cn

    cn = ensure_cn()
    (scratch / "cwd").mkdir()
    latencies: dict[str, list[float]] = {}
    with (
        engine_for(ws, engine_url) as engine,
        proxy_in_thread(ws, engine_url=engine, port=ws.config.server.port),
    ):
        configs = _configs(ws, engine, scratch)
        for config in configs.values():  # warm-up: first-request costs stay out
            run_cn(PROMPT, config, scratch / "home", cwd=scratch / "cwd", cn=cn)
        for _ in tqdm(range(runs), desc="cn turns (proxy, direct)", unit="pair"):
            for label, config in configs.items():
                turn = run_cn(PROMPT, config, scratch / "home", cwd=scratch / "cwd", cn=cn)
                latencies.setdefault(label, []).append(round(turn.seconds * 1000, 1))
    return latencies


def _markdown(figures: dict[str, Any], stats: dict[str, dict], split: dict[str, float]) -> str:
    rows = "\n".join(
        f"| {label} | {s['median']:.0f} | {s['p95']:.0f} | {s['min']:.0f} |"
        for label, s in stats.items()
    )
    load = figures["load_average_1min"]
    return (
        f"# End-to-end latency through Continue\n\n"
        f"`cn -p` (Continue CLI) with the same prompt, {figures['runs_per_path']} turns per path "
        f"after a warm-up, replies capped at {MAX_TOKENS} tokens, temperature 0. Each turn "
        f"includes Node start-up and config loading, as a writer experiences it.\n\n"
        f"| path | median ms | p95 ms | min ms |\n|---|---|---|---|\n{rows}\n\n"
        f"Median difference (proxy - direct): {figures['median_difference_ms']:.0f} ms. "
        f"The proxy's own share is small: retrieval median "
        f"{split.get('retrieval_ms_median', float('nan')):.1f} ms, all proxy time outside the "
        f"engine call median {split.get('proxy_own_ms_median', float('nan')):.1f} ms. The rest "
        f"is engine time: through the proxy the engine also reads the injected lore (median "
        f"{split.get('proxy_path_prompt_tokens_median', float('nan')):.0f} prompt tokens on that "
        f"path), plus run-to-run noise. "
        f"Machine load (1-min average) {load['start']:.1f} at the start, {load['end']:.1f} at the "
        f"end: on a shared machine the spread is mostly other work.\n"
    )
