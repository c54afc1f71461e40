"""Registry operations that touch the running engine: load, unload, remove, promote, rollback,
and re-loading the registered adapters after an engine start.

The rule everywhere: the engine acts first, the registry is written only when the engine
agreed, so a failed load changes nothing in the registry; and every read-decide-write holds
the registry's lock from the read to the write, engine calls included, so two processes (a
gate and a rollback, say) cannot leave live an adapter the engine does not serve. Without a
running engine, promotion and rollback change the registry alone; the engine loads the live
adapter when it starts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from finetune.workspace_base import served_base_hash
from serving.engine.client import AdapterLoadError, EngineClient
from serving.engine.service import EngineState, engine_client, start_engine
from serving.foundation.names import validate_name
from serving.foundation.workspace import Workspace
from serving.registry.digest import adapter_digest
from serving.registry.store import AdapterRecord, Registry, RegistryError

MANIFEST = "manifest.json"


def registry_for(ws: Workspace) -> Registry:
    return Registry(ws.registry_path, workspace_root=ws.root)


def adapter_dir(ws: Workspace, name: str) -> Path:
    """`.inkwell/adapters/<name>/`, with the name validated and the path confined."""
    validate_name(name, "adapter name")
    return ws.inside(Path(ws.adapters_dir.relative_to(ws.root)) / name)


def record_for_run(ws: Workspace, name: str) -> AdapterRecord:
    """A registry record for a trained run, read from its manifest; refuses an adapter trained
    on another base model than the one this workspace serves."""
    folder = adapter_dir(ws, name)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise RegistryError(
            f"{folder}: no {MANIFEST}; is {name!r} a finished training run? "
            f"(runs live in {ws.adapters_dir})"
        )
    if not (folder / "adapter_config.json").is_file():
        raise RegistryError(f"{folder}: no adapter_config.json (not a LoRA adapter folder)")
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{manifest_path}: invalid JSON at line {exc.lineno}") from exc
    _check_base_model(ws, manifest, manifest_path)
    return AdapterRecord(
        name=name,
        path=str(folder.relative_to(ws.root)),
        base_model=str(
            manifest.get("base_model_name")
            or manifest.get("base_model")
            or ws.config.engine.base_model
        ),
        manifest_digest=hashlib.sha256(raw).hexdigest(),
        weights_digest=adapter_digest(folder),
    )


def _check_base_model(ws: Workspace, manifest: dict, manifest_path: Path) -> None:
    trained_on = manifest.get("base_model_hash")
    if not trained_on:
        return
    serving = served_base_hash(ws)
    if serving and serving != trained_on:
        raise RegistryError(
            f"{manifest_path}: adapter trained on base model {manifest.get('base_model')!r} "
            f"(hash {trained_on[:12]}), but this workspace serves "
            f"{ws.config.engine.base_model!r} (hash {serving[:12]})"
        )


def ensure_loaded(client: EngineClient, registry: Registry, record: AdapterRecord) -> None:
    """Load the adapter into the engine unless it is already there from the same folder."""
    path = str(registry.adapter_path(record))
    loaded = client.loaded_adapters()
    if record.name in loaded:
        if loaded[record.name] == path:
            return
        raise AdapterLoadError(
            f"the engine already serves an adapter named {record.name!r} from "
            f"{loaded[record.name]}, not {path}; unload it first"
        )
    if not Path(path).is_dir():
        raise AdapterLoadError(f"adapter {record.name!r}: folder {path} is missing")
    verify_digest(record, Path(path))
    client.load_adapter(record.name, path)


def verify_digest(record: AdapterRecord, folder: Path) -> None:
    """Refuse an adapter whose files changed since it was registered (corrupted or swapped)."""
    if record.weights_digest is None:
        return
    found = adapter_digest(folder)
    if found != record.weights_digest:
        raise AdapterLoadError(
            f"adapter {record.name!r} in {folder} is not the adapter that was registered: its "
            f"weights, config or manifest changed (sha256 {found[:12]}, registered "
            f"{record.weights_digest[:12]}); it is corrupted or was replaced, so it is not "
            "loaded. Train it again, or remove it and load the folder as a new adapter"
        )


def load(ws: Workspace, client: EngineClient, name: str) -> AdapterRecord:
    """Hot-load a run into the engine and register it (as a candidate if it is new)."""
    registry = registry_for(ws)
    with registry.locked():
        known = {record.name: record for record in registry.adapters()}
        record = known.get(name) or record_for_run(ws, name)
        ensure_loaded(client, registry, record)
        return registry.add(record) if name not in known else record


def unload(ws: Workspace, client: EngineClient, name: str) -> None:
    """Take an adapter out of the engine; the live one stays (the proxy serves it)."""
    registry = registry_for(ws)
    with registry.locked():
        live = registry.live()
        if live is not None and live.name == name:
            raise RegistryError(f"adapter {name!r} is live; promote another one or roll back first")
        client.unload_adapter(name)


def remove(ws: Workspace, client: EngineClient | None, name: str) -> AdapterRecord:
    """Forget an adapter (its files stay on disk), unloading it first when an engine runs."""
    registry = registry_for(ws)
    with registry.locked():
        record = registry.get(name)
        live = registry.live()
        if live is not None and live.name == name:
            raise RegistryError(f"adapter {name!r} is live; promote another one or roll back first")
        if client is not None and name in client.loaded_adapters():
            client.unload_adapter(name)
        return registry.remove(record.name)


def promote(
    ws: Workspace, client: EngineClient | None, name: str, reason: str = ""
) -> AdapterRecord | None:
    """Make an adapter live (loaded first when an engine runs). Returns the previous live."""
    registry = registry_for(ws)
    with registry.locked():
        record = registry.get(name)
        if client is not None:
            ensure_loaded(client, registry, record)
        return registry.promote(name, reason=reason)


def rollback(ws: Workspace, client: EngineClient | None) -> AdapterRecord | None:
    """Restore the previous live adapter (None: the base model). Returns the new live."""
    registry = registry_for(ws)
    with registry.locked():
        previous = registry.previous_live()
        if client is not None and previous is not None:
            ensure_loaded(client, registry, previous)
        return registry.rollback()


def reload_registered(ws: Workspace, client: EngineClient) -> list[str]:
    """After an engine start: load the live and candidate adapters again. Returns one line per
    adapter that could not be loaded (the others still load)."""
    registry = registry_for(ws)
    problems = []
    with registry.locked():
        for record in registry.adapters():
            if record.state == "retired":
                continue
            try:
                ensure_loaded(client, registry, record)
            except (AdapterLoadError, RegistryError) as exc:
                problems.append(f"{record.name}: {exc}")
    return problems


def start_with_adapters(ws: Workspace, **options) -> tuple[EngineState, list[str]]:
    """Start the workspace's engine and load the live and candidate adapters again. Returns
    the state and one line per adapter that failed to load."""
    state = start_engine(ws, **options)
    with engine_client(ws, state.url) as client:
        return state, reload_registered(ws, client)
