"""The handle on the stand-in engine (in the test or benchmark process): start it in a child
process, script its next replies, read what it received, restart it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import stand_in_engine
from benchmarks.harness.processes import ProcessFailed, free_port, stop


class ScriptedUpstream:
    """Starts, scripts, inspects and restarts the stand-in engine process."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/v1"
        self.process: subprocess.Popen | None = None
        self.control = httpx.Client(base_url=self.root, timeout=10, trust_env=False)

    def start(self) -> ScriptedUpstream:
        script = str(Path(stand_in_engine.__file__).resolve())
        self.process = subprocess.Popen(
            [sys.executable, script, "--port", str(self.port)], stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ProcessFailed(f"stand-in engine exited with {self.process.returncode}")
            try:
                self.control.post("/_control/ping").raise_for_status()
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise ProcessFailed("stand-in engine did not start within 30 s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> None:
        if not self.alive():
            self.start()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGTERM, timeout_s=5)

    def wait_dead(self, timeout: float = 5) -> None:
        assert self.process is not None
        self.process.wait(timeout=timeout)

    def script(self, *steps: dict[str, Any]) -> None:
        self.control.post("/_control/script", json=list(steps)).raise_for_status()

    def set_default(self, step: dict[str, Any]) -> None:
        self.control.post("/_control/default", json=step).raise_for_status()

    def reset(self) -> None:
        self.control.post("/_control/reset").raise_for_status()

    def received(self, path: str | None = None) -> list[dict[str, Any]]:
        records = self.control.get("/_control/received").json()
        return [r for r in records if path is None or r["path"] == path]
