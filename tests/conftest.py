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
