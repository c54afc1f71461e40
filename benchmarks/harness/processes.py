"""Child processes on loopback ports: a free port, a wait until a URL answers (or the process
dies), and a stop that lets the process finish its exit work first."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


class ProcessFailed(RuntimeError):
    """A benchmark's child process died or never became ready; the message names its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(
    url: str, process: subprocess.Popen, timeout_s: float, what: str, *, any_status: bool = False
) -> None:
    """Poll `url` until it answers 200 (any status with any_status) or the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessFailed(f"{what} exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            response = httpx.get(url, timeout=2, trust_env=False)
            if any_status or response.status_code == 200:
                return
        time.sleep(0.1)
    raise ProcessFailed(f"{what} not ready after {timeout_s:.0f} s ({url})")


def stop(process: subprocess.Popen, sig: int = signal.SIGINT, timeout_s: float = 30) -> None:
    """Signal the process (SIGINT lets a profiler write its report), then kill it if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running(
    cmd: list[str],
    ready_url: str,
    what: str,
    log: Path,
    *,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 300,
    stop_timeout_s: float = 30,
    any_status: bool = False,
) -> Iterator[subprocess.Popen]:
    """The process runs, ready, for the block; its output goes to `log`."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    try:
        try:
            wait_ready(ready_url, process, ready_timeout_s, what, any_status=any_status)
        except ProcessFailed as exc:
            raise ProcessFailed(f"{exc}; see {log}") from exc
        yield process
    finally:
        stop(process, timeout_s=stop_timeout_s)
