"""`inkwell continue config`: the Continue config a writer installs, written, printed and merged
into an existing ~/.continue/config.yaml without losing anything of theirs."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from rag import ingest, open_store
from serving.cli.app import app
from serving.continue_config.cn import CN_DIR, CN_VERSION, _installed_version
from serving.foundation.workspace import Workspace
from tests.fixtures.upstream import free_port, running_proxy
from tests.reliability_counts import record

runner = CliRunner()

USER_CONFIG = """\
# my own setup, keep this comment
name: My setup
version: 1.2.3
schema: v1
models:
  - name: Claude
    provider: anthropic
    model: claude-sonnet-4
    apiKey: ${{ secrets.ANTHROPIC_API_KEY }}
    roles: [chat]
context:
  - provider: code
  - provider: http
    params:
      url: http://example.invalid/ctx
      title: tickets
"""


def invoke(*args: str, env: dict[str, str] | None = None):
    result = runner.invoke(app, ["continue", "config", *args], env=env)
    return result


@pytest.fixture
def book(empty_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.delenv("INKWELL_API_KEY", raising=False)
    (empty_workspace.root / "inkwell.yaml").write_text("server:\n  port: 8123\n", encoding="utf-8")
    return Workspace.load(empty_workspace.root)


def models_by_name(config: dict) -> dict[str, dict]:
    return {m["name"]: m for m in config["models"]}


def test_writes_a_new_config_for_the_workspace_proxy(book: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "continue" / "config.yaml"
    result = invoke("-w", str(book.root), "--path", str(target))
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert config["schema"] == "v1" and config["name"] and config["version"]
    models = models_by_name(config)
    live, base = models["Inkwell live"], models["Inkwell base"]
    auto = models["Inkwell autocomplete"]
    for model in (live, base, auto):
        assert model["provider"] == "openai"
        assert model["apiBase"] == "http://127.0.0.1:8123/v1"
        assert "apiKey" not in model  # no key configured, none written
        # Where Continue's config.yaml schema reads it (at model level it is ignored).
        assert (
            model["defaultCompletionOptions"]["contextLength"] == book.config.engine.max_model_len
        )
        assert "contextLength" not in model
    assert (live["model"], base["model"]) == ("inkwell-live", "base")
    assert set(live["roles"]) == set(base["roles"]) == {"chat", "edit", "apply"}
    assert auto["roles"] == ["autocomplete"] and auto["useLegacyCompletionsEndpoint"] is True
    [lore] = config["context"]
    assert lore["provider"] == "http"
    assert lore["params"]["url"] == "http://127.0.0.1:8123/context/lore"
    assert lore["params"]["title"] == "lore"
    assert lore["params"]["displayTitle"] and lore["params"]["description"]


def test_print_writes_nothing(book: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    result = invoke("-w", str(book.root), "--print", "--path", str(target))
    assert result.exit_code == 0, result.output
    assert not target.exists()
    printed = yaml.safe_load(result.stdout)
    assert "Inkwell live" in models_by_name(printed)


def test_api_key_is_referenced_never_written(book: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    result = invoke(
        "-w", str(book.root), "--path", str(target), env={"INKWELL_API_KEY": "sk-very-secret"}
    )
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "sk-very-secret" not in text
    config = yaml.safe_load(text)
    for model in config["models"]:
        assert model["apiKey"] == "${{ secrets.INKWELL_API_KEY }}"
    headers = config["context"][0]["params"]["headers"]
    assert headers == {"Authorization": "Bearer ${{ secrets.INKWELL_API_KEY }}"}


def test_inline_key_only_when_asked(book: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    result = invoke("-w", str(book.root), "--path", str(target), "--inline-key")
    assert result.exit_code == 2 and "INKWELL_API_KEY" in result.output
    assert not target.exists()
    result = invoke(
        "-w", str(book.root), "--path", str(target), "--inline-key",
        env={"INKWELL_API_KEY": "sk-asked-for"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert {m["apiKey"] for m in config["models"]} == {"sk-asked-for"}


def test_merge_keeps_the_users_models_context_and_comments(book: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text(USER_CONFIG, encoding="utf-8")
    result = invoke("-w", str(book.root), "--path", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "# my own setup, keep this comment" in text
    assert "${{ secrets.ANTHROPIC_API_KEY }}" in text
    config = yaml.safe_load(text)
    assert (config["name"], config["version"]) == ("My setup", "1.2.3")
    names = [m["name"] for m in config["models"]]
    assert names == ["Claude", "Inkwell live", "Inkwell base", "Inkwell autocomplete"]
    providers = [(c["provider"], c.get("params", {}).get("title")) for c in config["context"]]
    assert providers == [("code", None), ("http", "tickets"), ("http", "lore")]


def test_backup_holds_the_previous_file(book: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text(USER_CONFIG, encoding="utf-8")
    result = invoke("-w", str(book.root), "--path", str(target))
    assert result.exit_code == 0, result.output
    [backup] = tmp_path.glob("config.yaml.bak-*")
    assert backup.read_text(encoding="utf-8") == USER_CONFIG
    assert str(backup) in result.output


def test_running_twice_changes_nothing(book: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text(USER_CONFIG, encoding="utf-8")
    assert invoke("-w", str(book.root), "--path", str(target)).exit_code == 0
    first = target.read_text(encoding="utf-8")
    again = invoke("-w", str(book.root), "--path", str(target))
    assert again.exit_code == 0 and "already up to date" in again.output
    assert target.read_text(encoding="utf-8") == first
    assert len(list(tmp_path.glob("config.yaml.bak-*"))) == 1


def test_port_change_replaces_our_entries_in_place(book: Workspace, tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text(USER_CONFIG, encoding="utf-8")
    assert invoke("-w", str(book.root), "--path", str(target)).exit_code == 0
    (book.root / "inkwell.yaml").write_text("server:\n  port: 9100\n", encoding="utf-8")
    assert invoke("-w", str(book.root), "--path", str(target)).exit_code == 0
    config = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert [m["name"] for m in config["models"]].count("Inkwell live") == 1
    assert models_by_name(config)["Inkwell live"]["apiBase"] == "http://127.0.0.1:9100/v1"
    lore = [c for c in config["context"] if c.get("params", {}).get("title") == "lore"]
    assert [c["params"]["url"] for c in lore] == ["http://127.0.0.1:9100/context/lore"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("models: [\n  - broken", "line"),
        ("- just\n- a list\n", "mapping"),
        ("name: x\nschema: v1\nmodels: {a: 1}\n", "'models' must be a list"),
    ],
)
def test_unusable_existing_config_is_reported_and_left_alone(
    book: Workspace, tmp_path: Path, content: str, expected: str
) -> None:
    target = tmp_path / "config.yaml"
    target.write_text(content, encoding="utf-8")
    result = invoke("-w", str(book.root), "--path", str(target))
    assert result.exit_code == 2
    assert str(target) in result.output and expected in result.output
    assert target.read_text(encoding="utf-8") == content
    assert not list(tmp_path.glob("config.yaml.bak-*"))


def test_not_a_workspace_is_a_clear_error(tmp_path: Path) -> None:
    result = invoke("-w", str(tmp_path), "--print")
    assert result.exit_code == 2 and "not an Inkwell workspace" in result.output


LORE = """\
## Captain Dray
keys: Dray, the captain

