"""Continuations an evaluation already paid for, kept in the run folder
(evaluation/generations.jsonl, one JSON line each, appended and synced as they arrive), so a
killed evaluation resumes where it stopped instead of generating everything again."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from serving.evaluation.generation import run_parallel

Job = TypeVar("Job")

CACHE_FILE = "generations.jsonl"


def generation_key(model: str, messages: list[dict[str, Any]], seed: int, sampling: Any) -> str:
    """Everything that decides the text: the served model, the prompt, the seed, the sampling."""
    identity = {
        "model": model,
        "messages": messages,
        "seed": seed,
        "sampling": [sampling.max_tokens, sampling.temperature, sampling.top_p],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class GenerationCache:
    def __init__(self, folder: Path) -> None:
        self.path = folder / CACHE_FILE
        self._lock = threading.Lock()
        self.texts = self._read()

    def _read(self) -> dict[str, str]:
        """Every complete line; a line cut by a kill is ignored (its text is generated again)."""
        texts: dict[str, str] = {}
        if not self.path.is_file():
            return texts
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):  # cut by a kill: new lines must not join it
            with self.path.open("ab") as out:
                out.write(b"\n")
        for line in data.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                texts[record["key"]] = record["text"]
            except (ValueError, KeyError, TypeError):
                continue
        return texts

    def add(self, key: str, text: str) -> None:
        line = json.dumps({"key": key, "text": text}, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
            self.texts[key] = text

    def texts_for(
        self,
        jobs: Sequence[Job],
        key: Callable[[Job], str],
        generate: Callable[[Job], str],
        *,
        workers: int,
        desc: str,
        progress: bool,
    ) -> list[str]:
        """The text of every job, in job order: kept ones are read, the others generated
        (`workers` requests in flight) and kept as each arrives."""

        keys = [key(job) for job in jobs]  # hashes whole prompts: once per job

        def work(item: tuple[Job, str]) -> None:
            job, k = item
            self.add(k, generate(job))

        todo = [(job, k) for job, k in zip(jobs, keys, strict=True) if k not in self.texts]
        run_parallel(todo, work, workers=workers, desc=desc, progress=progress)
        return [self.texts[k] for k in keys]
