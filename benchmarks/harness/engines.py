"""The engine for a benchmark: the one given by URL, or vLLM started for the workspace the
way `inkwell engine start` does it (serving's own start, adapters reloaded), stopped after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def engine_for(ws: Any, engine_url: str | None = None, **options: Any) -> Iterator[str]:
    """Yield the engine's OpenAI base URL for the block."""
    if engine_url:
        yield engine_url
        return
    from serving.engine.service import stop_engine
    from serving.registry.hotload import start_with_adapters

    state, problems = start_with_adapters(ws, **options)
    if problems:
        print("adapters that did not load:", *problems, sep="\n  ")
    try:
        yield state.url
    finally:
        stop_engine(ws)