Anselm Dray commands the Belfry and never speaks of the reactor.
"""
# Continue's config.yaml secret template; the pinned cn resolves it from the process
# environment first (src/CLIPlatformClient.ts, findSecretInProcessEnv), as the IDE extension
# resolves local secrets from the environment and ~/.continue/.env.
SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z0-9_]+)\s*\}\}")


def continue_http_request(params: dict, full_input: str, workspace_dir: str) -> httpx.Request:
    """The request Continue's HttpContextProvider.getContextItems makes for an `@lore` mention
    (continuedev/continue core/context/providers/HttpContextProvider.ts): POST to params.url,
    headers {"Content-Type": "application/json", ...params.headers} (secrets resolved), body
    JSON.stringify({query: query || "", fullInput, options: params.options, workspacePath})
    where a "normal" provider's query is "" and undefined fields are left out; workspacePath is
    the open workspace folder for a localhost URL."""
    headers = {"Content-Type": "application/json", **params.get("headers", {})}
    headers = {k: SECRET.sub(lambda m: os.environ[m.group(1)], v) for k, v in headers.items()}
    body = {"query": "", "fullInput": full_input, "options": params.get("options"),
            "workspacePath": workspace_dir}  # fmt: skip
    content = json.dumps({k: v for k, v in body.items() if v is not None}, separators=(",", ":"))
    return httpx.Request("POST", params["url"], headers=headers, content=content)


def test_lore_provider_request_with_the_key_is_answered_and_without_it_refused(
    empty_workspace: Workspace, tmp_path: Path, scripted_upstream, monkeypatch
) -> None:
    """`@lore` with INKWELL_API_KEY set, against the real proxy (its engine is the STAND-IN;
    /context/lore does not reach it). Not driven through `cn`: the pinned Continue CLI never
    calls context providers. In @continuedev/cli 1.5.47, headless `cn -p` passes the prompt to
    processMessage (src/commands/chat.ts), which calls
    services.chatHistory.addUserMessage(userInput) with no context items and no "@" parsing;
    the only attachments are the TUI's @file ones (src/ui/hooks/useChat.ts,
    handleFileAttached); nothing in src reads the config's `context` section, and the bundle
    (dist/index.js) has no HttpContextProvider or getContextItems, only the schema field. So
    this test sends the exact request Continue's HttpContextProvider makes from the generated
    config's provider entry (see continue_http_request): accepted with the key, 401 without it
    or with a wrong one."""
    if _installed_version(CN_DIR) == CN_VERSION:  # the claim above, checked where cn is here
        bundle = (CN_DIR / "node_modules/@continuedev/cli/dist/index.js").read_text("utf-8")
        assert "getContextItems" not in bundle, "cn calls context providers now: drive it"
    key = "sk-lore-" + secrets.token_urlsafe(16)
    monkeypatch.setenv("INKWELL_API_KEY", key)
    port = free_port()
    (empty_workspace.root / "inkwell.yaml").write_text(
        f"server:\n  port: {port}\n", encoding="utf-8"
    )
    ws = Workspace.load(empty_workspace.root)
    (ws.lore_dir / "people.md").write_text(LORE, encoding="utf-8")
    ingest(ws.lore_dir, open_store(ws.chroma_dir, ws.config.store), progress=False)
    target = tmp_path / "config.yaml"
    result = invoke("-w", str(ws.root), "--path", str(target))
    assert result.exit_code == 0, result.output
    assert key not in target.read_text(encoding="utf-8")  # referenced, resolved by Continue
    [lore] = [c for c in yaml.safe_load(target.read_text())["context"] if c["provider"] == "http"]
    params = lore["params"]
    assert params["url"] == f"http://127.0.0.1:{port}/context/lore"

    request = continue_http_request(params, "@Lore Who is Captain Dray?", str(ws.root))
    assert request.headers["authorization"] == f"Bearer {key}"
    with (
        running_proxy(ws, engine_url=scripted_upstream.url, port=port),
        httpx.Client(trust_env=False, timeout=60) as http,
    ):
        reply = http.send(request)
        assert reply.status_code == 200, reply.text
        items = reply.json()
        assert isinstance(items, list) and items
        assert all({"name", "description", "content"} <= set(item) for item in items)
        assert "Anselm Dray commands the Belfry" in " ".join(i["content"] for i in items)

        for authorization in (None, "Bearer not-the-key"):
            anonymous = continue_http_request(
                {k: v for k, v in params.items() if k != "headers"}, "@Lore Dray", str(ws.root)
            )
            if authorization:
                anonymous.headers["authorization"] = authorization
            refused = http.send(anonymous)
            assert refused.status_code == 401, refused.text
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "Dray" not in refused.text
    record("faults", "@lore request without / with a wrong proxy key", 2,
           unauthenticated_accepted=0)  # fmt: skip
