"""Continue.dev configuration for an Inkwell workspace: build it, merge it into the user's."""

from serving.continue_config.build import (
    AUTOCOMPLETE_MODEL,
    BASE_MODEL,
    LIVE_MODEL,
    LORE_TITLE,
    KeyChoice,
    build_continue_config,
    proxy_base_url,
)
from serving.continue_config.install import (
    DEFAULT_CONFIG_PATH,
    InstallResult,
    install_config,
    render_merged,
)
from serving.continue_config.merge import ContinueConfigError

__all__ = [
    "AUTOCOMPLETE_MODEL",
    "BASE_MODEL",
    "DEFAULT_CONFIG_PATH",
    "LIVE_MODEL",
    "LORE_TITLE",
    "ContinueConfigError",
    "InstallResult",
    "KeyChoice",
    "build_continue_config",
    "install_config",
    "proxy_base_url",
    "render_merged",
]
