"""The main job behind `serve_rag_proxy.sh` (`inkwell up`): lore index, engine and proxy for
one workspace, brought up in the order that fails fastest and taken down in reverse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from serving.foundation.workspace import Workspace

CONTINUE_CONFIG = Path("continue") / "config.yaml"


@dataclass(frozen=True)
class StackOptions:
    engine_url: str | None = None
    host: str | None = None
    port: int | None = None
    engine_timeout_s: float = 900.0


def continue_config_path(ws: Workspace) -> Path:
    return ws.state_dir / CONTINUE_CONFIG


def run_stack(ws: Workspace, options: StackOptions, echo: Callable[[str], None] = print) -> None:
    """Serve until interrupted. The proxy port is claimed before the engine's minutes of
    start-up, so a second copy fails at once; an engine started here is stopped on the way out."""
    from rag import ingest, open_store
    from rag.rebuild import index_lock, recover
    from serving.continue_config import KeyChoice, build_continue_config, install_config
    from serving.engine import stop_engine
    from serving.proxy.app import bind, serve_socket
    from serving.registry.hotload import start_with_adapters

    overrides = {"engine_url": options.engine_url, "host": options.host, "port": options.port}
    settings = ws.config.server.model_copy(
        update={k: v for k, v in overrides.items() if v is not None}
    )
    sock = bind(settings.host, settings.port)
    started_engine = False
    try:
        with index_lock(ws.chroma_dir):
            recover(ws.chroma_dir)
            report = ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store))
        echo(f"lore: {report.summary()}")
        for problem in report.errors:
            echo(f"lore skipped: {problem}")
        if options.engine_url is None:
            echo(f"starting vLLM for {ws.config.engine.base_model} (log: {ws.logs_dir})")
            state, problems = start_with_adapters(ws, timeout_s=options.engine_timeout_s)
            started_engine = True
            settings = settings.model_copy(update={"engine_url": state.url})
            echo(f"engine ready on {state.device} in {state.ready_s:.0f} s")
            for problem in problems:
                echo(f"adapter not loaded: {problem}")
        served = replace(ws, config=ws.config.model_copy(update={"server": settings}))
        result = install_config(
            build_continue_config(served, KeyChoice.from_environment(settings.api_key_env)),
            continue_config_path(ws),
        )
        proxy_url = f"http://{settings.host}:{settings.port}"
        echo(
            "\nInkwell is up.\n"
            f"  proxy (OpenAI API): {proxy_url}/v1   models: inkwell-live, base\n"
            f"  engine (vLLM):      {settings.engine_url}\n"
            f"  workspace:          {ws.root}\n"
            f"  Continue config:    {result.path}\n"
            f"    (merge it into ~/.continue with `inkwell continue config -w {ws.root}`)\n"
            "Press Ctrl-C to stop."
        )
        serve_socket(ws, settings, sock)
    finally:
        sock.close()
        if started_engine:
            echo("stopping the engine")
            stop_engine(ws)
