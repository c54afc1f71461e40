"""End-to-end latency through Continue: the same prompt via `cn -p` against the proxy and
against the engine directly, so the proxy's cost is seen as a writer feels it.

Every run is a whole `cn -p` invocation (Node start-up, config load, one streamed chat turn),
alternating proxy and direct runs so drift on a shared machine hits both alike. Replies are
capped (max_tokens, temperature 0) so both paths generate comparable text. The proxy's own
split (retrieval, upstream) comes from its trace lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

NAME = "continue_latency"
PROMPT = "Write two sentences about Captain Anselm Dray in the Belfry."
MAX_TOKENS = 48


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _set_ports(root: Path, proxy_port: int, engine_port: int) -> None:
    path = root / "inkwell.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.setdefault("server", {})["port"] = proxy_port
    data.setdefault("engine", {})["port"] = engine_port
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@contextlib.contextmanager
def _engine(ws: Any, engine_url: str | None) -> Iterator[str]:
    """The given engine, or a vLLM started for the workspace and stopped afterwards."""
    if engine_url:
        yield engine_url
        return
    from serving.engine.service import stop_engine
    from serving.registry.hotload import start_with_adapters

    state, _problems = start_with_adapters(ws)
    try:
        yield state.url
    finally:
        stop_engine(ws)


@contextlib.contextmanager
def _proxy(ws: Any, engine_url: str) -> Iterator[str]:
    """The real proxy app under uvicorn in a thread, on the workspace's port."""
    import uvicorn

    from serving.proxy.app import create_app

    settings = ws.config.server.model_copy(update={"engine_url": engine_url})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ws, settings),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the proxy did not start")
        time.sleep(0.1)
    try:
        yield f"http://{settings.host}:{settings.port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _configs(ws: Any, engine_url: str, folder: Path) -> dict[str, Path]:
    """label -> Continue config: the generated chat model via the proxy, and the same model
    pointed straight at the engine; both capped to the same reply length."""
    from serving.continue_config import KeyChoice, build_continue_config

    ours = build_continue_config(ws, KeyChoice.from_environment(ws.config.server.api_key_env))
    chat = dict(
        ours["models"][0], defaultCompletionOptions={"maxTokens": MAX_TOKENS, "temperature": 0}
    )
    direct = dict(chat, apiBase=engine_url, model=ws.config.engine.served_name)
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
    from rag import ingest, open_store
    from serving.continue_config.cn import ensure_cn, run_cn
    from serving.foundation.workspace import Workspace, init_workspace

    cn = ensure_cn()
    with tempfile.TemporaryDirectory(prefix="inkwell-cn-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        if workspace is None:
            root = init_workspace(scratch / "demo", demo=True).root
            _set_ports(root, _free_port(), _free_port())
            ws = Workspace.load(root)
            ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store), progress=False)
        else:
            ws = Workspace.load(workspace)
        (scratch / "cwd").mkdir()
        latencies: dict[str, list[float]] = {}
        load_before = os.getloadavg()[0]
        with _engine(ws, engine_url) as engine, _proxy(ws, engine):
            configs = _configs(ws, engine, scratch)
            for config in configs.values():  # warm-up: first-request costs stay out
                run_cn(PROMPT, config, scratch / "home", cwd=scratch / "cwd", cn=cn)
            for _ in tqdm(range(runs), desc="cn turns (proxy, direct)", unit="pair"):
                for label, config in configs.items():
                    turn = run_cn(PROMPT, config, scratch / "home", cwd=scratch / "cwd", cn=cn)
                    latencies.setdefault(label, []).append(round(turn.seconds * 1000, 1))
        split = _trace_split(ws.traces_path) if ws.traces_path.is_file() else {}
        load_after = os.getloadavg()[0]

    stats = {label: _summary(values) for label, values in latencies.items()}
    proxy_label, direct_label = list(latencies)
    figures = {
        "runs_per_path": runs,
        "max_tokens": MAX_TOKENS,
        "median_ms": {label: s["median"] for label, s in stats.items()},
        "p95_ms": {label: s["p95"] for label, s in stats.items()},
        "median_difference_ms": stats[proxy_label]["median"] - stats[direct_label]["median"],
        **split,
        "load_average_1min": {"start": load_before, "end": load_after},
        "latency_ms": latencies,
    }
    rows = "\n".join(
        f"| {label} | {s['median']:.0f} | {s['p95']:.0f} | {s['min']:.0f} |"
        for label, s in stats.items()
    )
    markdown = (
        f"# End-to-end latency through Continue\n\n"
        f"`cn -p` (Continue CLI) with the same prompt, {runs} turns per path after a warm-up, "
        f"replies capped at {MAX_TOKENS} tokens, temperature 0. Each turn includes Node start-up "
        f"and config loading, as a writer experiences it.\n\n"
        f"| path | median ms | p95 ms | min ms |\n|---|---|---|---|\n{rows}\n\n"
        f"Median difference (proxy - direct): {figures['median_difference_ms']:.0f} ms. "
        f"The proxy's own share is small: retrieval median "
        f"{split.get('retrieval_ms_median', float('nan')):.1f} ms, all proxy time outside the "
        f"engine call median {split.get('proxy_own_ms_median', float('nan')):.1f} ms. The rest "
        f"is engine time: through the proxy the engine also reads the injected lore (median "
        f"{split.get('proxy_path_prompt_tokens_median', float('nan')):.0f} prompt tokens on that "
        f"path), plus run-to-run noise. "
        f"Machine load (1-min average) {load_before:.1f} at the start, {load_after:.1f} at the "
        f"end: on a shared machine the spread is mostly other work.\n"
    )
    return write_results(
        out_dir or Path(__file__).resolve().parent / "results" / NAME,
        NAME,
        figures,
        markdown,
        {"latency": latency_figure(latencies)},
    )
