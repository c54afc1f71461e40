"""Shared pytest setup: offline everything, and the fixtures every suite relies on."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

pytest_plugins = [
    "tests.fixtures.workspace",
    "tests.fixtures.upstream",
    "tests.fixtures.engine",
]


def pytest_collection_modifyitems(items):
    """Tests on the real vLLM engine run last: the session-scoped engine then starts late and
    is stopped at once, instead of idling beside every other suite on a 2-core machine."""
    items.sort(key=lambda item: item.get_closest_marker("engine") is not None)
