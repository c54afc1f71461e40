"""The adapter registry (`.inkwell/registry.json`) and hot-loading through the engine."""

from serving.registry.store import AdapterRecord, LiveEntry, Registry, RegistryError

__all__ = ["AdapterRecord", "LiveEntry", "Registry", "RegistryError"]
