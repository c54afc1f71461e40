"""The rag package's user errors. rag/ imports nothing of Inkwell's, so its base stands
alone; the CLI treats it like InkwellError."""

from __future__ import annotations


class LoreError(ValueError):
    """A lore file, store or setting that cannot be used; the message names it."""
