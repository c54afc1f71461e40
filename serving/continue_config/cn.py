"""The Continue CLI (`cn`, npm `@continuedev/cli`), pinned, for tests and benchmarks.

Installed with npm into `<repo>/.cache/continue-cli/` so a fresh machine gets the same version
(`python -m serving.continue_config.cn` installs it ahead of time). Runs are headless (`-p`),
with telemetry off and HOME pointed at a scratch folder, so nothing touches the user's own
`~/.continue`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from serving.foundation.errors import InkwellError

CN_VERSION = "1.5.47"
CN_PACKAGE = "@continuedev/cli"
CN_DIR = Path(__file__).resolve().parents[2] / ".cache" / "continue-cli"


class ContinueCliError(InkwellError):
    """`cn` could not be installed or a run failed; the message carries npm's or cn's output."""


def cn_path(root: Path = CN_DIR) -> Path:
    return root / "node_modules" / ".bin" / "cn"


def _installed_version(root: Path) -> str | None:
    manifest = root / "node_modules" / "@continuedev" / "cli" / "package.json"
    if not manifest.is_file():
        return None

    return json.loads(manifest.read_text(encoding="utf-8")).get("version")


def ensure_cn(root: Path = CN_DIR, timeout_s: float = 600.0) -> Path:
    """Path to the pinned `cn`, installing it with npm first if it is missing or another version."""
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".install.lock")):
        if _installed_version(root) == CN_VERSION and cn_path(root).exists():
            return cn_path(root)
        npm = shutil.which("npm")
        if npm is None:
            raise ContinueCliError("npm not found: install Node.js 20+ to get the Continue CLI")
        command = [
            npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--save-exact",
            f"{CN_PACKAGE}@{CN_VERSION}",
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if done.returncode != 0 or _installed_version(root) != CN_VERSION:
            raise ContinueCliError(
                f"`{' '.join(command)}` failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
            )
    return cn_path(root)


def cn_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a headless run: scratch HOME, no telemetry, no update check."""
    env = dict(os.environ)
    env.update(
        {
            "HOME": str(home),
            "CONTINUE_GLOBAL_DIR": str(home / ".continue"),
            "CONTINUE_CLI_ENABLE_TELEMETRY": "0",
            "CONTINUE_METRICS_ENABLED": "0",
            "CONTINUE_CLI_AUTO_UPDATED": "1",
            "NO_COLOR": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class CnRun:
    reply: str
    stderr: str
    seconds: float


def run_cn(
    prompt: str,
    config: Path,
    home: Path,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout_s: float = 300.0,
    cn: Path | None = None,
) -> CnRun:
    """One `cn -p` turn returning the printed reply and wall time. Plan mode (no file edits) with
    Bash and Fetch refused: a small model's stray tool call can only read the scratch folder.
    (Refused tools are still offered to the model; cn denies the call by policy.)"""
    command = [
        str(cn or ensure_cn()), "-p", prompt, "--config", str(config), "--readonly",
        "--exclude", "Bash", "--exclude", "Fetch",
    ]  # fmt: skip
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=cn_env(home, env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ContinueCliError(f"cn did not finish within {timeout_s:.0f} s") from exc
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise ContinueCliError(
            f"cn exited with {done.returncode}:\n{done.stderr[-2000:]}\n{done.stdout[-2000:]}"
        )
    return CnRun(reply=done.stdout, stderr=done.stderr, seconds=seconds)


if __name__ == "__main__":
    print(ensure_cn())
