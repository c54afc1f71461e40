"""`inkwell prepare | train | merge`."""

from __future__ import annotations


def prepare() -> None:
    raise NotImplementedError


def train() -> None:
    raise NotImplementedError


def merge() -> None:
    raise NotImplementedError
