"""Which base model a workspace serves, checked before any training: an adapter trained on
another base could never be loaded by the workspace's engine."""

from __future__ import annotations

from finetune.base_model import base_model_hash, ensure_base_model
from finetune.errors import FinetuneError
from serving.foundation.workspace import Workspace


def served_base_hash(ws: Workspace) -> str | None:
    """The digest of the base model the engine serves (adapter manifests record the same
    digest of the base they were trained on); None for a hub id not on this disk."""
    return base_model_hash(ensure_base_model(ws.config.engine.base_model))


def check_training_base(ws: Workspace, training_base: str) -> None:
    """Refuse a run on another base model than the one this workspace serves."""
    serving = ws.config.engine.base_model
    if training_base == serving:
        return
    trained = base_model_hash(ensure_base_model(training_base))
    if trained is not None and trained == served_base_hash(ws):
        return  # the same weights under two names (an alias and its folder)
    raise FinetuneError(
        f"the training config's base_model is {training_base!r}, but this workspace serves "
        f"{serving!r} (engine.base_model in {ws.root / 'inkwell.yaml'}); an adapter "
        f"trained on one cannot be loaded on the other. Pass --set base_model={serving} "
        "or change engine.base_model"
    )
