"""The ways to run all-MiniLM-L6-v2 on a CPU, behind one interface: sentence-transformers on
torch (the reference), onnxruntime on the ONNX export (fp32 or int8), and a model2vec static
model distilled from the same weights.

Each backend has a fingerprint that an index records; vectors of two backends are never
mixed (the int8 model's vectors are close to, not equal to, the fp32 ones; model2vec's live in
another space), so a changed backend is a re-index. The torch fingerprint is the bare model
name, which is what indexes recorded before there was a choice."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from rag.config import EmbeddingBackend as Backend
from rag.model_build import MODEL_NAME, build_name, built, model_dir

BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8", "model2vec")
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on at most 256 word pieces


@functools.cache
def fingerprint(backend: Backend) -> str:
    return MODEL_NAME if backend == "torch" else build_name(backend)


def backend_of(fingerprint_text: str) -> Backend | None:
    """The backend that made an index, if this installation can still run it."""
    for backend in BACKENDS:
        if fingerprint(backend) == fingerprint_text:
            return backend
    return None


class Encoder(Protocol):
    dimensions: int
    # Queries that may encode at once, each on its own thread (1: one at a time, and queries
    # that arrive meanwhile are batched into the next call).
    lanes: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text. Callers run at most `lanes` at once."""
        ...


class TorchEncoder:
    def __init__(self, threads: int | None) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_dir()), local_files_only=True)
        self.dimensions = 384
        self.threads = threads
        self.lanes = 1

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            vectors = self.model.encode(
                list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False
            )
        finally:
            torch.set_num_threads(before)
        return np.asarray(vectors, dtype=np.float32)


def _session(path: Path, threads: int) -> Any:
    """An onnxruntime CPU session on `threads` threads (0: every core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """onnxruntime on the exported graph (pooling and normalisation are inside it); the fast
    tokenizer is the packaged tokenizer.json."""

    def __init__(self, backend: Backend, threads: int | None) -> None:
        from tokenizers import Tokenizer

        folder = built(backend)
        self.session = _session(folder / "model.onnx", threads or 0)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        self.dimensions = 384
        # Dynamic quantization scales activations per call, so in a batch a text's vector
        # would depend on its batch-mates: the int8 model runs one text per call (as fast on
        # one core, and no padding). Sessions and tokenizers are safe to share across
        # threads, so under load its queries run side by side, one per core, instead of
        # queueing behind one another.
        self.batch = 1 if backend == "onnx-int8" else 32
        # A lone query gains nothing from a second thread: measured on a 2-core Xeon, one
        # thread encodes a short query in 1.6 ms p50 against 2.2 ms on two (2.7 ms of CPU),
        # and a 150-word one in 18 ms either way.
        self.lanes = len(os.sched_getaffinity(0)) if self.batch == 1 and threads == 1 else 1

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), self.batch):
            encoded = self.tokenizer.encode_batch(list(texts[start : start + self.batch]))
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            (vectors,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            parts.append(vectors)
        return np.asarray(np.concatenate(parts), dtype=np.float32)


class Model2VecEncoder:
    def __init__(self) -> None:
        from model2vec import StaticModel

        self.model = StaticModel.from_pretrained(str(built("model2vec")))
        self.dimensions = int(self.model.dim)
        self.lanes = 1

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(self.model.encode(list(texts), show_progress_bar=False), np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


_lock = threading.Lock()
_encoders: dict[tuple[Backend, str], Encoder] = {}


def encoder(backend: Backend, purpose: Literal["query", "documents"]) -> Encoder:
    """The process-wide encoder for a backend and purpose. Queries run on one thread (a single
    short text gains nothing from two, and on a busy 2-core machine two threads wait on each
    other); document batches use every core."""
    key = (backend, purpose)
    found = _encoders.get(key)
    if found is None:
        with _lock:
            found = _encoders.get(key)
            if found is None:
                threads = 1 if purpose == "query" else None
                if backend == "torch":
                    found = TorchEncoder(threads)
                elif backend == "model2vec":
                    found = Model2VecEncoder()
                else:
                    found = OnnxEncoder(backend, threads)
                _encoders[key] = found
    return found
