"""Load: 200 concurrent streaming chats through the proxy, and what happens beyond its cap.

Everything on loopback, bounded in count and time. The proxy runs as `inkwell serve` (its own
process, so its memory, file descriptors and sockets can be read with psutil) on the demo book
with lore indexed (real Chroma, real embeddings: every request retrieves). Behind it, the
scripted STAND-IN engine (benchmarks/harness/stand_in_engine.py) streams each answer in 16
chunks over
~0.3 s, so all the requests of a burst are in flight at once; with `engine=True` the same runs
against the real CPU vLLM engine (few requests: it generates slowly).

Phases: warm-up; two identical bursts under a cap above the burst (zero errors expected; memory
and fds read before, between and after, so growth between bursts shows a leak); then a burst
through a proxy capped well below it, which must answer the excess 429 + Retry-After at once
(not queue, not collapse), and clients that honour Retry-After all finish.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import yaml

from benchmarks.harness.processes import free_port
from benchmarks.harness.proxies import proxy_process
from benchmarks.harness.workspaces import indexed_demo_workspace, set_options

NAME = "load"
REPLY = "The lantern swung over the Belfry while Dray counted the seconds of delay again."
PROMPTS = [
    "Write Captain Dray's answer when Benna asks about the reactor.",
    "Continue the scene in the Belfry at night.",
    "Describe Marrick's ledger in one paragraph.",
    "What does Ilse say about the winter treaty?",
]


@dataclass
class Outcome:
    status: int
    latency_s: float
    ttft_s: float | None = None
    chunks: int = 0
    complete: bool = False  # the stream ended with [DONE] and no error event
    retry_after: str | None = None
    error: str | None = None


# ---------------------------------------------------------------------------------------------
# Processes.


def resources(pid: int, upstream_port: int, proxy_port: int) -> dict[str, Any]:
    """The proxy's RSS, open fds, and TCP connections (to the engine / from clients)."""
    import psutil

    proc = psutil.Process(pid)
    conns = proc.net_connections(kind="tcp")
    established = [c for c in conns if c.status == psutil.CONN_ESTABLISHED and c.raddr]
    return {
        "rss_mib": round(proc.memory_info().rss / 2**20, 1),
        "fds": proc.num_fds(),
        "threads": proc.num_threads(),
        "to_engine": sum(c.raddr.port == upstream_port for c in established),
        "from_clients": sum(c.laddr.port == proxy_port for c in established),
        "close_wait": sum(c.status == psutil.CONN_CLOSE_WAIT for c in conns),
    }


def settle(pid: int, upstream_port: int, proxy_port: int, wait_s: float = 5.0) -> dict[str, Any]:
    """Resources once client connections have closed (or after wait_s)."""
    deadline = time.monotonic() + wait_s
    while True:
        now = resources(pid, upstream_port, proxy_port)
        if (now["from_clients"] == 0 and now["close_wait"] == 0) or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# Load generation.


def body(index: int, model: str, max_tokens: int | None) -> bytes:
    payload: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": f"{PROMPTS[index % len(PROMPTS)]} (#{index})"}],
        "stream": True,
    }
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
        payload["temperature"] = 0
    return orjson.dumps(payload)


