"""One digest for what an adapter is: its manifest, its peft config and its weights. Taken at
registration and checked before every load, so a corrupted or swapped adapter is refused with
a clear message instead of being served."""

from __future__ import annotations

import hashlib
from pathlib import Path

# What vLLM reads from an adapter folder, plus the manifest that says what it is.
DIGESTED = ("manifest.json", "adapter_config.json")
WEIGHT_PATTERNS = ("adapter_model*.safetensors", "adapter_model*.bin")
CHUNK = 1 << 20


def adapter_files(folder: Path) -> list[Path]:
    weights = sorted({p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)})
    return [folder / name for name in DIGESTED if (folder / name).is_file()] + weights


def adapter_digest(folder: Path) -> str:
    """sha256 over (name, size, content) of each file, in a fixed order."""
    total = hashlib.sha256()
    for path in adapter_files(folder):
        total.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            while block := handle.read(CHUNK):
                total.update(block)
    return total.hexdigest()
