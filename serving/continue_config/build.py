"""The Continue.dev `config.yaml` (schema v1) that points Continue at a workspace's proxy.

Everything goes through the proxy, so chat, edit, apply and autocomplete all get the book's
lore and the live adapter. The API key is written as a reference, never as the secret itself:
Continue resolves `${{ secrets.NAME }}` in a local config from `~/.continue/.env`,
`<workspace>/.continue/.env` or `<workspace>/.env` (VS Code extension) and from the process
environment first (the `cn` CLI), so the file stays safe to share.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from serving.foundation.errors import InkwellError
from serving.foundation.workspace import Workspace


class ContinueConfigError(InkwellError):
    """A Continue config we cannot write or merge into; the message names the file or key."""


# Our entries are recognised by these names when merging; the user's own entries never match.
LIVE_MODEL = "Inkwell live"
BASE_MODEL = "Inkwell base"
AUTOCOMPLETE_MODEL = "Inkwell autocomplete"
OUR_MODEL_NAMES = (LIVE_MODEL, BASE_MODEL, AUTOCOMPLETE_MODEL)
LORE_TITLE = "lore"
CONFIG_VERSION = "0.1.0"


@dataclass(frozen=True)
class KeyChoice:
    """How the proxy's API key appears in the config: absent, referenced, or (asked for) inline."""

    env_var: str
    value: str | None
    inline: bool = False

    @classmethod
    def from_environment(cls, env_var: str, inline: bool = False) -> KeyChoice:
        value = os.environ.get(env_var) or None
        if inline and value is None:
            raise ContinueConfigError(
                f"--inline-key needs the API key in the environment variable {env_var}, "
                "which is not set"
            )
        return cls(env_var=env_var, value=value, inline=inline)

    def rendered(self) -> str | None:
        if self.value is None:
            return None
        return self.value if self.inline else f"${{{{ secrets.{self.env_var} }}}}"


def proxy_base_url(ws: Workspace) -> str:
    """The proxy as the editor on this machine reaches it (a wildcard bind means loopback)."""
    host = ws.config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{ws.config.server.port}"


def build_continue_config(ws: Workspace, key: KeyChoice) -> dict[str, Any]:
    """Our part of Continue's config: three models and the @lore context provider."""
    base = proxy_base_url(ws)
    api_key = key.rendered()
    context_length = ws.config.engine.max_model_len

    def chat_model(name: str, model: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": name,
            "provider": "openai",
            "model": model,
            "apiBase": f"{base}/v1",
        }
        if api_key:
            entry["apiKey"] = api_key
        # Continue's config.yaml reads the context length only here (packages/config-yaml,
        # completionOptionsSchema); at model level it is ignored and Continue assumes its own
        # default, which can overflow the engine's max_model_len.
        entry["defaultCompletionOptions"] = {"contextLength": context_length}
        entry["roles"] = ["chat", "edit", "apply"]
        return entry

    autocomplete = chat_model(AUTOCOMPLETE_MODEL, "inkwell-live")
    autocomplete["roles"] = ["autocomplete"]
    # Tab-autocomplete goes to /v1/completions (the proxy adds a short lore prefix there).
    autocomplete["useLegacyCompletionsEndpoint"] = True
    # The author's adapters are not fill-in-the-middle models: continue the text before the
    # cursor instead of wrapping it in FIM tokens the model never saw.
    autocomplete["promptTemplates"] = {"autocomplete": "{{{prefix}}}"}

    lore_params: dict[str, Any] = {
        "url": f"{base}/context/lore",
        "title": LORE_TITLE,
        "displayTitle": "Lore",
        "description": "Story-bible entries that match your text (Inkwell)",
    }
    if api_key:
        lore_params["headers"] = {"Authorization": f"Bearer {api_key}"}

    return {
        "name": f"Inkwell ({ws.root.name})",
        "version": CONFIG_VERSION,
        "schema": "v1",
        "models": [
            chat_model(LIVE_MODEL, "inkwell-live"),
            chat_model(BASE_MODEL, "base"),
            autocomplete,
        ],
        "context": [{"provider": "http", "params": lore_params}],
    }