async def one_stream(client: httpx.AsyncClient, url: str, data: bytes, retries: int) -> Outcome:
    """One streaming chat; with retries > 0 a 429 is retried after its Retry-After."""
    started = time.perf_counter()
    for attempt in range(retries + 1):
        try:
            async with client.stream("POST", url, content=data) as response:
                if response.status_code != 200:
                    await response.aread()
                    outcome = Outcome(
                        response.status_code,
                        time.perf_counter() - started,
                        retry_after=response.headers.get("retry-after"),
                        error=response.text[:200],
                    )
                    if response.status_code == 429 and attempt < retries:
                        await asyncio.sleep(float(outcome.retry_after or 1))
                        continue
                    return outcome
                outcome = Outcome(200, 0.0)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    if outcome.ttft_s is None:
                        outcome.ttft_s = time.perf_counter() - started
                    if line.strip() == "data: [DONE]":
                        outcome.complete = outcome.error is None
                    elif '"error"' in line:
                        outcome.error = line[:200]
                    else:
                        outcome.chunks += 1
                outcome.latency_s = time.perf_counter() - started
                return outcome
        except httpx.HTTPError as exc:
            return Outcome(0, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")


async def burst(
    url: str, count: int, model: str, max_tokens: int | None, retries: int = 0, offset: int = 0
) -> tuple[list[Outcome], float]:
    """`count` streams started together; (outcomes, wall seconds)."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    timeout = httpx.Timeout(300.0, connect=30.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
        started = time.perf_counter()
        outcomes = await asyncio.gather(
            *(
                one_stream(client, url, body(offset + i, model, max_tokens), retries)
                for i in range(count)
            )
        )
        return list(outcomes), time.perf_counter() - started


def summarise(outcomes: list[Outcome], wall_s: float) -> dict[str, Any]:
    ok = [o for o in outcomes if o.status == 200 and o.complete]
    latencies = [o.latency_s * 1000 for o in ok]
    ttfts = [o.ttft_s * 1000 for o in ok if o.ttft_s is not None]
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[str(o.status)] = statuses.get(str(o.status), 0) + 1
    refused = [o for o in outcomes if o.status == 429]

    def pct(values: list[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 1) if values else None

    return {
        "requests": len(outcomes),
        "completed": len(ok),
        "errors": len(outcomes) - len(ok) - len(refused),
        "refused_429": len(refused),
        "retry_after_present": all(o.retry_after for o in refused),
        "statuses": statuses,
        "wall_s": round(wall_s, 2),
        "throughput_rps": round(len(ok) / wall_s, 1) if wall_s else None,
        "latency_ms": {"p50": pct(latencies, 50), "p99": pct(latencies, 99)},
        "ttft_ms": {"p50": pct(ttfts, 50), "p99": pct(ttfts, 99)},
        "refusal_ms": {"p50": pct([o.latency_s * 1000 for o in refused], 50)},
        "first_errors": [o.error for o in outcomes if o.error and o.status != 429][:3],
        "latencies_ms": [round(v, 1) for v in latencies],
    }


# ---------------------------------------------------------------------------------------------
# Scenarios.


def load_scenario(
    ws: Any,
    engine_url: str,
    *,
    requests: int,
    cap_over: int,
    model: str,
    max_tokens: int | None,
    logs: Path,
    upstream_port: int,
) -> dict[str, Any]:
    """Warm-up, two bursts under a cap above them, then a burst beyond a small cap."""

    result: dict[str, Any] = {"requests_per_burst": requests}
    set_options(ws.root, {"server": {"max_concurrency": max(requests + 8, 64)}})
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with proxy_process(ws, engine_url, port, logs / "inkwell.log") as proxy:
        asyncio.run(burst(url, min(requests, 16), model, max_tokens))  # warm-up
        before = settle(proxy.pid, upstream_port, port)
        bursts = []
        after: list[dict[str, Any]] = []
        for round_ in range(2):
            outcomes, wall = asyncio.run(
                burst(url, requests, model, max_tokens, offset=1000 * (round_ + 1))
            )
            bursts.append(summarise(outcomes, wall))
            after.append(settle(proxy.pid, upstream_port, port))
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10, trust_env=False)
        result.update(
            bursts=bursts,
            resources={"before": before, "after_burst_1": after[0], "after_burst_2": after[1]},
            health_after=health.json().get("status"),
        )
    cap = cap_over
    set_options(ws.root, {"server": {"max_concurrency": cap}})
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with proxy_process(ws, engine_url, port, logs / "inkwell-capped.log") as proxy:
        asyncio.run(burst(url, min(cap, 8), model, max_tokens))  # warm-up
        outcomes, wall = asyncio.run(burst(url, requests, model, max_tokens, offset=5000))
        refused = summarise(outcomes, wall)
        retried_outcomes, retried_wall = asyncio.run(
            burst(url, requests, model, max_tokens, retries=60, offset=7000)
        )
        retried = summarise(retried_outcomes, retried_wall)
        served_after = asyncio.run(burst(url, 1, model, max_tokens, offset=9000))[0][0]
        result["beyond_cap"] = {
            "cap": cap,
            "burst": refused,
            "with_retry_after": retried,
            "served_after": served_after.status == 200 and served_after.complete,
            "resources_after": settle(proxy.pid, upstream_port, port),
        }
    return result


def stand_in_run(ws: Any, requests: int, cap_over: int, logs: Path) -> dict[str, Any]:
    from benchmarks.harness.scripted import ScriptedUpstream

    engine = ScriptedUpstream().start()
    try:
        engine.set_default({"kind": "reply", "text": REPLY, "chunks": 16, "delay": 0.02})
        result = load_scenario(
            ws,
            engine.url,
            requests=requests,
            cap_over=cap_over,
            model="base",
            max_tokens=None,
            logs=logs,
            upstream_port=engine.port,
        )
        received = engine.received("/v1/chat/completions")
        result["engine_received"] = len(received)
        result["engine_saw_lore_block"] = sum(
            "<inkwell-lore>" in str(r["body"]["messages"]) for r in received
        )
        return result
    finally:
        engine.stop()
        engine.control.close()


def engine_run(ws: Any, requests: int, logs: Path) -> dict[str, Any]:
    """The real CPU vLLM engine, started for the workspace on a free port, stopped after."""
    from benchmarks.harness.engines import engine_for
    from serving.foundation.workspace import Workspace

    engine_port = free_port()
    set_options(ws.root, {"server": {"max_concurrency": 64}, "engine": {"port": engine_port}})
    ws = Workspace.load(ws.root)
    with engine_for(ws, timeout_s=900, max_model_len=2048) as engine_url:
        return {
            "engine_url": engine_url,
            **load_scenario(
                ws,
                engine_url,
                requests=requests,
                cap_over=max(1, requests // 4),
                model="base",
                max_tokens=16,
                logs=logs,
                upstream_port=engine_port,
            ),
        }


def run(
    out_dir: Path | None = None,
    requests: int = 200,
    cap_over: int = 32,
    engine: bool = False,
    engine_requests: int = 8,
) -> Path:
    """Run the stand-in scenario (and the real-engine one with engine=True); returns the
    results folder."""
    from benchmarks.harness.results import write_results

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inkwell-load-") as tmp:
        logs = Path(tmp) / "logs"
        logs.mkdir()
        ws = indexed_demo_workspace(Path(tmp) / "book")
        figures: dict[str, Any] = {"stand_in": stand_in_run(ws, requests, cap_over, logs)}
        if engine:
            figures["engine"] = engine_run(ws, engine_requests, logs)
        figures["verdict"] = verdict(figures)
        figures["wall_s"] = round(time.perf_counter() - started, 1)
        markdown = _markdown(figures)
        print(markdown)
        return write_results(out_dir, NAME, figures, markdown, _plots(figures))


def _fds_outside_pool(resources: dict[str, Any]) -> int:
    return resources["fds"] - resources["to_engine"]


def verdict(figures: dict[str, Any]) -> dict[str, Any]:
    """The targets: zero errors, memory and fds not growing, no connection left, 429 beyond
    the cap and everyone served when Retry-After is honoured."""
    checks: dict[str, Any] = {}
    for name, scenario in figures.items():
        if not isinstance(scenario, dict) or "bursts" not in scenario:
            continue
        res = scenario["resources"]
        beyond = scenario["beyond_cap"]
        checks[name] = {
            "zero_errors": all(
                b["errors"] == 0 and b["refused_429"] == 0 for b in scenario["bursts"]
            ),
            "rss_growth_burst2_mib": round(
                res["after_burst_2"]["rss_mib"] - res["after_burst_1"]["rss_mib"], 1
            ),
            # The upstream pool keeps up to max_concurrency + 4 idle keep-alive connections to
            # the engine (httpx closes them lazily): bounded by design, so not counted as leaked.
            "fds_leaked": _fds_outside_pool(res["after_burst_2"])
            - _fds_outside_pool(res["before"]),
            "engine_connections_after": res["after_burst_2"]["to_engine"],
            "client_connections_left": res["after_burst_2"]["from_clients"],
            "beyond_cap_answers_429": beyond["burst"]["refused_429"] > 0
            and beyond["burst"]["errors"] == 0
            and beyond["burst"]["retry_after_present"],
            "all_served_with_retry_after": beyond["with_retry_after"]["completed"]
            == beyond["with_retry_after"]["requests"],
            "served_after": beyond["served_after"],
        }
    return checks


def _markdown(figures: dict[str, Any]) -> str:
    lines = [
        "# Load: concurrent streaming chats through the proxy",
        "",
        "Each burst starts all its streaming chat requests at once, through `inkwell serve` "
        "(lore retrieval on, demo book) to the engine. Latency is to the last byte.",
        "",
    ]
    for name, scenario in figures.items():
        if not isinstance(scenario, dict) or "bursts" not in scenario:
            continue
        title = "scripted stand-in engine" if name == "stand_in" else "real CPU vLLM engine"
        lines += [
            f"## {title}",
            "",
            "| burst | requests | completed | errors | 429 | wall s | req/s | p50 ms | p99 ms "
            "| TTFT p50 ms |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        rows = [(f"under cap, #{i + 1}", b) for i, b in enumerate(scenario["bursts"])]
        beyond = scenario["beyond_cap"]
        rows += [
            (f"beyond cap {beyond['cap']}", beyond["burst"]),
            ("beyond cap, honouring Retry-After", beyond["with_retry_after"]),
        ]
        for label, b in rows:
            lines.append(
                f"| {label} | {b['requests']} | {b['completed']} | {b['errors']} | "
                f"{b['refused_429']} | {b['wall_s']} | {b['throughput_rps']} | "
                f"{b['latency_ms']['p50']} | {b['latency_ms']['p99']} | {b['ttft_ms']['p50']} |"
            )
        res = scenario["resources"]
        lines += [
            "",
            "| proxy process | RSS MiB | fds | threads | conns to engine | conns from clients "
            "| CLOSE_WAIT |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, r in [*res.items(), ("beyond cap, after", beyond["resources_after"])]:
            lines.append(
                f"| {label} | {r['rss_mib']} | {r['fds']} | {r['threads']} | {r['to_engine']} | "
                f"{r['from_clients']} | {r['close_wait']} |"
            )
        refusal = beyond["burst"]["refusal_ms"]["p50"]
        lines += [
            "",
            f"Beyond the cap: {beyond['burst']['refused_429']} of {beyond['burst']['requests']} "
            f"answered 429 with Retry-After (p50 {refusal} ms), "
            f"{beyond['burst']['errors']} other errors; served normally afterwards: "
            f"{beyond['served_after']}. Health after the bursts: {scenario['health_after']}.",
        ]
        if "engine_received" in scenario:
            lines.append(
                f"The engine received {scenario['engine_received']} chat requests "
                f"({scenario['engine_saw_lore_block']} with a lore block)."
            )
        lines.append("")
    lines += ["## Verdict", "", "```", yaml.safe_dump(figures["verdict"], sort_keys=False), "```"]
    return "\n".join(lines)


def _plots(figures: dict[str, Any]) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    for name, scenario in figures.items():
        if not isinstance(scenario, dict) or "bursts" not in scenario:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        for i, b in enumerate(scenario["bursts"]):
            values = sorted(b["latencies_ms"])
            if values:
                ax.plot(values, np.linspace(0, 1, len(values)), label=f"burst {i + 1}")
        retried = sorted(scenario["beyond_cap"]["with_retry_after"]["latencies_ms"])
        if retried:
            ax.plot(retried, np.linspace(0, 1, len(retried)), label="beyond cap + Retry-After")
        ax.set_xlabel("latency to last byte (ms)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"{scenario['requests_per_burst']} concurrent streams ({name})")
        ax.legend()
        plots[f"latency CDF {name}"] = fig
    return plots
