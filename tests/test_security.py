"""What keeps a writer's machine and book safe: the proxy listens on loopback only, its API key is
compared in constant time and never written anywhere, the engine's admin routes cannot be reached
through it by any spelling of the path, and nothing the writer (or a hostile request) names can
lead outside the workspace. (test_proxy_faults.py covers the key on every route, CORS off by
default and the admin routes by their plain path; this file fills in the rest.)"""

from __future__ import annotations

import hmac
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from rag.parse_dir import parse_lore_dir
from serving.cli.app import app as cli
from serving.foundation.config import ServerConfig
from serving.foundation.errors import WorkspaceError
from serving.registry import AdapterRecord, RegistryError
from serving.registry.hotload import adapter_dir, registry_for
from tests.fixtures.upstream import free_port, running_proxy

INKWELL = str(Path(sys.executable).parent / "inkwell")
CHAT = {"model": "base", "messages": [{"role": "user", "content": "Write the next line."}]}
SECRET = "sk-inkwell-very-secret-9d1f"


def _wait_listening(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            httpx.get(url + "/health", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("inkwell serve did not start")


def test_serve_listens_on_loopback_only_and_never_logs_the_key(empty_workspace, tmp_path):
    """`inkwell serve` as a writer starts it: default host, key in the environment; every
    request kind (right key, wrong key, key-like junk, engine down) leaves no secret behind."""
    assert ServerConfig().host == "127.0.0.1"
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}/v1"
    env = {**os.environ, "INKWELL_API_KEY": SECRET}
    process = subprocess.Popen(
        [
            INKWELL,
            "serve",
            "-w",
            str(empty_workspace.root),
            "--port",
            str(port),
            "--engine-url",
            dead,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        _wait_listening(root, process)
        listening = {
            c.laddr.ip
            for c in psutil.Process(process.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}, listening

        good = {"authorization": f"Bearer {SECRET}"}
        sent = [
            httpx.post(root + "/v1/chat/completions", json=CHAT, headers=good),
            httpx.post(root + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=good),
            httpx.post(root + "/v1/completions", content=b"{bad", headers=good),
            httpx.post(
                root + "/v1/chat/completions",
                json=CHAT,
                headers={"authorization": f"Bearer {SECRET}x"},
            ),
            httpx.post(root + "/v1/chat/completions", json=CHAT, headers={"authorization": SECRET}),
            httpx.get(root + "/v1/models", headers={"x-api-key": SECRET}),
            httpx.get(root + "/health", headers=good),
        ]
        assert [r.status_code for r in sent] == [502, 502, 400, 401, 401, 401, 503]
        for response in sent:
            assert SECRET not in response.text
            assert SECRET not in str(response.headers)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert SECRET not in out + err
    assert "Traceback" not in err
    written = [p for p in empty_workspace.state_dir.rglob("*") if p.is_file()]
    assert empty_workspace.traces_path in written
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_the_key_is_compared_in_constant_time(empty_workspace, scripted_upstream, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setenv("INKWELL_API_KEY", SECRET)
    monkeypatch.setattr("serving.proxy.auth.hmac.compare_digest", spy)
    with running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url:
        wrong = httpx.get(url + "/models", headers={"authorization": "Bearer " + "x" * 26})
        right = httpx.get(url + "/models", headers={"authorization": f"Bearer {SECRET}"})
    assert (wrong.status_code, right.status_code) == (401, 200)
    assert len(compared) == 2  # every check went through hmac.compare_digest


def test_admin_routes_unreachable_by_any_spelling(empty_workspace, scripted_upstream):
    """vLLM's runtime LoRA routes load arbitrary files into the engine: no path variant,
    method or encoding may reach them through the proxy."""
    variants = [
        "/v1/load_lora_adapter",
        "/v1/unload_lora_adapter",
        "/v1/load_lora_adapter/",
        "//v1/load_lora_adapter",
        "/v1//load_lora_adapter",
        "/V1/load_lora_adapter",
        "/v1/%6coad_lora_adapter",
        "/v1/chat/../load_lora_adapter",
        "/v1/chat/completions/../../v1/load_lora_adapter",
        "/v1/chat/completions/%2e%2e/%2e%2e/v1/load_lora_adapter",
        "/load_lora_adapter",
    ]
    body = b'{"lora_name": "evil", "lora_path": "/etc"}'
    with (
        running_proxy(empty_workspace, engine_url=scripted_upstream.url) as url,
        httpx.Client() as client,
    ):
        root = url.removesuffix("/v1")
        for path in variants:
            for method in ("POST", "GET", "PUT"):
                # A raw target: httpx must not normalise the dots away before they are sent.
                request = client.build_request(method, root, content=body)
                request.url = request.url.copy_with(raw_path=path.encode())
                response = client.send(request)
                assert response.status_code in (400, 404, 405), (method, path, response)
                if response.status_code != 400:  # 400: refused by the HTTP parser itself
                    assert response.json()["error"]["message"]
    forwarded = [r["path"] for r in scripted_upstream.received()]
    assert forwarded == [], forwarded


def test_workspace_paths_cannot_leave_the_workspace(empty_workspace, tmp_path):
    ws = empty_workspace
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (ws.root / "escape").symlink_to(outside)
    for path, problem in [
        ("../elsewhere", "leaves the workspace"),
        ("chapters/../../elsewhere", "leaves the workspace"),
        (str(outside), "absolute paths are not allowed"),
        ("escape/secrets.txt", "leaves the workspace"),
    ]:
        with pytest.raises(WorkspaceError, match=problem):
            ws.inside(path)
    assert ws.inside("chapters/../lore") == ws.lore_dir


def test_chapter_symlinked_out_of_the_workspace_is_refused(empty_workspace, tmp_path):
    secret = tmp_path / "diary.txt"
    secret.write_text("Private thoughts, not a chapter.\n")
    (empty_workspace.chapters_dir / "01.txt").symlink_to(secret)
    with pytest.raises(WorkspaceError, match="leaves the workspace"):
        empty_workspace.chapter_files()


def test_adapter_names_and_folders_cannot_leave_the_workspace(empty_workspace, tmp_path):
    ws = empty_workspace
    for name in ("../evil", "/etc", "a/b", "..", ".hidden", "x" * 200):
        with pytest.raises(WorkspaceError, match="invalid adapter name"):
            adapter_dir(ws, name)
    foreign = tmp_path / "foreign-adapter"
    foreign.mkdir()
    ws.adapters_dir.mkdir(parents=True, exist_ok=True)
    (ws.adapters_dir / "linked").symlink_to(foreign)
    with pytest.raises(WorkspaceError, match="leaves the workspace"):
        adapter_dir(ws, "linked")
    registry = registry_for(ws)
    linked = AdapterRecord(
        name="linked",
        path=".inkwell/adapters/linked",
        base_model="base",
        manifest_digest="d",
    )
    with pytest.raises(RegistryError, match="leaves"):
        registry.add(linked)
    assert registry.adapters() == []

    result = CliRunner().invoke(cli, ["adapters", "show", "../../etc", "-w", str(ws.root)])
    assert result.exit_code == 2
    assert "adapter" in result.output and "Traceback" not in result.output


def test_lore_symlinks_out_of_the_workspace_are_refused(empty_workspace, tmp_path):
    ws = empty_workspace
    private = tmp_path / "private"
    private.mkdir()
    (private / "notes.md").write_text("## Secret\nkeys: secret\n\nNot for the book.\n")

    # A lore file linking out is skipped and named, the rest of the folder still parses.
    (ws.lore_dir / "notes.md").symlink_to(private / "notes.md")
    (ws.lore_dir / "people.md").write_text("## Benna\nkeys: Benna\n\nKeeps the ledgers.\n")
    entries, errors = parse_lore_dir(ws.lore_dir)
    assert [e.id for e in entries] == ["benna"]
    assert [str(e) for e in errors] == ["lore/notes.md: links outside the lore folder; skipped"]

    # A lore/ folder that is itself a link out of the workspace is refused before any reading.
    ws.lore_dir.rename(ws.root / "lore.bak")
    (ws.root / "lore").symlink_to(private)
    result = CliRunner().invoke(cli, ["lore", "index", "-w", str(ws.root)])
    assert result.exit_code == 2, result.output
    assert "error: lore: leaves the workspace" in result.output
    assert not ws.chroma_dir.exists()  # nothing was read, nothing was indexed
