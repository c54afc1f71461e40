"""Shared pytest setup: offline everything, and the fixtures every suite relies on."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# Caches worth sharing with the developer's Inkwell cache (rebuilding them costs minutes).
SHARED_CACHES = ("models", "model-hashes", "style")


def _private_inkwell_cache() -> None:
    """The suite gets its own Inkwell cache, so its few-step training runs (in process and
    `inkwell train` subprocesses alike) do not leave their speeds in the developer's speed
    log, from which the next real `inkwell train` would estimate. The converted base model
    and other built caches are shared through links. A cache the caller chose is kept."""
    from finetune.base_model import cache_dir

    if os.environ.get("INKWELL_CACHE_DIR"):
        return
    real = cache_dir()
    private = Path(tempfile.mkdtemp(prefix="inkwell-test-cache-"))
    for name in SHARED_CACHES:
        (real / name).mkdir(parents=True, exist_ok=True)
        (private / name).symlink_to(real / name, target_is_directory=True)
    os.environ["INKWELL_CACHE_DIR"] = str(private)
    atexit.register(shutil.rmtree, private, ignore_errors=True)


_private_inkwell_cache()

pytest_plugins = [
    "tests.fixtures.workspace",
    "tests.fixtures.upstream",
    "tests.fixtures.engine",
]


def pytest_collection_modifyitems(items):
    """Tests on the real vLLM engine run last: the session-scoped engine then starts late and
    is stopped at once, instead of idling beside every other suite on a 2-core machine."""
    items.sort(key=lambda item: item.get_closest_marker("engine") is not None)
