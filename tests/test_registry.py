"""The adapter registry without an engine: what the proxy and the CLI rely on when they read
and change `.inkwell/registry.json`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from serving.foundation.errors import WorkspaceError
from serving.foundation.workspace import Workspace
from serving.registry import AdapterRecord, Registry, RegistryError


def record(name: str, digest: str = "d0") -> AdapterRecord:
    return AdapterRecord(
        name=name, path=f".inkwell/adapters/{name}", base_model="smollm2-135m",
        manifest_digest=digest,
    )  # fmt: skip


@pytest.fixture
def registry(empty_workspace: Workspace) -> Registry:
    reg = Registry(empty_workspace.registry_path)
    for name in ("a1", "a2", "a3"):
        reg.add(record(name))
    return reg


def test_promote_and_rollback_walk_the_live_history(registry: Registry) -> None:
    assert registry.live() is None
    registry.promote("a1", reason="first")
    registry.promote("a2")
    assert registry.live().name == "a2"
    assert registry.get("a1").state == "retired"
    assert registry.previous_live().name == "a1"

    assert registry.rollback().name == "a1"
    assert registry.live().name == "a1"
    assert registry.get("a2").state == "retired"
    # Rolling back the first live adapter leaves the base model answering.
    assert registry.rollback() is None
    assert registry.live() is None
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback()


def test_changes_are_visible_to_another_reader_at_once(registry: Registry) -> None:
    reader = Registry(registry.path)  # the proxy's own instance, reading per request
    assert reader.live() is None
    registry.promote("a3")
    assert reader.live().name == "a3"
    registry.set_scores("a3", {"style": 71.5})
    assert reader.get("a3").scores == {"style": 71.5}


def test_names_and_paths_cannot_leave_the_workspace(registry: Registry) -> None:
    with pytest.raises(WorkspaceError, match="invalid adapter name"):
        registry.add(record("../evil"))
    escaping = record("evil").model_copy(update={"path": "../../etc"})
    with pytest.raises(RegistryError, match="leaves"):
        registry.add(escaping)
    assert {r.name for r in registry.adapters()} == {"a1", "a2", "a3"}


def test_live_adapter_cannot_be_removed_and_reregistering_needs_same_manifest(
    registry: Registry,
) -> None:
    registry.promote("a1")
    with pytest.raises(RegistryError, match="is live"):
        registry.remove("a1")
    assert registry.add(record("a2")).name == "a2"  # same manifest: no-op
    with pytest.raises(RegistryError, match="different manifest"):
        registry.add(record("a2", digest="other"))
    registry.remove("a2")
    assert [r.name for r in registry.adapters()] == ["a1", "a3"]


def test_corrupt_registry_is_reported_with_its_path(empty_workspace: Workspace) -> None:
    path = empty_workspace.registry_path
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RegistryError, match=str(path)):
        Registry(path).adapters()


def test_kill_9_during_promotion_keeps_the_previous_live(registry: Registry) -> None:
    """A promotion killed after writing its temp file but before the rename leaves the old
    registry in place, and the lock does not outlive the dead process."""
    registry.promote("a1")
    before = registry.path.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from serving.registry import Registry
        real_fsync = os.fsync
        def slow_fsync(fd):
            real_fsync(fd)
            print("writing", flush=True)
            time.sleep(60)
        os.fsync = slow_fsync
        Registry({str(registry.path)!r}).promote("a2")
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "writing"
        leftovers = list(registry.path.parent.glob(".registry.json.*.tmp"))
        assert leftovers, "the promotion should be half way: temp file written, not renamed"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert registry.path.read_bytes() == before
    assert Registry(registry.path).live().name == "a1"
    json.loads(registry.path.read_text(encoding="utf-8"))
    # The file lock died with the process: the next promotion goes through.
    registry.promote("a2")
    assert registry.live().name == "a2"


def test_an_adapter_trained_on_another_base_is_refused_by_digest(
    empty_workspace: Workspace, base_model_path: Path
) -> None:
    """Registering reads the manifest's base-model digest: weights of another base would fail
    inside vLLM later, so the registry names both bases now and records nothing."""
    from serving.registry import hotload

    folder = empty_workspace.adapters_dir / "elsewhere"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    manifest = {"base_model": "other-base", "base_model_hash": "0" * 64}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RegistryError, match=r"'other-base' \(hash 000000000000\).*smollm2-135m"):
        hotload.record_for_run(empty_workspace, "elsewhere")
    assert Registry(empty_workspace.registry_path).adapters() == []
