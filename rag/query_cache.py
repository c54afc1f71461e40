"""Query vectors already computed, kept by a hash of (model fingerprint, text): a writer's
editor resends the same conversation turn after turn, and the same text under the same model
always embeds to the same vector."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np


class QueryCache:
    """A thread-safe LRU of read-only vectors."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(fingerprint: str, text: str) -> str:
        return hashlib.blake2b(f"{fingerprint}\n{text}".encode(), digest_size=16).hexdigest()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, key: str, vector: np.ndarray) -> np.ndarray:
        vector = np.array(vector, dtype=np.float32)
        vector.setflags(write=False)  # shared by every caller: nobody may change it
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return vector

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0
