"""The real proxy, run for a test or benchmark: in a thread under uvicorn (in-process, on a
free loopback port), or as its own `inkwell serve` process (so its resources can be read)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness.processes import ProcessFailed, running


@contextlib.contextmanager
def proxy_in_thread(workspace: Any, **settings: Any) -> Iterator[str]:
    """The proxy app under a real uvicorn in a thread, with server settings overridden;
    yields its OpenAI base URL (http://127.0.0.1:P/v1)."""
    import uvicorn

    from serving.proxy.app import bind, create_app

    config = workspace.config.server.model_copy(update=settings)
    sock = bind("127.0.0.1", config.port if "port" in settings else 0)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(workspace, config),
            log_level="warning",
            loop="uvloop",
            http="httptools",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ProcessFailed("the proxy did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def serve_command(ws: Any, engine_url: str, port: int) -> list[str]:
    """`inkwell serve` for the workspace on a loopback port against the given engine."""
    inkwell = str(Path(sys.executable).parent / "inkwell")
    return [inkwell, "serve", "-w", str(ws.root), "--engine-url", engine_url, "--port", str(port)]


@contextlib.contextmanager
def proxy_process(
    ws: Any, engine_url: str, port: int, log: Path, *, command: list[str] | None = None
) -> Iterator[subprocess.Popen]:
    """`inkwell serve` (or `command`, e.g. the same under a profiler) as its own process,
    ready on /health for the block, then stopped with SIGINT."""
    cmd = command or serve_command(ws, engine_url, port)
    with running(
        cmd,
        f"http://127.0.0.1:{port}/health",
        "inkwell serve",
        log,
        ready_timeout_s=300,
        stop_timeout_s=180,  # a profiler renders its report on exit
        any_status=True,  # /health answers 503 while the engine is down: the proxy is up
    ) as process:
        yield process
