"""The finetune package's user errors (one family under Inkwell's base)."""

from __future__ import annotations

from serving.foundation.errors import InkwellError


class FinetuneError(InkwellError):
    """Training data, config or a run that cannot be used, with what to do about it."""
