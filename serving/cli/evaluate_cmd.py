"""`inkwell evaluate | gate`."""

from __future__ import annotations


def evaluate() -> None:
    raise NotImplementedError


def gate() -> None:
    raise NotImplementedError
